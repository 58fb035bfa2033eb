"""Free text in request bodies: the My Number guard at the edge (SPEC §6).

Every field a person writes prose into (titles, descriptions, notes, reasons, labels, names)
is declared `FreeText`: a valid My Number in it (full-width digits, spaces and hyphens
included) is refused with 422 `contains_my_number` before the request does anything, whatever
else is wrong with the body. The schema marks such fields `x-free-text`, so a test can find
them all, and a new prose field that is not declared this way is noticed.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from domain.identifiers import contains_my_number

CONTAINS_MY_NUMBER = "contains_my_number"
FREE_TEXT_MARK = "x-free-text"


def _refuse_my_number(value: str) -> str:
    if contains_my_number(value):
        raise PydanticCustomError(CONTAINS_MY_NUMBER, "contains what looks like a My Number")
    return value


FreeText = Annotated[
    str, AfterValidator(_refuse_my_number), Field(json_schema_extra={FREE_TEXT_MARK: True})
]
