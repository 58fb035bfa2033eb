"""What residents read of the catalogue is kept a moment (`api/read_cache.py`): a change made
through the API shows at once; one made elsewhere, such as a worker using budget, within
`HUB_CATALOG_CACHE_S`."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import update

from storage.models import Measure
from tests.support.scenario import municipality_key, onboard, publish_measure
from tests.support.stack import Hub


def listed(body: dict[str, Any], measure_id: str) -> dict[str, Any] | None:
    return next((m for m in body["items"] if m["measure_id"] == measure_id), None)


async def test_catalogue_reads_show_api_changes_at_once_and_others_within_the_cache_time(
    hub: Hub,
) -> None:
    onboarded = await onboard(hub)
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    query = {"limit": 200}

    first = await resident.get("/v1/measures", **query)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    shown = listed(first.json(), onboarded.measure_id)
    assert shown is not None and shown["budget_left"] == 1_000_000

    # A worker's grant uses budget: not through this API, so the kept answer stands a moment.
    async with hub.ctx.sessions.begin() as session:
        await session.execute(
            update(Measure).where(Measure.id == onboarded.measure_id).values(budget_used=1000)
        )
    again = await resident.get("/v1/measures", **query)
    assert again.content == first.content
    await asyncio.sleep(hub.settings.catalog_cache_s + 0.1)
    later = listed((await resident.get("/v1/measures", **query)).json(), onboarded.measure_id)
    assert later is not None and later["budget_left"] == 999_000

    # Staff publish through the API: the write drops what was kept, residents see it at once.
    key = await municipality_key(hub)
    published = await publish_measure(hub, key, [onboarded.payment_service_id])
    now_listed = (await resident.get("/v1/measures", **query)).json()
    assert listed(now_listed, published) is not None
