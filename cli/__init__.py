"""The `mph` command."""
