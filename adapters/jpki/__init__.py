"""JPKI: verifying My Number Card user-authentication certificates and their signatures."""
