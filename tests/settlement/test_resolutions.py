"""Every resolution of a break, through the paths that already move points: a confirmed credit is
the provider's acknowledgement, a confirmed no-credit goes back by the return rules (after the
provider's own status says so), an accepted difference changes nothing but is noted. Each is
audited, none can happen twice, and the ledger still adds up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from domain.points import ledger_adds_up
from storage.ledger import ledger_moves
from storage.models.audit import AuditEntry
from tests.api.roles import api_key
from tests.providers.support import (
    Provider,
    granted_resident,
    onboard_provider,
    receipt_state,
    request_receipt,
    wait_for_grant,
)
from tests.settlement.support import (
    Line,
    breaks_of,
    credited,
    line_for,
    send,
    statement,
    sync_provider,
    today,
)
from tests.support.stack import Hub


async def resolve(
    hub: Hub, break_id: str, resolution: str, note: str = "事業者に確認済み"
) -> httpx.Response:
    return await hub.http.post(
        f"/v1/support/reconciliation/breaks/{break_id}/resolve",
        json={"resolution": resolution, "note": note},
        headers=await api_key(hub, "support"),
    )


async def break_of(hub: Hub, provider: Provider, receipt_id: str | None) -> str:
    [row] = [r for r in await breaks_of(hub, provider.provider_id) if r.receipt_id == receipt_id]
    return f"brk_{row.id}"


async def adds_up(hub: Hub, measure_id: str) -> bool:
    async with hub.ctx.sessions() as session:
        return ledger_adds_up(await ledger_moves(session, measure_id=measure_id))


async def audited(hub: Hub, break_id: str) -> list[str]:
    async with hub.ctx.sessions() as session:
        rows = await session.execute(
            select(AuditEntry.outcome).where(
                AuditEntry.object_type == "reconciliation_break",
                AuditEntry.object_id == break_id,
                AuditEntry.action == "resolve_break",
            )
        )
        return [r[0] for r in rows]


async def test_an_accepted_difference_is_noted_once(hub: Hub) -> None:
    provider = await sync_provider(hub)
    [changed] = await credited(hub, provider, 1)
    await send(hub, provider, today(), statement([line_for(changed, points=900)]))
    break_id = await break_of(hub, provider, changed.receipt_id)

    unexplained = await resolve(hub, break_id, "accepted_difference", note=" ")
    assert unexplained.status_code == 422
    my_number = await resolve(hub, break_id, "accepted_difference", note="123456789018 の件")
    assert my_number.json()["code"] == "contains_my_number"

    done = await resolve(hub, break_id, "accepted_difference", note="端数処理の差、合意済み")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "resolved"
    assert done.json()["resolution"] == "accepted_difference"
    assert done.json()["note"] == "端数処理の差、合意済み"
    assert done.json()["resolved_by"].startswith("support:")
    again = await resolve(hub, break_id, "provider_confirmed_credit")
    assert again.status_code == 409 and again.json()["code"] == "break_already_resolved"
    assert await audited(hub, break_id) == ["accepted_difference"]
    assert await receipt_state(hub, str(changed.receipt_id)) == "credited"
    shown = await hub.http.get(
        f"/v1/support/receipts/{changed.receipt_id}", headers=await api_key(hub, "support")
    )
    last = shown.json()["timeline"][-1]
    assert last["state"] == "note" and last["actor"].startswith("support:")
    assert last["detail"] == (
        "reconciliation points_mismatch: accepted_difference. 端数処理の差、合意済み"
    )


async def test_a_credit_the_provider_confirms_but_left_off_its_statement(hub: Hub) -> None:
    provider = await sync_provider(hub)
    [left_off] = await credited(hub, provider, 1)
    await send(hub, provider, today(), statement([]))
    break_id = await break_of(hub, provider, left_off.receipt_id)
    done = await resolve(hub, break_id, "provider_confirmed_credit")
    assert done.status_code == 200, done.text
    assert await receipt_state(hub, str(left_off.receipt_id)) == "credited"
    assert await audited(hub, break_id) == ["provider_confirmed_credit"]


async def test_a_credit_the_provider_never_made_goes_back_to_unreceived(hub: Hub) -> None:
    provider = await sync_provider(hub)
    lost, kept = await credited(hub, provider, 2)
    assert lost.receipt_id and kept.receipt_id
    await send(hub, provider, today(), statement([]))
    lost_break = await break_of(hub, provider, lost.receipt_id)
    kept_break = await break_of(hub, provider, kept.receipt_id)

    # The provider's own ledger still holds `kept`: the hub refuses to reverse it.
    refused = await resolve(hub, kept_break, "provider_confirmed_no_credit")
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "resolution_not_allowed"
    assert "credited" in refused.json()["detail"]
    assert await receipt_state(hub, kept.receipt_id) == "credited"

    # The provider lost `lost`: its status check says not_found.
    hub.sim_providers[provider.provider_id].credits.pop(lost.receipt_id)
    done = await resolve(hub, lost_break, "provider_confirmed_no_credit")
    assert done.status_code == 200, done.text
    assert await receipt_state(hub, lost.receipt_id) == "returned"
    points = await lost.resident.points()
    assert points["totals"]["unreceived"] == 1000 and points["totals"].get("credited", 0) == 0
    assert await adds_up(hub, provider.measure_id)
    assert await audited(hub, lost_break) == ["provider_confirmed_no_credit"]

    # The resident asks to receive the points again, and they are credited once more.
    again = await lost.resident.request_receipt([lost.grant_id], lost.registration_id)
    assert again.status_code == 202, again.text
    await wait_for_grant(lost, "credited")
    assert again.json()["receipts"][0]["receipt_id"].endswith("-r2")
    assert await adds_up(hub, provider.measure_id)


async def open_receipt(hub: Hub) -> tuple[Provider, str, object]:
    """A receipt accepted by a pull provider that has stopped pulling: awaiting its answer."""
    provider = await onboard_provider(hub, "pull", sim={"hub_api_url": ""})
    receiving = await granted_resident(hub, provider)
    receipt_id = await request_receipt(receiving)
    for _ in range(200):
        if await receipt_state(hub, receipt_id) == "accepted":
            break
        await asyncio.sleep(0.05)
    assert await receipt_state(hub, receipt_id) == "accepted"
    return provider, receipt_id, receiving


async def test_a_credit_only_the_statement_shows_is_recorded_as_its_acknowledgement(
    hub: Hub,
) -> None:
    provider, receipt_id, receiving = await open_receipt(hub)
    line = Line(receipt_id, 1000, datetime.now(UTC), "PULL-0001")
    response = await send(hub, provider, today(), statement([line]))
    assert response.json()["breaks"] == 1
    [row] = await breaks_of(hub, provider.provider_id)
    assert (row.kind, row.hub_state) == ("missing_at_hub", "accepted")
    done = await resolve(hub, f"brk_{row.id}", "provider_confirmed_credit")
    assert done.status_code == 200, done.text
    await wait_for_grant(receiving, "credited")  # type: ignore[arg-type]
    assert await adds_up(hub, provider.measure_id)
    async with hub.ctx.sessions() as session:
        from storage.models.providers import ProviderAcknowledgement

        ack = await session.get(ProviderAcknowledgement, receipt_id)
        assert ack is not None
        assert (ack.source, ack.status, ack.provider_reference) == (
            "reconciliation",
            "credited",
            "PULL-0001",
        )


async def test_an_open_receipt_the_provider_never_credited_is_returned(hub: Hub) -> None:
    provider, receipt_id, receiving = await open_receipt(hub)
    line = Line(receipt_id, 1000, datetime.now(UTC), "PULL-0002")
    await send(hub, provider, today(), statement([line]))
    [row] = await breaks_of(hub, provider.provider_id)
    done = await resolve(hub, f"brk_{row.id}", "provider_confirmed_no_credit")
    assert done.status_code == 200, done.text
    await wait_for_grant(receiving, "unreceived")  # type: ignore[arg-type]
    assert await receipt_state(hub, receipt_id) == "returned"
    assert await adds_up(hub, provider.measure_id)


async def test_resolutions_that_do_not_fit_the_break_are_refused(hub: Hub) -> None:
    provider = await sync_provider(hub)
    unknown = Line("app_nobody-g1-r1", 700, datetime.now(UTC), "X-1")
    await send(hub, provider, today(), statement([unknown]))
    break_id = await break_of(hub, provider, unknown.receipt_id)
    refused = await resolve(hub, break_id, "provider_confirmed_credit")
    assert refused.status_code == 409 and refused.json()["code"] == "resolution_not_allowed"
    done = await resolve(hub, break_id, "provider_confirmed_no_credit", note="誤記載と確認")
    assert done.status_code == 200, done.text

    from services.reconciliation import nightly

    # No statement for a later day, past its deadline: only a note can close it.
    later = await sync_provider(hub)
    from datetime import timedelta

    from domain.business_days import add_business_days, day_window

    await nightly(
        hub.ctx.sessions,
        now=day_window(add_business_days(today(), 2))[1] + timedelta(seconds=1),
        deadline_days=2,
        lookback_days=3,
        provider_ids=[later.provider_id],
    )
    [missing] = [r for r in await breaks_of(hub, later.provider_id) if r.business_date == today()]
    for resolution in ("provider_confirmed_credit", "provider_confirmed_no_credit"):
        refused = await resolve(hub, f"brk_{missing.id}", resolution)
        assert refused.status_code == 409 and refused.json()["code"] == "resolution_not_allowed"
    done = await resolve(hub, f"brk_{missing.id}", "accepted_difference", note="休業日の扱い")
    assert done.status_code == 200
