"""The nightly reconciliation runs from a Temporal Schedule kept by the worker (cron in JST):
triggered here, it reconciles a provider's previous business day, marks statements overdue and
logs new breaks for the alert."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from activities.reconciliation import ReconcileResult
from domain.business_days import previous_business_day
from services.reconciliation_schedule import TIME_ZONE, note_for, schedule_id
from storage.models import PaymentProvider
from tests.settlement.support import (
    breaks_of,
    credited,
    jst,
    move_credit,
    open_kinds,
    send,
    statement,
    sync_provider,
    today,
)
from tests.support.histories import record
from tests.support.stack import Hub


async def test_the_schedule_reconciles_the_previous_business_day(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    handle = hub.client.get_schedule_handle(schedule_id(hub.settings.task_queue))
    described = await handle.describe()
    assert described.schedule.state.note == note_for(hub.settings.reconciliation_cron)
    assert described.schedule.spec.calendars  # the server keeps the cron as calendars
    assert described.schedule.spec.time_zone_name == TIME_ZONE

    provider = await sync_provider(hub)
    [late] = await credited(hub, provider, 1)
    day = previous_business_day(today())
    assert (await send(hub, provider, day, statement([]))).status_code == 200
    # A credit the hub recorded on that day after the provider's statement came in.
    await move_credit(hub, str(late.receipt_id), jst(day, 15))
    async with hub.ctx.sessions.begin() as session:
        await session.execute(
            update(PaymentProvider)
            .where(PaymentProvider.id == provider.provider_id)
            .values(created_at=datetime.now(UTC) - timedelta(days=10))
        )

    caplog.set_level(logging.WARNING, logger="services.reconciliation")
    await handle.trigger()
    run = None
    for _ in range(300):
        recent = (await handle.describe()).info.recent_actions
        if recent:
            run = recent[-1].action
            break
        await asyncio.sleep(0.1)
    assert run is not None
    workflow_id = run.workflow_id  # type: ignore[attr-defined]
    result = await hub.client.get_workflow_handle(workflow_id, result_type=ReconcileResult).result()
    await record(hub.client.get_workflow_handle(workflow_id), "nightly_reconciliation")
    assert result.business_date == day.isoformat()
    assert result.new_breaks >= 1
    rows = await breaks_of(hub, provider.provider_id)
    assert open_kinds([r for r in rows if r.business_date == day]) == {
        late.receipt_id: "missing_at_provider"
    }
    # Onboarded ten days ago, the provider never sent the statements of the days before: each
    # one past its deadline is a break of its own.
    assert {r.kind for r in rows if r.business_date < day} == {"statement_missing"}
    assert any(
        r.getMessage() == "reconciliation found new breaks"
        and getattr(r, "provider", None) == provider.provider_id
        for r in caplog.records
    )
