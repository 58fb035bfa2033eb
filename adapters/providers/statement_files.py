"""Statements through a `batch_file` provider's channel (SPEC §7): `statement-YYYY-MM-DD….csv` with
its manifest (`file_name`, `record_count`, `total_points`, `sha256`, and `business_date`) in the
provider's statements directory, written CSV first then manifest, as every batch file is.

The adapter side only finds files, streams them and moves them once settled; the hub decides what
they mean (`services.statements`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from adapters.providers.batch_files import (
    MANIFEST_SUFFIX,
    BatchFileError,
    Manifest,
    read_manifest,
    write_atomically,
)

STEM = re.compile(r"^statement-(\d{4}-\d{2}-\d{2})(?:[._-][A-Za-z0-9._-]*)?$")
CHUNK = 64 * 1024


@dataclass(frozen=True)
class StatementFile:
    stem: str
    directory: Path
    manifest: Manifest | None
    business_date: date | None
    problem: str | None = None

    @property
    def path(self) -> Path | None:
        return None if self.manifest is None else self.directory / self.manifest.file_name

    def chunks(self) -> Iterator[bytes]:
        assert self.path is not None
        with open(self.path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk


def statements_dir(config: dict[str, Any]) -> Path | None:
    """`statements_dir`, or `statements` under the provider's inbox."""
    if config.get("statements_dir"):
        return Path(str(config["statements_dir"]))
    if config.get("inbox_dir"):
        return Path(str(config["inbox_dir"])) / "statements"
    return None


def _business_date(stem: str, manifest_path: Path) -> date:
    found = STEM.match(stem)
    if not found:
        raise BatchFileError(f"{stem}: a statement is named statement-YYYY-MM-DD")
    named = date.fromisoformat(found.group(1))
    raw = json.loads(manifest_path.read_bytes())
    declared = raw.get("business_date") if isinstance(raw, dict) else None
    if declared is not None and declared != named.isoformat():
        raise BatchFileError(f"{stem}: the manifest's business_date is not the file's")
    return named


def pending(directory: Path, limit: int = 10) -> list[StatementFile]:
    """Complete statements waiting in the directory, oldest name first."""
    if not directory.is_dir():
        return []
    manifests = sorted(p for p in directory.iterdir() if p.name.endswith(MANIFEST_SUFFIX))
    found = []
    for path in manifests[:limit]:
        stem = path.name[: -len(MANIFEST_SUFFIX)]
        try:
            manifest = read_manifest(path)
            day = _business_date(stem, path)
            if not (directory / manifest.file_name).is_file():
                raise BatchFileError(f"{manifest.file_name} is missing")
        except (BatchFileError, ValueError) as exc:
            found.append(StatementFile(stem, directory, None, None, str(exc)))
            continue
        found.append(StatementFile(stem, directory, manifest, day))
    return found


def settle(
    statement: StatementFile, outbox: Path | None, *, refused: bool, report: dict[str, Any]
) -> None:
    """The report to the provider's outbox, then the files out of the way."""
    if outbox is not None:
        outbox.mkdir(parents=True, exist_ok=True)
        write_atomically(
            outbox / f"{statement.stem}.report.json",
            json.dumps(report, indent=2, ensure_ascii=False, default=str).encode(),
        )
    target = statement.directory / ("refused" if refused else "ingested")
    target.mkdir(exist_ok=True)
    names = [f"{statement.stem}{MANIFEST_SUFFIX}"]
    if statement.manifest is not None:
        names.append(statement.manifest.file_name)
    for name in names:
        source = statement.directory / name
        if source.exists():
            os.replace(source, target / name)
