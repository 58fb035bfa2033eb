"""A provider's statement (SPEC §7): every credit it made on one JST business day, as UTF-8 CSV
with the header `receipt_id,points,credited_at,provider_reference`.

`StatementReader` takes the file in pieces as they arrive and hands back parsed rows, so a
statement of a million rows never sits in memory whole; it counts the records and points (to
compare with what the provider declared), hashes the exact bytes (a statement is idempotent by
content) and keeps the first problems by line (line 1 is the header).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

HEADER = ("receipt_id", "points", "credited_at", "provider_reference")
RECEIPT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$")
REFERENCE_MAX = 128
POINTS_MAX = 10**9
PROBLEMS_KEPT = 100  # the first ones, by line; the count says how many there were


@dataclass(frozen=True)
class Problem:
    line: int
    field: str
    message: str


@dataclass(frozen=True)
class Row:
    line: int
    receipt_id: str
    points: int
    credited_at: datetime
    provider_reference: str | None


def parse_row(line: int, cells: list[str]) -> Row | list[Problem]:
    """One data row, or every problem it has."""
    if len(cells) != len(HEADER):
        return [Problem(line, "row", f"expected {len(HEADER)} fields, found {len(cells)}")]
    receipt_id, points_text, credited_text, reference = (c.strip() for c in cells)
    problems = []
    if not RECEIPT_ID.match(receipt_id):
        problems.append(Problem(line, "receipt_id", "missing or not a receipt ID"))
    points = 0
    if not points_text.isascii() or not points_text.isdigit():
        problems.append(Problem(line, "points", "must be a whole number of points"))
    else:
        points = int(points_text)
        if not 0 < points <= POINTS_MAX:
            problems.append(Problem(line, "points", f"must be between 1 and {POINTS_MAX}"))
    credited_at = None
    try:
        credited_at = datetime.fromisoformat(credited_text)
    except ValueError:
        problems.append(Problem(line, "credited_at", "must be an ISO 8601 date and time"))
    if credited_at is not None and credited_at.tzinfo is None:
        problems.append(Problem(line, "credited_at", "must carry its UTC offset (+09:00)"))
    if len(reference) > REFERENCE_MAX:
        problems.append(
            Problem(line, "provider_reference", f"longer than {REFERENCE_MAX} characters")
        )
    if problems:
        return problems
    assert credited_at is not None
    return Row(line, receipt_id, points, credited_at, reference or None)


@dataclass
class StatementReader:
    """Parse a statement piece by piece: `feed` bytes as they come, then `finish`."""

    records: int = 0
    total_points: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    _digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8-sig")()
    )
    _pending: str = ""
    _lines_done: int = 0
    _header_seen: bool = False

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def problem(self, found: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(found)

    def feed(self, data: bytes) -> list[Row]:
        self._digest.update(data)
        try:
            text = self._decoder.decode(data)
        except UnicodeDecodeError:
            self._not_utf8()
            return []
        return self._rows(text, final=False)

    def finish(self) -> list[Row]:
        try:
            text = self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            self._not_utf8()
            return []
        rows = self._rows(text, final=True)
        if not self._header_seen:
            self.problem(Problem(1, "header", f"the header row must be {','.join(HEADER)}"))
        return rows

    def _not_utf8(self) -> None:
        if not any(p.field == "encoding" for p in self.problems):
            self.problem(Problem(self._lines_done + 1, "encoding", "the file is not UTF-8"))
        self._pending = ""

    def _rows(self, text: str, *, final: bool) -> list[Row]:
        """Whole records only: a quoted field may hold a line break, so text is cut where the
        quotes balance."""
        if self.problems and self.problems[0].field == "encoding":
            return []
        self._pending += text
        if final:
            chunk, self._pending = self._pending, ""
        else:
            cut = self._pending.rfind("\n")
            if cut < 0:
                return []
            chunk = self._pending[: cut + 1]
            if chunk.count('"') % 2:
                return []  # inside a quoted field: wait for more
            self._pending = self._pending[cut + 1 :]
        if not chunk:
            return []
        rows: list[Row] = []
        reader = csv.reader(chunk.splitlines(keepends=True))
        base = self._lines_done
        try:
            for cells in reader:
                line = base + reader.line_num
                if not self._header_seen:
                    self._header_seen = True
                    if tuple(c.strip() for c in cells) != HEADER:
                        self.problem(
                            Problem(line, "header", f"the header row must be {','.join(HEADER)}")
                        )
                    continue
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue  # a blank line
                parsed = parse_row(line, cells)
                if isinstance(parsed, Row):
                    self.records += 1
                    self.total_points += parsed.points
                    rows.append(parsed)
                else:
                    self.records += 1
                    for found in parsed:
                        self.problem(found)
        except csv.Error as error:
            self.problem(Problem(base + reader.line_num, "row", f"not valid CSV: {error}"))
        self._lines_done = base + chunk.count("\n") + (0 if chunk.endswith("\n") else 1)
        return rows
