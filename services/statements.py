"""Receiving a provider's statement (SPEC §7), through the provider API or a `batch_file`
provider's channel: streamed into the database, checked whole, made current, reconciled at once.

Everything happens in one transaction: a statement with a bad row, a receipt of another provider
or totals that disagree with what the provider declared leaves nothing behind. The same content
again changes nothing; a different statement for the same day replaces the earlier one while its
month is open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from adapters.providers import statement_files
from domain.business_days import business_day_of, is_business_day
from domain.errors import RuleViolation
from domain.statements import PROBLEMS_KEPT, Problem, StatementReader
from services.context import HubContext
from services.reconciliation import after_statement
from storage import audit, statements
from storage.database import SessionFactory
from storage.reconciliation import DayResult


@dataclass(frozen=True)
class Declared:
    """What the provider says its statement holds (headers, or the file's manifest)."""

    records: int
    total_points: int
    sha256: str | None = None  # a file's manifest names its checksum too


@dataclass(frozen=True)
class Received:
    business_date: date
    statement_id: str
    sha256: str
    outcome: str  # accepted | replaced | unchanged
    records: int
    total_points: int
    matched: int
    breaks: int
    new_breaks: int


def check_business_date(day: date, now_day: date) -> None:
    if not is_business_day(day):
        raise RuleViolation(
            "invalid_business_date", f"{day.isoformat()} is not a JST business day", status=422
        )
    if day > now_day:
        raise RuleViolation(
            "invalid_business_date", f"{day.isoformat()} has not begun yet (JST)", status=422
        )


def _invalid(problems: list[Problem], count: int) -> RuleViolation:
    return RuleViolation(
        "invalid_statement",
        f"the statement has {count} problem(s); nothing was stored",
        status=422,
        errors=[{"line": p.line, "field": p.field, "message": p.message} for p in problems],
        error_count=count,
    )


class _Unchanged(Exception):
    """The same content as the current statement: roll back what was written."""


async def receive(
    ctx: HubContext | Any,
    *,
    provider_id: str,
    business_date: date,
    body: AsyncIterator[bytes],
    declared: Declared,
    source: str,
    actor: str,
    file_name: str | None = None,
) -> Received:
    """Store, check and reconcile one statement; refusals leave nothing stored."""
    sessions: SessionFactory = ctx.sessions
    now = ctx.clock()
    check_business_date(business_date, business_day_of(now))
    reader = StatementReader()
    try:
        async with sessions.begin() as session:
            await statements.check_month_open(session, business_date)
            statement = await statements.start(
                session,
                provider_id=provider_id,
                business_date=business_date,
                source=source,
                file_name=file_name,
                actor=actor,
                now=now,
            )
            async with statements.LineWriter(session, statement.id) as writer:
                async for chunk in body:
                    await writer.write(reader.feed(chunk))
                await writer.write(reader.finish())
            if reader.problems:
                raise _invalid(reader.problems, reader.problem_count)
            if declared.sha256 is not None and declared.sha256 != reader.sha256:
                raise RuleViolation(
                    "statement_totals_mismatch",
                    "the file's SHA-256 is not the one its manifest declares",
                    status=422,
                )
            if (declared.records, declared.total_points) != (reader.records, reader.total_points):
                raise RuleViolation(
                    "statement_totals_mismatch",
                    f"declared {declared.records} records and {declared.total_points} points; "
                    f"the statement holds {reader.records} records and "
                    f"{reader.total_points} points",
                    status=422,
                    declared={"records": declared.records, "total_points": declared.total_points},
                    found={"records": reader.records, "total_points": reader.total_points},
                )
            earlier = await statements.current(session, provider_id, business_date)
            if earlier is not None and earlier.sha256 == reader.sha256:
                raise _Unchanged
            problems, count = await statements.line_problems(
                session, statement.id, provider_id, PROBLEMS_KEPT
            )
            if problems:
                raise _invalid(problems, count)
            done = await statements.finish(
                session,
                statement,
                sha256=reader.sha256,
                records=reader.records,
                points=reader.total_points,
                now=now,
            )
            outcome = "replaced" if done.replaced is not None else "accepted"
            audit.record(
                session,
                actor=actor,
                action="receive_statement",
                object_type="statement",
                object_id=statement.id,
                outcome=outcome,
                detail={
                    "provider_id": provider_id,
                    "business_date": business_date.isoformat(),
                    "records": reader.records,
                    "total_points": reader.total_points,
                    "sha256": reader.sha256,
                    "source": source,
                    "replaces": done.replaced.id if done.replaced is not None else None,
                },
                at=now,
            )
            result = await after_statement(session, provider_id, business_date, ctx, now=now)
    except _Unchanged:
        return await _unchanged(ctx, provider_id, business_date)
    return _received(result, statement.id, reader.sha256, outcome, reader.total_points)


def _received(
    result: DayResult, statement_id: str, sha256: str, outcome: str, points: int
) -> Received:
    return Received(
        business_date=result.business_date,
        statement_id=statement_id,
        sha256=sha256,
        outcome=outcome,
        records=result.records,
        total_points=points,
        matched=result.matched,
        breaks=result.open_breaks,
        new_breaks=result.new_breaks,
    )


async def _unchanged(ctx: HubContext | Any, provider_id: str, business_date: date) -> Received:
    """Idempotent by content: the day is reconciled again (the hub's side may have moved on)."""
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        earlier = await statements.current(session, provider_id, business_date)
        assert earlier is not None
        result = await after_statement(session, provider_id, business_date, ctx, now=now)
        return _received(result, earlier.id, earlier.sha256, "unchanged", earlier.total_points)


# ----- statements through a batch_file provider's channel ------------------------------------


async def ingest_files(ctx: Any, provider_id: str, config: dict[str, Any], heartbeat: Any) -> int:
    """Every complete statement file waiting for a `batch_file` provider: received like an API
    statement (its manifest's counts and checksum are the declared totals), reported to the
    provider's outbox, moved to `ingested` or `refused`. Returns how many were settled."""
    directory = statement_files.statements_dir(config)
    if directory is None:
        return 0
    outbox = Path(str(config["outbox_dir"])) if config.get("outbox_dir") else None
    settled = 0
    for found in await asyncio.to_thread(statement_files.pending, directory):
        report: dict[str, Any] = {"file": found.stem, "status": "refused"}
        if found.problem is not None or found.manifest is None or found.business_date is None:
            report["detail"] = found.problem
        else:
            try:
                received = await receive(
                    ctx,
                    provider_id=provider_id,
                    business_date=found.business_date,
                    body=_read(found),
                    declared=Declared(
                        found.manifest.record_count,
                        found.manifest.total_points,
                        found.manifest.sha256,
                    ),
                    source="file",
                    actor=f"provider-worker:{provider_id}",
                    file_name=found.manifest.file_name,
                )
                report.update(
                    status=received.outcome,
                    business_date=received.business_date.isoformat(),
                    records=received.records,
                    total_points=received.total_points,
                    matched=received.matched,
                    breaks=received.breaks,
                )
            except RuleViolation as refused:
                report.update(code=refused.code, detail=refused.detail, **refused.extra)
        await asyncio.to_thread(
            statement_files.settle,
            found,
            outbox,
            refused=report["status"] == "refused",
            report=report,
        )
        settled += 1
        heartbeat()
    return settled


async def _read(found: statement_files.StatementFile) -> AsyncIterator[bytes]:
    chunks = found.chunks()
    while True:
        chunk = await asyncio.to_thread(next, chunks, b"")
        if not chunk:
            return
        yield chunk
