"""SPEC §6: free text (notes, reasons, titles, descriptions) never carries a My Number."""

from __future__ import annotations

from domain.errors import RuleViolation
from domain.identifiers import contains_my_number


def refuse_my_numbers(**texts: str | None) -> None:
    """Refuse, with 422 `contains_my_number`, the first field that holds a valid My Number."""
    for name, text in texts.items():
        if text and contains_my_number(text):
            raise RuleViolation(
                "contains_my_number", f"{name} contains what looks like a My Number", status=422
            )
