"""Target lists (対象者リスト): the CSV a municipality uploads, checked row by row.

A list is imported whole or not at all, so every row is checked before anything is written, and
staff get every bad row with its line number in one answer rather than one error per upload.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from domain.errors import RuleViolation
from domain.identifiers import MYKEY_PATTERN

HEADER = "mykey_id"
MAX_ROWS = 100_000
MAX_REPORTED_ERRORS = 100  # enough to fix a file; the count tells how many more there are


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str
    value: str | None = None

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"line": self.line, "reason": self.reason}
        if self.value is not None:
            found["value"] = self.value
        return found


@dataclass
class TargetFile:
    """The MyKey IDs of a checked file, each with the line it came from."""

    mykey_ids: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)


def refuse(errors: list[RowError]) -> RuleViolation:
    return RuleViolation(
        "invalid_target_list",
        f"{len(errors)} row(s) of the target list are invalid; nothing was imported",
        status=422,
        error_count=len(errors),
        errors=[e.as_dict() for e in errors[:MAX_REPORTED_ERRORS]],
    )


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # Excel in Japan saves CSV with a BOM
    except UnicodeDecodeError as exc:
        raise refuse([RowError(1, "the file is not UTF-8 text")]) from exc


def parse_target_csv(data: bytes, *, max_rows: int = MAX_ROWS) -> TargetFile:
    """Read a `mykey_id` CSV. Blank lines are ignored; every other row must hold exactly one
    well-formed MyKey ID that no earlier row holds. Raises `invalid_target_list` listing the
    bad rows, or `target_list_too_large` past `max_rows`."""
    reader = csv.reader(io.StringIO(_text(data), newline=""))
    errors: list[RowError] = []
    header = next(reader, None)
    while header is not None and not any(cell.strip() for cell in header):
        header = next(reader, None)
    if header is None:
        raise refuse([RowError(1, f"the file is empty; its first line must be {HEADER}")])
    if [cell.strip().lower() for cell in header] != [HEADER]:
        errors.append(RowError(reader.line_num, f"the header must be exactly {HEADER}"))
    parsed = TargetFile()
    first_seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if len(cells) != 1:
            errors.append(RowError(line, "a row holds one MyKey ID and nothing else"))
            continue
        value = cells[0]
        if not MYKEY_PATTERN.match(value):
            errors.append(RowError(line, "not a MyKey ID (8 characters, 0-9 and A-Z)", value))
        elif value in first_seen:
            errors.append(RowError(line, f"repeats line {first_seen[value]}", value))
        else:
            first_seen[value] = line
            parsed.mykey_ids.append(value)
            parsed.lines.append(line)
        if len(first_seen) > max_rows:
            raise RuleViolation(
                "target_list_too_large",
                f"a target list upload holds at most {max_rows} rows",
                status=413,
                max_rows=max_rows,
            )
    if errors:
        raise refuse(errors)
    return parsed
