"""What the settlement tests share: providers with credited receipts, statements as providers
write them, and credits moved into an earlier month (a month that has ended can be closed)."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import select, update

from domain.business_days import JST, business_day_of
from storage.models import LedgerEntry, Receipt
from storage.models.settlement import ReconciliationBreak
from tests.providers.support import (
    Provider,
    Receiving,
    granted_resident,
    onboard_provider,
    request_receipt,
    wait_for_grant,
)
from tests.support.stack import Hub

HEADER = "receipt_id,points,credited_at,provider_reference\n"


def today() -> date:
    return business_day_of(datetime.now(UTC))


@dataclass(frozen=True)
class Line:
    receipt_id: str
    points: int
    credited_at: datetime
    reference: str | None = None


def statement(lines: Sequence[Line]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["receipt_id", "points", "credited_at", "provider_reference"])
    for line in lines:
        writer.writerow(
            [line.receipt_id, line.points, line.credited_at.isoformat(), line.reference or ""]
        )
    return buffer.getvalue().encode()


async def send(
    hub: Hub,
    provider: Provider,
    day: date,
    body: bytes,
    *,
    records: int | None = None,
    points: int | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """PUT a statement with the totals it really holds, unless told otherwise."""
    declared_records, declared_points = records, points
    if records is None or points is None:
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))[1:]
        declared_records = len(rows) if records is None else records
        declared_points = (
            sum(int(r[1]) for r in rows if len(r) > 1 and r[1].isdigit())
            if points is None
            else points
        )
    return await hub.http.put(
        f"/v1/providers/{provider.provider_id}/statements/{day.isoformat()}",
        content=body,
        headers={
            **(headers or provider.headers),
            "content-type": "text/csv",
            "Statement-Records": str(declared_records),
            "Statement-Total-Points": str(declared_points),
        },
    )


async def credited(hub: Hub, provider: Provider, count: int) -> list[Receiving]:
    """Residents whose grants the provider credited, in parallel."""

    async def one() -> Receiving:
        receiving = await granted_resident(hub, provider)
        await request_receipt(receiving)
        await wait_for_grant(receiving, "credited")
        return receiving

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def sync_provider(hub: Hub, **config: Any) -> Provider:
    return await onboard_provider(hub, "sync", **config)


def line_for(receiving: Receiving, points: int = 1000, at: datetime | None = None) -> Line:
    assert receiving.receipt_id is not None
    reference = f"ref-{receiving.receipt_id[-6:]}"
    return Line(receiving.receipt_id, points, at or datetime.now(UTC), reference)


async def move_credit(hub: Hub, receipt_id: str, at: datetime) -> None:
    """The receipt was credited at `at`: its row and its ledger line say so (test data from an
    earlier day or month, written as the hub would have written it then)."""
    async with hub.ctx.sessions.begin() as session:
        await session.execute(
            update(Receipt).where(Receipt.id == receipt_id).values(finished_at=at, updated_at=at)
        )
        await session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.receipt_id == receipt_id, LedgerEntry.to_state == "credited")
            .values(at=at)
        )


def jst(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=JST)


async def breaks_of(hub: Hub, provider_id: str) -> list[ReconciliationBreak]:
    async with hub.ctx.sessions() as session:
        rows = await session.execute(
            select(ReconciliationBreak)
            .where(ReconciliationBreak.provider_id == provider_id)
            .order_by(ReconciliationBreak.id)
        )
        return list(rows.scalars())


def open_kinds(rows: Sequence[ReconciliationBreak]) -> dict[str | None, str]:
    """receipt → kind of every open break."""
    return {r.receipt_id: r.kind for r in rows if r.status == "open"}
