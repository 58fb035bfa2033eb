"""`batch_file`: credit requests travel as files (SPEC §5), results come back as files.

The adapter owns the files and nothing else: `credit` answers `queued` so the hub puts the
request in its database queue, the dispatcher asks `write_batch` for a file at the cut-off, and
reads the provider's result files with `result_files`, then `settle`s each one (a report for the
provider in the outbox, the file moved out of the inbox). Account verification and credit status
are online calls of the Hub Provider Protocol, as batch providers still verify accounts live.

Directories: requests and reports go to `outbox_dir`; the provider drops results in `inbox_dir`,
from where they move to `inbox_dir/ingested` or `inbox_dir/refused`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.providers.batch_files import (
    MANIFEST_SUFFIX,
    BatchFileError,
    Manifest,
    RequestRow,
    ResultRow,
    check_against_manifest,
    parse_results,
    read_manifest,
    render_requests,
    sha256_hex,
    write_atomically,
    write_file_pair,
)
from adapters.providers.contract import (
    AccountCheck,
    CreditOutcome,
    CreditRequest,
    CreditStatus,
    TransientProviderError,
)
from adapters.providers.hub_rest import HubRestAdapter, HubRestConfig


@dataclass(frozen=True)
class BatchFileConfig:
    outbox_dir: Path
    inbox_dir: Path
    online: HubRestConfig


@dataclass(frozen=True)
class ResultFile:
    """One result file as found in the inbox; `problem` set means it is refused whole.

    `sha256` identifies the delivery: the CSV's checksum for a good file, so the same results
    are ingested once; the manifest's and CSV's together for a refused one, so the same CSV with
    a corrected manifest is a new delivery and not a duplicate of the refused one.
    """

    stem: str
    sha256: str
    rows: list[ResultRow]
    problem: str | None = None
    landed_at: datetime | None = None  # complete in the inbox: the manifest's modification time


class BatchFileAdapter:
    def __init__(self, provider_id: str, config: BatchFileConfig) -> None:
        self.provider_id = provider_id
        self.config = config
        self._online = HubRestAdapter(provider_id, config.online)

    async def aclose(self) -> None:
        await self._online.aclose()

    async def verify_account(self, account_id: str, security_code: str) -> AccountCheck:
        return await self._online.verify_account(account_id, security_code)

    async def credit(self, request: CreditRequest) -> CreditOutcome:
        return CreditOutcome(status="queued")

    async def credit_status(self, receipt_id: str) -> CreditStatus:
        return await self._online.credit_status(receipt_id)

    # ----- files ---------------------------------------------------------------------------

    async def write_batch(self, batch_id: str, rows: Sequence[RequestRow]) -> Manifest:
        """Write (or write again, identically) the request file of one batch."""
        return await asyncio.to_thread(self._write_batch, batch_id, list(rows))

    def _write_batch(self, batch_id: str, rows: list[RequestRow]) -> Manifest:
        try:
            self.config.outbox_dir.mkdir(parents=True, exist_ok=True)
            data = render_requests(rows)
            return write_file_pair(
                self.config.outbox_dir,
                f"credits-{batch_id}",
                data,
                records=len(rows),
                points=sum(r.points for r in rows),
            )
        except OSError as exc:
            raise TransientProviderError(
                f"cannot write the batch file: {exc}", reason="file_io"
            ) from exc

    async def result_files(self, limit: int = 20) -> list[ResultFile]:
        return await asyncio.to_thread(self._result_files, limit)

    def _result_files(self, limit: int) -> list[ResultFile]:
        inbox = self.config.inbox_dir
        if not inbox.is_dir():
            return []
        manifests = sorted(p for p in inbox.iterdir() if p.name.endswith(MANIFEST_SUFFIX))
        return [self._read_result(path) for path in manifests[:limit]]

    def _read_result(self, manifest_path: Path) -> ResultFile:
        """A file counts as landed once its manifest is in: the manifest's modification time."""
        landed = datetime.fromtimestamp(manifest_path.stat().st_mtime, UTC)
        return replace(self._parse_result(manifest_path), landed_at=landed)

    def _parse_result(self, manifest_path: Path) -> ResultFile:
        stem = manifest_path.name[: -len(MANIFEST_SUFFIX)]
        manifest_bytes = manifest_path.read_bytes()
        try:
            manifest = read_manifest(manifest_path)
        except BatchFileError as exc:
            return ResultFile(stem, sha256_hex(manifest_bytes), [], str(exc))
        data_path = manifest_path.with_name(manifest.file_name)
        if not data_path.is_file():
            problem = f"{manifest.file_name} is missing"
            return ResultFile(stem, sha256_hex(manifest_bytes), [], problem)
        data = data_path.read_bytes()
        try:
            rows = parse_results(data)
            check_against_manifest(manifest, data, len(rows), None)
        except BatchFileError as exc:
            return ResultFile(stem, sha256_hex(manifest_bytes + data), [], str(exc))
        return ResultFile(stem, sha256_hex(data), rows)

    async def settle(self, result: ResultFile, *, refused: bool, report: dict[str, Any]) -> None:
        """Tell the provider what became of its file, then move the file out of the inbox."""
        await asyncio.to_thread(self._settle, result, refused, report)

    def _settle(self, result: ResultFile, refused: bool, report: dict[str, Any]) -> None:
        try:
            self.config.outbox_dir.mkdir(parents=True, exist_ok=True)
            write_atomically(
                self.config.outbox_dir / f"{result.stem}.report.json",
                json.dumps(report, indent=2, ensure_ascii=False).encode(),
            )
            target = self.config.inbox_dir / ("refused" if refused else "ingested")
            target.mkdir(exist_ok=True)
            manifest_path = self.config.inbox_dir / f"{result.stem}{MANIFEST_SUFFIX}"
            names = [manifest_path.name]
            with contextlib.suppress(BatchFileError):
                names.append(read_manifest(manifest_path).file_name)
            for name in names:
                source = self.config.inbox_dir / name
                if source.exists():
                    os.replace(source, target / name)
        except OSError as exc:
            raise TransientProviderError(
                f"cannot settle {result.stem}: {exc}", reason="file_io"
            ) from exc
