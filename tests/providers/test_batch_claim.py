"""A `batch_file` receipt is queued in its claim's own transaction: when the resident's request is
answered, the receipt is accepted, its grant crediting and its row on the provider's queue, with
the ledger lines and audit entries of each move; the workflow schedules no credit activity and
only waits for the result file. A claim run again after a crash returns the same receipts. The
result file's answer is applied as it is ingested: the workflow learns the outcome and records
nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType

from adapters.providers.batch_files import ResultRow
from domain.receipts import ReceiptState
from storage import receipts as stored_receipts
from storage.models import Grant, LedgerEntry, Receipt, ReceiptEvent
from storage.models.audit import AuditEntry
from storage.models.providers import CreditBatchItem
from tests.providers.support import onboard_provider, receiving_resident, wait_for_grant
from tests.providers.test_batch_files import dirs, drop_results
from tests.support.histories import record
from tests.support.stack import Hub


async def test_a_batch_receipt_is_queued_with_its_claim_and_a_second_claim_changes_nothing(
    hub: Hub, session_tmp: Path
) -> None:
    provider = await onboard_provider(hub, "batch", tmp_dir=session_tmp, cutoff_s=600)
    provider.sim.config.mode = "sync"  # the simulated side never answers: the receipt waits
    receiving = await receiving_resident(hub, provider)
    receipt_id = receiving.receipt_id
    assert receipt_id is not None

    async with hub.ctx.sessions() as session:
        receipt = await session.get(Receipt, receipt_id)
        grant = await session.get(Grant, receiving.grant_id)
        queued = (
            await session.execute(
                select(CreditBatchItem).where(CreditBatchItem.receipt_id == receipt_id)
            )
        ).scalar_one()
        events = (
            await session.execute(
                select(ReceiptEvent.state)
                .where(ReceiptEvent.receipt_id == receipt_id)
                .order_by(ReceiptEvent.id)
            )
        ).scalars()
        moves = (
            await session.execute(
                select(LedgerEntry.from_state, LedgerEntry.to_state)
                .where(LedgerEntry.grant_id == receiving.grant_id)
                .order_by(LedgerEntry.id)
            )
        ).all()
        audited = (
            await session.execute(
                select(AuditEntry.action).where(
                    AuditEntry.object_type == "receipt", AuditEntry.object_id == receipt_id
                )
            )
        ).scalars()
        assert receipt is not None and grant is not None
        assert (receipt.state, receipt.attempts, grant.state) == ("accepted", 1, "crediting")
        assert queued.provider_id == provider.provider_id and queued.batch_id is None
        assert list(events) == ["requested", "crediting", "accepted"]
        assert [tuple(m) for m in moves] == [
            (None, "unreceived"),
            ("unreceived", "receipt_requested"),
            ("receipt_requested", "crediting"),
        ]
        assert {"claim_receipts", "enqueue_credit"} <= set(audited)
        workflow_id = receipt.workflow_id
        mykey_id = receipt.mykey_id

    handle = hub.client.get_workflow_handle(workflow_id)
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert "credit" not in scheduled
    steps_at_claim = markers(history.events)

    # The claim's step committed and the worker died before the workflow saw it: the step runs
    # again and must hand back the same queued receipt, writing nothing.
    async with hub.ctx.sessions.begin() as session:
        [plan] = await stored_receipts.request_receipts(
            session,
            mykey_id=mykey_id,
            grant_ids=[receiving.grant_id],
            registration_id=receiving.registration_id,
            workflow_id=workflow_id,
            now=hub.ctx.clock(),
            actor=f"resident:{mykey_id}",
            queue_batch=True,
        )
    assert (plan.receipt_id, plan.queued) == (receipt_id, True)
    async with hub.ctx.sessions() as session:
        receipts_of_grant = (
            await session.execute(select(Receipt.id).where(Receipt.grant_id == receiving.grant_id))
        ).scalars()
        items = (
            await session.execute(
                select(CreditBatchItem.receipt_id).where(CreditBatchItem.receipt_id == receipt_id)
            )
        ).scalars()
        assert list(receipts_of_grant) == [receipt_id]
        assert list(items) == [receipt_id]
        again = await session.get(Receipt, receipt_id)
        assert again is not None and again.state == ReceiptState.ACCEPTED.value

    # The provider answers in a result file: credited by the ingestion's own transaction, and
    # the workflow ends on the signal without a database step of its own.
    _, inbox = dirs(provider)
    drop_results(inbox, "results-claimed", [ResultRow(receipt_id, "credited", None, "ref-77")])
    await wait_for_grant(receiving, "credited")
    await handle.result()
    await record(handle, "application_batch_queued_claimed_in_request")
    assert markers((await handle.fetch_history()).events) == steps_at_claim
    async with hub.ctx.sessions() as session:
        credited = await session.get(Receipt, receipt_id)
        last = (
            await session.execute(
                select(LedgerEntry.from_state, LedgerEntry.to_state, LedgerEntry.actor)
                .where(LedgerEntry.grant_id == receiving.grant_id)
                .order_by(LedgerEntry.id.desc())
                .limit(1)
            )
        ).one()
        audited_outcome = (
            await session.execute(
                select(AuditEntry).where(
                    AuditEntry.action == "record_credit_outcome",
                    AuditEntry.object_id == receipt_id,
                )
            )
        ).scalar_one()
        timeline = (
            await session.execute(
                select(ReceiptEvent.state, ReceiptEvent.actor)
                .where(ReceiptEvent.receipt_id == receipt_id)
                .order_by(ReceiptEvent.id)
            )
        ).all()
    assert credited is not None
    assert (credited.state, credited.provider_reference, credited.finished_at is not None) == (
        "credited",
        "ref-77",
        True,
    )
    by_provider = f"provider:{provider.provider_id}"
    assert tuple(last) == ("crediting", "credited", by_provider)
    # written by the dispatcher's round, many rows to a statement: the same entry and timeline
    # line as one written alone, naming the dispatcher's workflow as its origin
    entry = audited_outcome
    assert (entry.outcome, entry.actor, entry.object_type) == ("credited", by_provider, "receipt")
    assert entry.request_id == f"batch-dispatch-{provider.provider_id}"
    assert entry.detail == '{"reason":null,"status":"credited"}'
    assert [tuple(t) for t in timeline][-2:] == [
        ("accepted", f"provider-worker:{provider.provider_id}"),
        ("credited", by_provider),
    ]


def markers(events: Any) -> int:
    """Local activities (database steps) the workflow has run so far."""
    return sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED)
