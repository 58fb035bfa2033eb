"""SPEC §6: a valid My Number in any spelling is found, refused in every free-text field of the
API with 422 `contains_my_number`, and never reaches a log line."""

from __future__ import annotations

import io
import json
import logging
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.free_text import FREE_TEXT_MARK
from domain.errors import RuleViolation
from domain.identifiers import (
    contains_my_number,
    find_my_numbers,
    my_number_check_digit,
    redact_my_numbers,
)
from domain.privacy import refuse_my_numbers
from hub.logs import JsonFormatter, RedactingFormatter
from tests.api.routes import ROUTES
from tests.api.test_authorization_matrix import MISSING
from tests.support.stack import Hub

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
SEPARATORS = ["", " ", "-", "－", "ー", "‐", "　", "  "]
PROSE = {"title", "description", "note", "reason", "label", "name", "comment", "message"}


@st.composite
def my_numbers(draw: st.DrawFn) -> str:
    first = "".join(str(d) for d in draw(st.lists(st.integers(0, 9), min_size=11, max_size=11)))
    return first + str(my_number_check_digit(first))


@st.composite
def spellings(draw: st.DrawFn, number: str) -> str:
    """The number as a person might type it: full-width or not, grouped by spaces or hyphens."""
    digits = number.translate(FULL_WIDTH) if draw(st.booleans()) else number
    out = digits[0]
    for digit in digits[1:]:
        out += draw(st.sampled_from(SEPARATORS)) + digit
    return out


prose = st.text(st.characters(categories=["L", "P", "Zs"]), max_size=20)


@given(data=st.data(), number=my_numbers(), before=prose, after=prose)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_a_my_number_is_found_in_any_spelling(
    data: st.DataObject, number: str, before: str, after: str
) -> None:
    spelled = data.draw(spellings(number))
    text = f"{before} {spelled} {after}"
    assert number in find_my_numbers(text)
    assert contains_my_number(text)
    with pytest.raises(RuleViolation) as refused:
        refuse_my_numbers(note=text)
    assert (refused.value.code, refused.value.status) == ("contains_my_number", 422)
    assert not contains_my_number(redact_my_numbers(text))


@given(number=my_numbers(), wrong=st.integers(1, 9), before=prose, after=prose)
def test_a_wrong_check_digit_is_not_a_my_number(
    number: str, wrong: int, before: str, after: str
) -> None:
    altered = number[:11] + str((int(number[11]) + wrong) % 10)
    assert not contains_my_number(f"{before} {altered} {after}")
    refuse_my_numbers(note=f"{before} {altered} {after}")  # no refusal


@given(number=my_numbers(), spacing=st.sampled_from(SEPARATORS))
def test_log_lines_never_carry_one(number: str, spacing: str) -> None:
    spelled = spacing.join([number[:4], number[4:8], number[8:]])
    logger = logging.getLogger(f"test.redaction.{spacing!r}")
    for formatter in (JsonFormatter("test"), RedactingFormatter("%(message)s")):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        logger.propagate = False
        try:
            raise ValueError(f"card {spelled}")
        except ValueError:
            logger.exception("resident %s called", spelled, extra={"note": spelled})
        finally:
            logger.removeHandler(handler)
        written = stream.getvalue()
        assert "[redacted]" in written
        assert not contains_my_number(written)
        if isinstance(formatter, JsonFormatter):
            assert json.loads(written)["note"] == "[redacted]"


def free_text_fields(schema: dict[str, Any]) -> dict[tuple[str, str], list[tuple[str, bool]]]:
    """For each operation with a JSON body: its prose-like string fields, marked or not."""
    components = schema["components"]["schemas"]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = components[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def marked(node: dict[str, Any]) -> bool:
        node = resolve(node)
        return bool(node.get(FREE_TEXT_MARK)) or any(
            marked(n) for n in node.get("anyOf", []) if n.get("type") != "null"
        )

    found: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema")
            if body is None:
                continue
            properties = resolve(body).get("properties", {})
            fields = [
                (name, marked(node))
                for name, node in properties.items()
                if marked(node) or name in PROSE or name.endswith("_note")
            ]
            if fields:
                found[(method.upper(), path)] = fields
    return found


async def test_every_free_text_field_refuses_a_my_number(hub: Hub) -> None:
    from api.app import create_app
    from tests.api.roles import HOME, every_caller

    fields = free_text_fields(create_app(hub.settings).openapi())
    unmarked = [(r, name) for r, names in fields.items() for name, ok in names if not ok]
    assert unmarked == [], "prose fields must be declared FreeText (api/free_text.py)"
    assert len(fields) >= 8

    callers = await every_caller(hub)
    params = {"code": HOME, "provider_id": callers.provider_id, **MISSING}
    spelled = "１２３４－５６７８－９０１８"  # a valid My Number, full width, hyphenated
    for (method, path), names in fields.items():
        headers = callers.headers[ROUTES[(method, path)].role]
        for name, _ in names:
            response = await hub.http.request(
                method, path.format(**params), json={name: f"連絡先 {spelled}"}, headers=headers
            )
            assert response.status_code == 422, (method, path, name, response.text)
            problem = response.json()
            assert problem["code"] == "contains_my_number", (method, path, name, problem)
            assert "5678" not in response.text


def test_logging_configuration_leaves_no_handler_around_the_redaction() -> None:
    from hub.logs import configure_logging

    library = logging.getLogger("some.library")
    library.addHandler(logging.StreamHandler(sys.stdout))
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        configure_logging("test")
        assert library.handlers == [] and library.propagate
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
        logging.captureWarnings(False)
