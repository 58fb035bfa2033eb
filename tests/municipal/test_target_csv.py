"""Target list files are checked row by row: every bad row is reported with its line number."""

from __future__ import annotations

from typing import Any, cast

import pytest

from domain.errors import RuleViolation
from domain.targets import parse_target_csv


def errors_of(error: RuleViolation) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], error.extra["errors"])


def refused(data: bytes, **kwargs: int) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        parse_target_csv(data, **kwargs)
    return caught.value


def test_a_clean_file_with_bom_crlf_and_blank_lines_is_read() -> None:
    data = "\ufeffmykey_id\r\nAB12CD34\r\n\r\nZZZZ9999\r\n".encode()
    parsed = parse_target_csv(data)
    assert parsed.mykey_ids == ["AB12CD34", "ZZZZ9999"]
    assert parsed.lines == [2, 4]


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_returned() -> None:
    data = b"mykey_id\nAB12CD34\nab12cd34\nAB12CD3\nAB12CD34\nAAAA1111,extra\nBBBB2222\n"
    error = refused(data)
    assert error.code == "invalid_target_list" and error.status == 422
    assert error.extra["error_count"] == 4
    assert [(e["line"], e.get("value")) for e in errors_of(error)] == [
        (3, "ab12cd34"),
        (4, "AB12CD3"),
        (5, "AB12CD34"),
        (6, None),
    ]
    assert errors_of(error)[2]["reason"] == "repeats line 2"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty; its first line must be mykey_id"),
        (b"id\nAB12CD34\n", "the header must be exactly mykey_id"),
        (b"\xff\xfemykey_id\n", "the file is not UTF-8 text"),
    ],
)
def test_a_file_without_its_header_is_refused(data: bytes, reason: str) -> None:
    error = refused(data)
    assert errors_of(error)[0]["reason"] == reason


def test_the_reported_errors_are_capped_but_counted() -> None:
    data = b"mykey_id\n" + b"bad\n" * 500
    error = refused(data)
    assert error.extra["error_count"] == 500
    assert len(errors_of(error)) == 100


def test_more_rows_than_allowed_are_refused() -> None:
    rows = "".join(f"{i:08d}\n" for i in range(11)).encode()
    error = refused(b"mykey_id\n" + rows, max_rows=10)
    assert (error.code, error.status) == ("target_list_too_large", 413)
