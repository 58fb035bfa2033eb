"""The Temporal Schedule that runs the nightly reconciliation (cron in Asia/Tokyo), kept by the
worker: created at start when missing, its spec updated when `HUB_RECONCILIATION_CRON` changed."""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from workflows.reconciliation import NightlyInput, NightlyReconciliationWorkflow

log = logging.getLogger(__name__)
TIME_ZONE = "Asia/Tokyo"


def schedule_id(task_queue: str) -> str:
    return f"reconciliation-nightly-{task_queue}"


def nightly_schedule(task_queue: str, cron: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            NightlyReconciliationWorkflow.run,
            NightlyInput(),
            id=f"reconciliation-{task_queue}",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[cron], time_zone_name=TIME_ZONE),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=12)
        ),
        state=ScheduleState(note=note_for(cron)),
    )


def note_for(cron: str) -> str:
    """The server keeps a cron as calendars: the note remembers what was asked for."""
    return f"cron {cron} ({TIME_ZONE})"


async def ensure_schedule(client: Client, task_queue: str, cron: str) -> None:
    wanted = nightly_schedule(task_queue, cron)
    try:
        await client.create_schedule(schedule_id(task_queue), wanted)
        log.info("reconciliation schedule created", extra={"cron": cron, "zone": TIME_ZONE})
        return
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(schedule_id(task_queue))
    current = (await handle.describe()).schedule
    if current.state.note != note_for(cron):

        def updated(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=wanted)

        await handle.update(updated)
        log.info("reconciliation schedule updated", extra={"cron": cron})
