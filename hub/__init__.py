"""Composition root: settings, telemetry, the Temporal client and the processes the hub runs."""
