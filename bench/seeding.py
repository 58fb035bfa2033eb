"""Untimed set-up of the bulk scenarios, in set-based statements and the hub's own code.

- MyKey IDs are inserted as rows (as `bench/targets_import.py` does): a hundred thousand card
  logins would measure login, which the lifecycle scenario already does.
- Grants for the receipt wave: the measure is published with `services.measures.transition` and
  its target list granted by the measure workflow's own batch step (`grant_targets`, called in a
  loop as the workflow calls it), so the rows are exactly the hub's.
- Registrations are inserted as the rows `services/registrations.register` writes once the
  provider has verified the account (the verification call is measured by `lifecycle`).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.measures import MeasureActivities, MeasureBatchInput
from api.app import build_context
from domain.identifiers import new_mykey_id
from domain.measures import MeasureState
from hub.settings import Settings
from services import measures
from storage.ids import new_id
from storage.models import MyKey, PaymentServiceRegistration
from workflows.measure import BATCH_SIZE

CHUNK = 10_000


def distinct_mykey_ids(count: int) -> list[str]:
    found: set[str] = set()
    while len(found) < count:
        found.add(new_mykey_id())
    return sorted(found)


async def insert_mykeys(engine: AsyncEngine, count: int) -> list[str]:
    mykey_ids = distinct_mykey_ids(count)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for start in range(0, count, CHUNK):
            await conn.execute(
                insert(MyKey),
                [
                    {"mykey_id": m, "status": "active", "issued_at": now, "status_changed_at": None}
                    for m in mykey_ids[start : start + CHUNK]
                ],
            )
    return mykey_ids


async def insert_registrations(
    engine: AsyncEngine, mykey_ids: list[str], payment_service_id: str
) -> None:
    now = datetime.now(UTC)
    tag = secrets.token_hex(3)  # account IDs unique per service, also across runs on one stack
    async with engine.begin() as conn:
        for start in range(0, len(mykey_ids), CHUNK):
            await conn.execute(
                insert(PaymentServiceRegistration),
                [
                    {
                        "id": new_id("reg"),
                        "mykey_id": mykey_id,
                        "payment_service_id": payment_service_id,
                        "account_id": f"wave-{tag}-{start + i:07d}",
                        "status": "active",
                        "created_at": now,
                        "invalidated_at": None,
                    }
                    for i, mykey_id in enumerate(mykey_ids[start : start + CHUNK])
                ],
            )


async def publish_and_grant(settings: Settings, municipality_code: str, measure_id: str) -> int:
    """Publish without starting the measure workflow, then grant the whole target list with the
    workflow's batch step; returns the number of grants."""
    ctx = build_context(settings)
    try:
        await measures.transition(ctx, municipality_code, measure_id, MeasureState.PUBLISHED)
        step = MeasureActivities(ctx.sessions, ctx.id_secret)
        granted, cursor = 0, ""
        while True:
            result = await step.grant_targets(
                MeasureBatchInput(measure_id, BATCH_SIZE, after=cursor)
            )
            granted, cursor = granted + result.count, result.cursor
            if not result.more:
                return granted
    finally:
        await ctx.engine.dispose()
