"""The `batch_file` dispatcher's work, one round at a time: write the request files that are due,
record the result files that arrived (`services/result_files.py`), then tell the workflows what
they answered.

Recording comes first and signalling after: every waiting file's rows are recorded (final on
every resident and support page, a few set-based statements per slice of rows) before any
workflow is told, and the telling is bounded per round. A wave of files is then final at the
database's pace, not at the pace the workflow service takes signals, which under load is the
slower by far. Nothing is lost by the order: an answer is durable once recorded and unsignalled
until its workflow is told; each round tells the oldest of those (`redeliver`), with the
outcome the database applied, until none is left; a workflow told late finds its receipt
already final.

A round is idempotent. A batch whose rows were claimed but whose file was not confirmed is
written again, identically; a result file already known by its checksum is only moved aside.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from adapters.providers.batch_file import ResultFile
from adapters.providers.batch_files import Manifest, RequestRow
from domain.providers import BatchCutoff, dispatch_queue, next_batch_size
from services.acknowledgements import AckContext, redeliver
from services.result_files import ingest_results
from storage import batches

log = logging.getLogger(__name__)

REDELIVER_AFTER = timedelta(seconds=30)  # an answer from a webhook or the pull API, untold
RESULT_FILES_PER_ROUND = 20  # read from the inbox at a time
# A round records waiting files for at most this long before it signals (and before the next
# round writes request files): files first, since a resident's page is final once its file is
# recorded, and each told workflow replays, competing with the recording for the machine.
INGEST_FOR_S = 60.0
SIGNALS_PER_ROUND = 1000  # recorded answers told to their workflows a round, oldest first


class BatchChannel(Protocol):
    """The file side of a `batch_file` adapter (see `adapters/providers/batch_file.py`)."""

    async def write_batch(self, batch_id: str, rows: list[RequestRow]) -> Manifest: ...

    async def result_files(self, limit: int = 20) -> list[ResultFile]: ...

    async def settle(
        self, result: ResultFile, *, refused: bool, report: dict[str, Any]
    ) -> None: ...


@dataclass
class RoundReport:
    files_written: int = 0
    records_written: int = 0
    result_files: int = 0
    acknowledgements: int = 0  # answers recorded from this round's files
    next_check_s: float = 5.0


def dispatcher_id(provider_id: str) -> str:
    return f"batch-dispatch-{provider_id}"


async def ensure_dispatcher(client: Client, provider_id: str) -> None:
    """Start the provider's dispatcher workflow, on its own queue, unless it runs already."""
    from workflows.batch import BatchDispatcherWorkflow, DispatcherInput

    await client.start_workflow(
        BatchDispatcherWorkflow.run,
        DispatcherInput(provider_id=provider_id, own_queue=True),
        id=dispatcher_id(provider_id),
        task_queue=dispatch_queue(provider_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def _write(
    ctx: AckContext, channel: BatchChannel, provider_id: str, batch_id: str, report: RoundReport
) -> None:
    async with ctx.sessions() as session:
        rows = await batches.batch_rows(session, provider_id, batch_id)
    manifest = await channel.write_batch(batch_id, rows)
    async with ctx.sessions.begin() as session:
        await batches.mark_written(session, batch_id, manifest, ctx.clock())
    report.files_written += 1
    report.records_written += manifest.record_count


async def write_due_batches(
    ctx: AckContext,
    channel: BatchChannel,
    provider_id: str,
    cutoff: BatchCutoff,
    report: RoundReport,
    heartbeat: Callable[[], None],
) -> None:
    async with ctx.sessions() as session:
        unwritten = await batches.unwritten_batches(session, provider_id)
    for batch in unwritten:  # claimed before a crash: the same rows, the same file
        await _write(ctx, channel, provider_id, batch.id, report)
        heartbeat()
    async with ctx.sessions.begin() as session:
        await batches.drop_settled(session, provider_id)
    while True:
        now = ctx.clock()
        async with ctx.sessions.begin() as session:
            stats = await batches.queue_stats(session, provider_id)
            age = None if stats.oldest is None else (now - stats.oldest).total_seconds()
            size = next_batch_size(stats.pending, age, cutoff)
            claimed = (
                await batches.assign_batch(session, provider_id=provider_id, size=size, now=now)
                if size
                else None
            )
        if claimed is None:
            if stats.pending and age is not None:  # look again when the oldest reaches cut-off
                report.next_check_s = max(0.05, min(cutoff.poll_s, cutoff.seconds - age))
            return
        await _write(ctx, channel, provider_id, claimed.id, report)
        heartbeat()


async def dispatch_round(
    ctx: AckContext,
    channel: BatchChannel,
    provider_id: str,
    cutoff: BatchCutoff,
    heartbeat: Callable[[], None] = lambda: None,
) -> RoundReport:
    """Write the due request files, record every waiting result file (for at most
    `INGEST_FOR_S`), then tell up to `SIGNALS_PER_ROUND` workflows the oldest answers not yet
    told (`redeliver`: this round's, an earlier round's past its bound, a crash's), each with
    the outcome the database applied. The next round comes at once while files or answers are
    left."""
    report = RoundReport(next_check_s=cutoff.poll_s)
    await write_due_batches(ctx, channel, provider_id, cutoff, report, heartbeat)
    started = time.monotonic()
    while True:
        waiting = await channel.result_files(RESULT_FILES_PER_ROUND)
        ingested = await ingest_results(ctx, channel, provider_id, waiting, heartbeat)
        report.result_files += len(ingested)
        report.acknowledgements += sum(int(r.get("applied", 0)) for r in ingested)
        files_left = len(waiting) >= RESULT_FILES_PER_ROUND
        if not files_left or time.monotonic() - started >= INGEST_FOR_S:
            break
    told = await redeliver(ctx, provider_id, older_than=REDELIVER_AFTER, limit=SIGNALS_PER_ROUND)
    if files_left or told >= SIGNALS_PER_ROUND:  # files or answers are left: at once
        report.next_check_s = 0.05
    return report
