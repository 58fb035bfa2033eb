"""Test harness: databases, a Temporal server, and the hub's processes on real sockets."""
