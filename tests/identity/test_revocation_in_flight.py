"""Revoking MyKey IDs while their receipts are with a slow provider, over the whole hub.

Every point ends in exactly one of `credited` or `forfeited`: a credit the provider confirmed
stays credited, everything else is forfeited and never restored (FAQ: その他). The simulator
credited exactly the receipts the hub shows as credited, and the points ledger adds up.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime

import pytest
from sqlalchemy import select
from temporalio.service import RPCError

from domain.points import ledger_adds_up
from simulators.resident_app import ResidentApp
from storage.ledger import ledger_moves
from storage.models import Grant, LedgerEntry, Receipt
from tests.identity.stack_support import enrolled, grant_of, wait_for_grant, workflow_result
from tests.support.scenario import (
    add_provider,
    ensure_municipality,
    municipality_key,
    publish_measure,
)
from tests.support.stack import Hub

FINAL = {"credited", "forfeited"}


async def test_revocation_during_in_flight_receipts(hub: Hub) -> None:
    # One credit a second, each taking 0.8 s: when the MyKey IDs are revoked, the first receipt
    # is with the provider and the others still wait for their turn.
    await ensure_municipality(hub)
    provider_id, service_id = await add_provider(hub, rate_limit_per_s=1)
    key = await municipality_key(hub)
    measures = [await publish_measure(hub, key, [service_id]) for _ in range(2)]
    requested_measure, unreceived_measure = measures
    residents = [hub.resident() for _ in range(4)]
    bystander = hub.resident()
    everyone = [*residents, bystander]
    grants: dict[str, dict[str, str]] = {}  # MyKey ID -> measure -> grant
    registrations: dict[str, str] = {}
    for n, resident in enumerate(everyone):
        registration = await enrolled(hub, resident, service_id, f"rev-{n:04d}")
        mykey_id = str(resident.mykey_id)
        registrations[mykey_id] = registration
        grants[mykey_id] = {m: await grant_of(resident, m) for m in measures}

    hub.sim_providers[provider_id].config.latency_ms = 800

    async def request(resident: ResidentApp) -> None:
        mykey_id = str(resident.mykey_id)
        response = await resident.request_receipt(
            [grants[mykey_id][requested_measure]], registrations[mykey_id]
        )
        assert response.status_code == 202, response.text

    # All at once: asked one after another on a busy machine, the first ones could be credited
    # (one a second) before the last was asked for, and none would be in flight to revoke.
    await asyncio.gather(*(request(r) for r in everyone))

    async def revoke(resident: ResidentApp) -> dict:
        response = await hub.http.post(
            f"/v1/operator/mykeys/{resident.mykey_id}/revoke",
            json={"reason": "不正取得の疑いで失効"},
            headers=hub.operator_headers,
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    revocations = await asyncio.gather(*(revoke(r) for r in residents))
    for resident in residents:  # every application workflow of a revoked MyKey ID ends
        status = await workflow_result(hub, requested_measure, str(resident.mykey_id))
        assert status.status == "finished"
        assert {g.state for g in status.grants} <= FINAL
        # Decided in the apply request and never asked to receive: no workflow ever ran for
        # it, and the revocation forfeited its grant in the database (checked below).
        with pytest.raises(RPCError, match="not found"):
            await workflow_result(hub, unreceived_measure, str(resident.mykey_id))
    await wait_for_grant(
        bystander, grants[str(bystander.mykey_id)][requested_measure], {"credited"}
    )
    hub.sim_providers[provider_id].config.latency_ms = 0

    revoked_ids = {str(r.mykey_id) for r in residents}
    async with hub.ctx.sessions() as session:
        rows = (
            await session.execute(select(Grant).where(Grant.measure_id.in_(measures)))
        ).scalars()
        state = {g.id: g.state for g in rows if g.mykey_id in revoked_ids}
        terminal_lines: dict[str, list[str]] = defaultdict(list)
        finished_at: dict[str, datetime] = {}
        for line in (
            await session.execute(select(LedgerEntry).where(LedgerEntry.grant_id.in_(state)))
        ).scalars():
            if line.to_state in FINAL:
                terminal_lines[line.grant_id].append(line.to_state)
                finished_at[line.grant_id] = line.at
        receipts = list(
            (
                await session.execute(select(Receipt).where(Receipt.provider_id == provider_id))
            ).scalars()
        )
        ledgers = [await ledger_moves(session, measure_id=m) for m in measures]

    # Every point of a revoked MyKey ID is credited or forfeited, by exactly one ledger line.
    assert set(state.values()) <= FINAL, state
    assert {g: [s] for g, s in state.items()} == dict(terminal_lines)
    for mykey_id in revoked_ids:  # never asked to receive: forfeited
        assert state[grants[mykey_id][unreceived_measure]] == "forfeited"
    for revocation in revocations:
        assert set(revocation["forfeited_grant_ids"]) <= set(state)

    # The provider holds exactly the credits the hub shows as credited, each applied once.
    ledger = await hub.sim_ledger(provider_id)
    applied = {c["receipt_id"] for c in ledger["credits"] if c["applied"] == 1}
    assert all(c["applied"] <= 1 for c in ledger["credits"])
    assert applied == {r.id for r in receipts if r.state == "credited"}
    for receipt in receipts:
        if receipt.mykey_id in revoked_ids:
            expected = "credited" if receipt.state == "credited" else "forfeited"
            assert state[receipt.grant_id] == expected, (receipt.id, receipt.state)

    assert all(ledger_adds_up(moves) for moves in ledgers)
    outcome = []
    for resident, revocation in zip(residents, revocations, strict=True):
        grant_id = grants[str(resident.mykey_id)][requested_measure]
        late = finished_at[grant_id] > datetime.fromisoformat(revocation["changed_at"])
        outcome.append(state[grant_id])
        print(f"in flight at revocation: {state[grant_id]}{' after it' if late else ''}")
    assert "forfeited" in outcome  # receipts still waiting for the provider were forfeited

    for resident in residents:
        login = await resident.login()
        assert (login.status_code, login.json()["code"]) == (403, "mykey_revoked")
    bystander_points = await bystander.points()
    assert bystander_points["totals"]["credited"] == 1000
    assert bystander_points["totals"]["unreceived"] == 1000
