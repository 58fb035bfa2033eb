"""Software stand-ins for outside parties: the JPKI test CA and virtual cards, payment providers."""
