"""F5 (docs/reliability.md): a provider that contradicts itself. The simulated provider credits a
receipt and sends a signed `credit.completed`, then a signed `credit.rejected` for the same key;
the test holds both in the simulator's outbox and lets them go in the reverse order, so the
rejection reaches the hub first, as worker kills and webhook retries once arranged it. The
provider's status endpoint settles the contradiction: the receipt ends credited, once; or, when
the grant was meanwhile credited through a second receipt, it is flagged as a double credit at
the provider and the hub credits nothing again."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

from sqlalchemy import select

from simulators.providers import Delivery
from storage.models import Grant, Receipt
from storage.models.audit import AuditEntry
from storage.models.points import LedgerEntry
from tests.providers.support import (
    Provider,
    applied_counts,
    onboard_provider,
    receipt_state,
    receiving_resident,
    request_receipt,
    wait_for_grant,
)
from tests.support.histories import record
from tests.support.stack import Hub
from workflows.application import ApplicationWorkflow

# Every answer contradicted; every answer held long enough for the test to take it out first.
CONTRADICTING = {"ack_contradict_rate": 1.0, "ack_delay_ms": 3_600_000, "seed": 5}


async def held_answers(provider: Provider, receipt_id: str) -> dict[str, Delivery]:
    """Both signed answers for the receipt, taken out of the simulator's outbox: by event type."""
    outbox = provider.sim.outgoing
    for _ in range(400):
        mine = [d for d in outbox if json.loads(d.body)["data"].get("receipt_id") == receipt_id]
        if len(mine) == 2:
            outbox[:] = [d for d in outbox if d not in mine]
            return {json.loads(d.body)["type"]: d for d in mine}
        await asyncio.sleep(0.05)
    raise AssertionError(f"the simulator never queued two answers for {receipt_id}")


def send_now(provider: Provider, delivery: Delivery) -> None:
    """The simulator sends it (signed, with its retries) on its next round."""
    delivery.due = asyncio.get_running_loop().time()
    provider.sim.outgoing.append(delivery)


async def stats(hub: Hub, provider: Provider) -> dict[str, Any]:
    ledger = await hub.sim_ledger(provider.provider_id)
    found: dict[str, Any] = ledger["stats"]
    return found


async def until(check: Any, what: str, seconds: float = 30) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def credited_lines(hub: Hub, grant_id: str) -> list[str | None]:
    async with hub.ctx.sessions() as session:
        rows = await session.execute(
            select(LedgerEntry.receipt_id).where(
                LedgerEntry.grant_id == grant_id, LedgerEntry.to_state == "credited"
            )
        )
        return list(rows.scalars())


async def settlements(hub: Hub, receipt_id: str) -> list[str]:
    async with hub.ctx.sessions() as session:
        rows = await session.execute(
            select(AuditEntry.outcome).where(
                AuditEntry.object_id == receipt_id, AuditEntry.action == "settle_contradiction"
            )
        )
        return list(rows.scalars())


async def rejected_first(hub: Hub) -> tuple[Provider, Any, dict[str, Delivery]]:
    """A receipt the provider credited, its rejection delivered first and recorded."""
    provider = await onboard_provider(hub, "webhook", sim=dict(CONTRADICTING))
    receiving = await receiving_resident(hub, provider)
    assert receiving.receipt_id
    answers = await held_answers(provider, receiving.receipt_id)
    assert json.loads(answers["credit.rejected"].body)["data"]["reason"] == "contradiction"
    send_now(provider, answers["credit.rejected"])
    await wait_for_grant(receiving, "unreceived")
    assert await receipt_state(hub, receiving.receipt_id) == "rejected"
    return provider, receiving, answers


async def test_a_credit_contradicting_a_recorded_rejection_is_settled_by_the_providers_status(
    hub: Hub,
) -> None:
    provider, receiving, answers = await rejected_first(hub)
    receipt_id = receiving.receipt_id
    send_now(provider, answers["credit.completed"])
    await wait_for_grant(receiving, "credited")

    assert await receipt_state(hub, receipt_id) == "credited"
    assert await credited_lines(hub, receiving.grant_id) == [receipt_id]
    assert await settlements(hub, receipt_id) == ["credited"]
    counted = await stats(hub, provider)
    assert counted.get("webhooks_refused", 0) == 0
    assert applied_counts(await hub.sim_ledger(provider.provider_id)) == {receipt_id: 1}
    # The application's workflow took the new states and, every grant credited, ended.
    async with hub.ctx.sessions() as session:
        receipt = await session.get(Receipt, receipt_id)
        assert receipt is not None
        workflow_id = receipt.workflow_id
    handle = hub.client.get_workflow_handle_for(ApplicationWorkflow.run, workflow_id)
    status = await asyncio.wait_for(handle.result(), 30)
    assert status.status == "finished"
    assert [(r.plan.receipt_id, r.state) for r in status.receipts] == [(receipt_id, "credited")]
    await record(handle, "application_contradiction_settled_claimed_in_request")

    # The same credit again is a duplicate; the rejection again changes nothing.
    for kind in ("credit.completed", "credit.rejected"):
        again = answers[kind]
        again.message_id = "msg_" + secrets.token_hex(12)
        send_now(provider, again)
    await until(
        lambda: _delivered(hub, provider, counted.get("webhooks_delivered", 0) + 2),
        "both answers sent again",
    )
    assert await receipt_state(hub, receipt_id) == "credited"
    assert await credited_lines(hub, receiving.grant_id) == [receipt_id]
    assert (await stats(hub, provider)).get("webhooks_refused", 0) == 0  # both taken, none 409


async def _delivered(hub: Hub, provider: Provider, at_least: int) -> bool:
    counted = await stats(hub, provider)
    return bool(
        counted.get("webhooks_delivered", 0) + counted.get("webhooks_refused", 0) >= at_least
    )


async def test_a_contradicted_rejection_whose_grant_was_credited_again_is_flagged_not_credited(
    hub: Hub,
) -> None:
    provider, receiving, answers = await rejected_first(hub)
    first = receiving.receipt_id
    assert first
    # The resident asks again (a new account: the rejection invalidated the first) and the
    # provider, no longer contradicting itself, credits the second receipt.
    provider.sim.config.ack_contradict_rate = 0.0
    provider.sim.config.ack_delay_ms = 0
    account = f"acct-{secrets.token_hex(5)}"
    registered = await receiving.resident.register_service(provider.payment_service_id, account)
    assert registered.status_code == 201, registered.text
    receiving.registration_id = registered.json()["registration_id"]
    second = await request_receipt(receiving)
    assert second.endswith("-r2")
    await wait_for_grant(receiving, "credited")

    refused_before = (await stats(hub, provider)).get("webhooks_refused", 0)
    send_now(provider, answers["credit.completed"])

    async def refused() -> bool:
        return bool((await stats(hub, provider)).get("webhooks_refused", 0) > refused_before)

    await until(refused, "the first receipt's late credit refused")
    assert await receipt_state(hub, first) == "rejected"
    assert await credited_lines(hub, receiving.grant_id) == [second]  # credited once in the hub
    assert await settlements(hub, first) == ["double_credit"]
    async with hub.ctx.sessions() as session:
        receipt = await session.get(Receipt, first)
        grant = await session.get(Grant, receiving.grant_id)
        assert receipt is not None and grant is not None
        assert receipt.last_error_code == "provider_double_credit"
        assert (grant.state, grant.current_receipt_id) == ("credited", second)
    # The provider holds both: the double is at the provider, for support and reconciliation.
    assert applied_counts(await hub.sim_ledger(provider.provider_id)) == {first: 1, second: 1}
