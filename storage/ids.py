"""Random identifiers for rows whose ID is not derived from a business key."""

from __future__ import annotations

from domain.identifiers import random_hex


def new_id(prefix: str) -> str:
    return random_hex(10, around=prefix + "_{}")
