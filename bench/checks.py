"""What a run must leave behind, read from the database and the simulator: every grant where it
should be, a ledger that adds up, every credit applied exactly once at its provider.

The database is read with its own engine, a few aggregate queries at a time, so watching a run
costs the hub almost nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.points import GrantState, LedgerMove, balances, granted_total, ledger_adds_up
from storage.models import Application, Grant, LedgerEntry, Measure, Receipt
from storage.models.providers import BatchResultFile


def utc(value: datetime | str) -> datetime:
    """Timestamps as aware UTC whatever the backend hands back (SQLite: text or naive)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def grant_states(engine: AsyncEngine, measure_id: str) -> dict[str, int]:
    query = (
        select(Grant.state, func.count())
        .where(Grant.measure_id == measure_id)
        .group_by(Grant.state)
    )
    async with engine.connect() as conn:
        return {state: int(n) for state, n in (await conn.execute(query)).all()}


async def receipt_states(engine: AsyncEngine, measure_id: str) -> dict[str, int]:
    query = (
        select(Receipt.state, func.count())
        .where(Receipt.measure_id == measure_id)
        .group_by(Receipt.state)
    )
    async with engine.connect() as conn:
        return {state: int(n) for state, n in (await conn.execute(query)).all()}


async def ledger(engine: AsyncEngine, measure_id: str) -> dict[str, Any]:
    """The measure's ledger replayed from its lines grouped by move: balance per state, points
    granted, and whether it adds up (no state negative, states sum to the points granted)."""
    query = (
        select(LedgerEntry.from_state, LedgerEntry.to_state, func.sum(LedgerEntry.points))
        .where(LedgerEntry.measure_id == measure_id)
        .group_by(LedgerEntry.from_state, LedgerEntry.to_state)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        budget_used = (
            await conn.execute(select(Measure.budget_used).where(Measure.id == measure_id))
        ).scalar_one()
        applications = (
            await conn.execute(
                select(func.count())
                .select_from(Application)
                .where(Application.measure_id == measure_id)
            )
        ).scalar_one()
    moves = [
        LedgerMove(int(points), GrantState(f) if f else None, GrantState(t))
        for f, t, points in rows
    ]
    held = {state.value: points for state, points in balances(moves).items() if points}
    return {
        "granted_points": granted_total(moves),
        "balances": held,
        "adds_up": ledger_adds_up(moves),
        "budget_used": int(budget_used),
        "applications": int(applications),
    }


async def moved_at(engine: AsyncEngine, measure_id: str, to_state: str) -> dict[str, datetime]:
    """When each grant of the measure entered `to_state` (its ledger line's time)."""
    query = select(LedgerEntry.grant_id, LedgerEntry.at).where(
        LedgerEntry.measure_id == measure_id, LedgerEntry.to_state == to_state
    )
    async with engine.connect() as conn:
        return {grant_id: utc(at) for grant_id, at in (await conn.execute(query)).all()}


async def last_move(engine: AsyncEngine, measure_id: str, to_state: str) -> datetime | None:
    query = select(func.max(LedgerEntry.at)).where(
        LedgerEntry.measure_id == measure_id, LedgerEntry.to_state == to_state
    )
    async with engine.connect() as conn:
        value = (await conn.execute(query)).scalar_one()
    return None if value is None else utc(value)


async def result_files_landed(
    engine: AsyncEngine, provider_id: str, since: datetime
) -> list[tuple[datetime, datetime]]:
    """Each result file the hub ingested from `provider_id` since `since`, in the order it was
    taken in: when it landed in the inbox (its manifest complete) and when the hub took it in
    (`received_at`: before any of its rows is applied)."""
    query = (
        select(BatchResultFile.landed_at, BatchResultFile.received_at)
        .where(
            BatchResultFile.provider_id == provider_id,
            BatchResultFile.status == "ingested",
            BatchResultFile.received_at >= since,
        )
        .order_by(BatchResultFile.received_at)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [(utc(landed or received), utc(received)) for landed, received in rows]


async def stuck_receipts(engine: AsyncEngine, measure_id: str) -> int:
    """Receipts of the measure flagged stuck (support's list), whatever their state."""
    query = (
        select(func.count())
        .select_from(Receipt)
        .where(Receipt.measure_id == measure_id, Receipt.stuck.is_(True))
    )
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def receipt_ids(engine: AsyncEngine, measure_id: str) -> set[str]:
    query = select(Receipt.id).where(Receipt.measure_id == measure_id)
    async with engine.connect() as conn:
        return set((await conn.execute(query)).scalars())


async def simulator_ledgers(
    sim_url: str, provider_ids: list[str], receipts: set[str]
) -> dict[str, Any]:
    """Per provider, of the credits for `receipts` (the measure's): how many the simulator holds,
    how many it credited, and any applied other than exactly once."""
    found: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=sim_url, timeout=120) as sim:
        for provider_id in provider_ids:
            response = await sim.get(f"/p/{provider_id}/admin/ledger")
            response.raise_for_status()
            credits = [c for c in response.json()["credits"] if c["receipt_id"] in receipts]
            found[provider_id] = {
                "credits": len(credits),
                "credited": sum(1 for c in credits if c["status"] == "credited"),
                "not_exactly_once": [c["receipt_id"] for c in credits if c["applied"] != 1][:20],
            }
    return found


async def wait_until(
    probe: Callable[[], Awaitable[bool]],
    *,
    timeout_s: float,
    what: str,
    alive: Callable[[], None] = lambda: None,
    poll_s: float = 0.5,
) -> float:
    """Poll until `probe` holds; returns the time (epoch seconds) it was first seen to hold."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive()
        if await probe():
            return time.time()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
        await asyncio.sleep(poll_s)
