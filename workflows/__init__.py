"""Temporal workflows: orchestration only, deterministic, one lifecycle per module."""
