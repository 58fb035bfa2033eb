"""A `batch_file` provider's result files taken in: each file's rows recorded (final on every
resident and support page from then), the file remembered by its checksum, and a report handed
back before the file leaves the inbox. A file that does not match its manifest is refused whole;
a file already known by its checksum is only moved aside, as a duplicate.

The files read from the inbox together are recorded together: their rows in slices of
`ACK_SLICE` across files, a transaction and a few set-based statements each, then the files' own
records in one more. A provider that answers each request file with a result file of a hundred
rows sends hundreds of files in a wave; one transaction and a dozen statements for each of them
made the database's round trips, not the rows, the pace of a wave (docs/benchmarks.md).

No workflow is told here: the answers stay unsignalled until the round tells them
(`services/batches.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from adapters.providers.batch_file import ResultFile
from services.acknowledgements import AckContext, AckItem, AckResult, AckVerdict, record
from storage import batches
from storage.ids import new_id
from storage.models.providers import BatchResultFile

log = logging.getLogger(__name__)

ACK_SLICE = 1000  # rows recorded in one transaction, a heartbeat after each
Verdicts = dict[AckVerdict, list[str]]  # a file's receipts by what became of their answers


class ResultInbox(Protocol):
    """Where a provider's result files are settled (`adapters/providers/batch_file.py`)."""

    async def settle(
        self, result: ResultFile, *, refused: bool, report: dict[str, Any]
    ) -> None: ...


@dataclass
class _Slice:
    """Rows of several files recorded in one transaction; a receipt at most once."""

    items: list[AckItem] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)  # each row's file, by position
    receipts: set[str] = field(default_factory=set)

    def takes(self, item: AckItem) -> bool:
        return len(self.items) < ACK_SLICE and item.receipt_id not in self.receipts

    def add(self, item: AckItem, owner: int) -> None:
        self.items.append(item)
        self.owners.append(owner)
        self.receipts.add(item.receipt_id)


async def ingest_results(
    ctx: AckContext,
    inbox: ResultInbox,
    provider_id: str,
    results: Sequence[ResultFile],
    heartbeat: Callable[[], None] = lambda: None,
) -> list[dict[str, Any]]:
    """Record the files once each, in the order given; returns each file's report."""
    if not results:
        return []
    received_at = ctx.clock()
    async with ctx.sessions() as session:
        seen = await batches.result_files_seen(session, provider_id, [r.sha256 for r in results])
    fresh: list[ResultFile] = []
    reports: list[dict[str, Any]] = []
    for result in results:
        if result.sha256 in seen:  # before, or earlier in this very read
            report = {
                **_base(result),
                "status": "duplicate",
                "detail": "this file was received before",
            }
            await inbox.settle(result, refused=False, report=report)
            reports.append(report)
        else:
            seen.add(result.sha256)
            fresh.append(result)
    verdicts = [_by_verdict(a) for a in await _record_rows(ctx, provider_id, fresh, heartbeat)]
    rows = [_file_row(provider_id, r, v, received_at) for r, v in zip(fresh, verdicts, strict=True)]
    if rows:
        async with ctx.sessions.begin() as session:
            await batches.record_result_files(session, rows)
    for result, row, found in zip(fresh, rows, verdicts, strict=True):
        report = _report(result, row, found)
        await inbox.settle(result, refused=result.problem is not None, report=report)
        reports.append(report)
        heartbeat()
    return reports


async def _record_rows(
    ctx: AckContext,
    provider_id: str,
    files: Sequence[ResultFile],
    heartbeat: Callable[[], None],
) -> list[list[AckResult]]:
    """Each good file's answers recorded, in its rows' order (a refused file has none). A
    receipt named by two files is recorded in two transactions, in the files' order, so the
    second is compared with the first as if it came later."""
    answers: list[list[AckResult]] = [[] for _ in files]
    current = _Slice()

    async def flush() -> None:
        nonlocal current
        if not current.items:
            return
        async with ctx.sessions.begin() as session:
            recorded = await record(
                session, provider_id, current.items, source="batch", now=ctx.clock()
            )
        for item, owner in zip(current.items, current.owners, strict=True):
            answers[owner].append(recorded.results[item.receipt_id])
        current = _Slice()
        heartbeat()

    for position, result in enumerate(files):
        if result.problem is not None:
            continue
        for row in result.rows:
            item = AckItem(row.receipt_id, row.status, row.reason, row.provider_reference)
            if not current.takes(item):
                await flush()
            current.add(item, position)
    await flush()
    return answers


def _base(result: ResultFile) -> dict[str, Any]:
    return {"file": f"{result.stem}.csv", "sha256": result.sha256}


def _file_row(
    provider_id: str, result: ResultFile, by_verdict: Verdicts, received_at: datetime
) -> BatchResultFile:
    if result.problem is not None:
        log.warning("result file %s.csv refused: %s", result.stem, result.problem)
    elif by_verdict[AckVerdict.UNKNOWN]:
        log.warning(
            "result file %s.csv names %d unknown receipts",
            result.stem,
            len(by_verdict[AckVerdict.UNKNOWN]),
        )
    return BatchResultFile(
        id=new_id("res"),
        provider_id=provider_id,
        file_name=f"{result.stem}.csv",
        sha256=result.sha256,
        status="refused" if result.problem else "ingested",
        record_count=len(result.rows),
        applied=len(by_verdict[AckVerdict.RECORDED]),
        duplicates=len(by_verdict[AckVerdict.DUPLICATE]),
        conflicts=len(by_verdict[AckVerdict.CONFLICT]),
        unknown_receipt_ids=by_verdict[AckVerdict.UNKNOWN] or None,
        detail=result.problem,
        landed_at=result.landed_at,
        received_at=received_at,
    )


def _report(result: ResultFile, row: BatchResultFile, by_verdict: Verdicts) -> dict[str, Any]:
    """What the provider reads back (`<name>.report.json`)."""
    report = {**_base(result), "status": row.status, "detail": result.problem}
    if result.problem is None:
        report.update(
            records=row.record_count,
            applied=row.applied,
            duplicates=row.duplicates,
            conflicting_receipt_ids=by_verdict[AckVerdict.CONFLICT],
            unknown_receipt_ids=by_verdict[AckVerdict.UNKNOWN],
        )
    return report


def _by_verdict(answers: list[AckResult]) -> Verdicts:
    found: Verdicts = {v: [] for v in AckVerdict}
    for answer in answers:
        found[answer.verdict].append(answer.receipt_id)
    return found
