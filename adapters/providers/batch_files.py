"""The batch file format (SPEC §5), shared by the `batch_file` adapter and the simulator.

Each file is UTF-8 CSV with a header row, and comes with a JSON manifest naming it, counting its
records, summing its points and giving its SHA-256. A file is written under a temporary name and
renamed, the CSV before its manifest, so a reader that waits for the manifest never sees half a
file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.providers.contract import REFERENCE_MAX

REQUEST_HEADER = ("receipt_id", "account_id", "points", "measure_id", "municipality_code")
RESULT_HEADER = ("receipt_id", "status", "reason", "provider_reference")
RESULT_STATUSES = frozenset({"credited", "rejected"})
MANIFEST_SUFFIX = ".manifest.json"
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,190}$")
MAX_FIELD = 200


class BatchFileError(Exception):
    """A file or its manifest is not acceptable; the whole file is refused."""


@dataclass(frozen=True)
class Manifest:
    file_name: str
    record_count: int
    total_points: int
    sha256: str

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "file_name": self.file_name,
                "record_count": self.record_count,
                "total_points": self.total_points,
                "sha256": self.sha256,
            },
            indent=2,
        ).encode()


@dataclass(frozen=True)
class RequestRow:
    receipt_id: str
    account_id: str
    points: int
    measure_id: str
    municipality_code: str


@dataclass(frozen=True)
class ResultRow:
    receipt_id: str
    status: str  # credited | rejected
    reason: str | None
    provider_reference: str | None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a hidden temporary name in the same directory, flush it to disk, then rename."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def render_requests(rows: Sequence[RequestRow]) -> bytes:
    return _csv(
        REQUEST_HEADER,
        ((r.receipt_id, r.account_id, r.points, r.measure_id, r.municipality_code) for r in rows),
    )


def render_results(rows: Sequence[ResultRow]) -> bytes:
    return _csv(
        RESULT_HEADER,
        ((r.receipt_id, r.status, r.reason or "", r.provider_reference or "") for r in rows),
    )


def write_file_pair(
    directory: Path, stem: str, data: bytes, *, records: int, points: int
) -> Manifest:
    """The CSV, then its manifest, each atomically; the manifest's arrival means "complete"."""
    manifest = Manifest(f"{stem}.csv", records, points, sha256_hex(data))
    write_atomically(directory / manifest.file_name, data)
    write_atomically(directory / f"{stem}{MANIFEST_SUFFIX}", manifest.to_json())
    return manifest


def read_manifest(path: Path) -> Manifest:
    try:
        raw: Any = json.loads(path.read_bytes())
    except (ValueError, OSError) as exc:
        raise BatchFileError(f"{path.name}: the manifest is not readable JSON") from exc
    if not isinstance(raw, dict):
        raise BatchFileError(f"{path.name}: the manifest must be a JSON object")
    file_name, count, total, digest = (
        raw.get("file_name"),
        raw.get("record_count"),
        raw.get("total_points", 0),
        raw.get("sha256"),
    )
    if not isinstance(file_name, str) or not SAFE_NAME.match(file_name):
        raise BatchFileError(f"{path.name}: file_name must be a plain file name")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise BatchFileError(f"{path.name}: record_count must be a non-negative integer")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise BatchFileError(f"{path.name}: total_points must be a non-negative integer")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise BatchFileError(f"{path.name}: sha256 must be 64 lowercase hex digits")
    return Manifest(file_name, count, total, digest)


def _rows(data: bytes, header: Sequence[str]) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BatchFileError("the file is not UTF-8") from exc
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or tuple(c.strip() for c in rows[0]) != tuple(header):
        raise BatchFileError(f"the header row must be {','.join(header)}")
    body = rows[1:]
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise BatchFileError(f"line {line}: expected {len(header)} fields, found {len(row)}")
        if any(len(field) > MAX_FIELD for field in row):
            raise BatchFileError(f"line {line}: a field is longer than {MAX_FIELD} characters")
    return body


def check_against_manifest(
    manifest: Manifest, data: bytes, records: int, points: int | None
) -> None:
    """Refuse the whole file when any figure of its manifest disagrees with the file itself."""
    if sha256_hex(data) != manifest.sha256:
        raise BatchFileError(f"{manifest.file_name}: SHA-256 does not match the manifest")
    if records != manifest.record_count:
        raise BatchFileError(
            f"{manifest.file_name}: {records} records, the manifest says {manifest.record_count}"
        )
    if points is not None and points != manifest.total_points:
        raise BatchFileError(
            f"{manifest.file_name}: {points} points, the manifest says {manifest.total_points}"
        )


def parse_requests(data: bytes) -> list[RequestRow]:
    parsed = []
    for line, row in enumerate(_rows(data, REQUEST_HEADER), start=2):
        receipt_id, account_id, points, measure_id, code = (c.strip() for c in row)
        if not receipt_id or not account_id or not points.isdigit():
            raise BatchFileError(f"line {line}: receipt_id, account_id and points are required")
        parsed.append(RequestRow(receipt_id, account_id, int(points), measure_id, code))
    return parsed


def parse_results(data: bytes) -> list[ResultRow]:
    """Every row checked before any is used; one receipt may appear once per file."""
    parsed: dict[str, ResultRow] = {}
    for line, row in enumerate(_rows(data, RESULT_HEADER), start=2):
        receipt_id, status, reason, reference = (c.strip() for c in row)
        if not receipt_id:
            raise BatchFileError(f"line {line}: receipt_id is empty")
        if status not in RESULT_STATUSES:
            raise BatchFileError(f"line {line}: status must be credited or rejected")
        if receipt_id in parsed:
            raise BatchFileError(f"line {line}: receipt {receipt_id} appears twice")
        if len(reference) > REFERENCE_MAX:
            raise BatchFileError(
                f"line {line}: provider_reference is longer than {REFERENCE_MAX} characters"
            )
        parsed[receipt_id] = ResultRow(receipt_id, status, reason or None, reference or None)
    return list(parsed.values())
