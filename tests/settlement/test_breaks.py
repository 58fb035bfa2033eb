"""Every kind of break, both sides shown; a credit near midnight on the neighbouring business day
is a match, whichever statement comes first; support staff list and filter breaks page by page
and see the receipt's timeline beside the provider's row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.business_days import add_business_days, day_window, previous_business_day
from services.reconciliation import nightly
from tests.api.roles import api_key
from tests.settlement.support import (
    Line,
    breaks_of,
    credited,
    jst,
    line_for,
    move_credit,
    open_kinds,
    send,
    statement,
    sync_provider,
    today,
)
from tests.support.stack import Hub


async def test_each_kind_of_break_is_found_with_both_sides(hub: Hub) -> None:
    provider = await sync_provider(hub)
    matched, changed, dropped = await credited(hub, provider, 3)
    unknown = Line("app_unknown-g1-r1", 500, datetime.now(UTC), "ref-unknown")
    body = statement([line_for(matched), line_for(changed, points=1100), unknown])
    response = await send(hub, provider, today(), body)
    assert response.status_code == 200, response.text
    assert (response.json()["matched"], response.json()["breaks"]) == (1, 3)
    assert response.json()["new_breaks"] == 3
    assert open_kinds(await breaks_of(hub, provider.provider_id)) == {
        changed.receipt_id: "points_mismatch",
        dropped.receipt_id: "missing_at_provider",
        unknown.receipt_id: "missing_at_hub",
    }

    support = await api_key(hub, "support")
    listed = await hub.http.get(
        "/v1/support/reconciliation/breaks",
        params={"provider_id": provider.provider_id, "status": "open"},
        headers=support,
    )
    assert listed.status_code == 200, listed.text
    by_kind = {b["kind"]: b for b in listed.json()["items"]}
    assert by_kind["points_mismatch"]["hub"] == {"state": "credited", "points": 1000}
    assert by_kind["points_mismatch"]["provider"]["points"] == 1100
    assert by_kind["points_mismatch"]["provider"]["provider_reference"].startswith("ref-")
    assert by_kind["missing_at_provider"]["hub"] == {"state": "credited", "points": 1000}
    assert by_kind["missing_at_provider"]["provider"] is None
    assert by_kind["missing_at_hub"]["hub"] == {"state": None, "points": None}
    assert by_kind["missing_at_hub"]["provider"]["points"] == 500
    assert {b["business_date"] for b in listed.json()["items"]} == {today().isoformat()}
    assert listed.json()["next_cursor"] is None

    first = await hub.http.get(
        "/v1/support/reconciliation/breaks",
        params={"provider_id": provider.provider_id, "limit": 2},
        headers=support,
    )
    page = first.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await hub.http.get(
        "/v1/support/reconciliation/breaks",
        params={"provider_id": provider.provider_id, "limit": 2, "cursor": page["next_cursor"]},
        headers=support,
    )
    assert len(rest.json()["items"]) == 1 and rest.json()["next_cursor"] is None
    seen = {b["break_id"] for b in page["items"]} | {b["break_id"] for b in rest.json()["items"]}
    assert len(seen) == 3
    only = await hub.http.get(
        "/v1/support/reconciliation/breaks",
        params={"provider_id": provider.provider_id, "kind": "missing_at_hub"},
        headers=support,
    )
    assert [b["receipt_id"] for b in only.json()["items"]] == [unknown.receipt_id]

    detail = await hub.http.get(
        f"/v1/support/reconciliation/breaks/{by_kind['points_mismatch']['break_id']}",
        headers=support,
    )
    assert detail.status_code == 200, detail.text
    shown = detail.json()
    assert shown["break"]["provider"]["points"] == 1100
    receipt = shown["receipt"]
    assert receipt["receipt_id"] == changed.receipt_id and receipt["state"] == "credited"
    assert [e["state"] for e in receipt["timeline"]] == ["requested", "crediting", "credited"]
    assert receipt["mykey_id"].startswith("****") and "acct-" not in receipt["account_id"]
    assert set(shown["allowed_resolutions"]) == {
        "provider_confirmed_credit",
        "provider_confirmed_no_credit",
        "accepted_difference",
    }
    missing = await hub.http.get(
        f"/v1/support/reconciliation/breaks/{by_kind['missing_at_hub']['break_id']}",
        headers=support,
    )
    assert missing.json()["receipt"] is None
    assert missing.json()["allowed_resolutions"] == [
        "provider_confirmed_no_credit",
        "accepted_difference",
    ]
    nothing = await hub.http.get("/v1/support/reconciliation/breaks/brk_0", headers=support)
    assert nothing.status_code == 404

    # Resolving a break of the first page of open ones does not move the next page: the cursor
    # is the last break shown, not an offset, so the third open break is neither skipped nor
    # shown twice.
    open_only: dict[str, str | int] = {
        "provider_id": provider.provider_id,
        "status": "open",
        "limit": 2,
    }
    url = "/v1/support/reconciliation/breaks"
    first_open = (await hub.http.get(url, params=open_only, headers=support)).json()
    resolved = await hub.http.post(
        f"{url}/{first_open['items'][0]['break_id']}/resolve",
        json={"resolution": "accepted_difference", "note": "事業者と差異を確認済み"},
        headers=support,
    )
    assert resolved.status_code == 200, resolved.text
    rest_open = await hub.http.get(
        url, params={**open_only, "cursor": first_open["next_cursor"]}, headers=support
    )
    assert [b["break_id"] for b in rest_open.json()["items"]] == [
        b["break_id"] for b in rest.json()["items"]
    ]
    forged = await hub.http.get(url, params={"cursor": "brk_1"}, headers=support)
    assert (forged.status_code, forged.json()["code"]) == (422, "invalid_cursor")


async def test_a_day_without_a_statement_after_its_deadline_is_a_break(hub: Hub) -> None:
    provider = await sync_provider(hub)
    await credited(hub, provider, 1)
    day = today()
    before = day_window(add_business_days(day, 2))[1] - timedelta(seconds=1)
    summary = await nightly(
        hub.ctx.sessions,
        now=before,
        deadline_days=2,
        lookback_days=5,
        provider_ids=[provider.provider_id],
    )
    assert summary.new_breaks == 0  # the day's statement is not due yet
    after = before + timedelta(seconds=2)
    summary = await nightly(
        hub.ctx.sessions,
        now=after,
        deadline_days=2,
        lookback_days=5,
        provider_ids=[provider.provider_id],
    )
    rows = await breaks_of(hub, provider.provider_id)
    [missing] = [r for r in rows if r.business_date == day]
    assert (missing.kind, missing.status, missing.hub_points) == ("statement_missing", "open", 1000)
    assert summary.new_breaks >= 1

    late = await send(hub, provider, day, statement([]))  # it arrives at last (and is empty)
    assert late.status_code == 200, late.text
    rows = await breaks_of(hub, provider.provider_id)
    kinds = {(r.kind, r.status, r.resolution) for r in rows if r.business_date == day}
    assert ("statement_missing", "resolved", "cleared") in kinds
    assert ("missing_at_provider", "open", None) in kinds


async def test_a_credit_near_midnight_on_the_neighbouring_day_is_a_match(hub: Hub) -> None:
    provider = await sync_provider(hub)
    late, early, usual = await credited(hub, provider, 3)
    day = today()
    before = previous_business_day(day)
    assert late.receipt_id and early.receipt_id
    # The hub recorded `late` seconds before midnight; the provider booked it just after.
    await move_credit(hub, late.receipt_id, jst(before, 23, 59, 50))
    # The hub recorded `early` just after midnight; the provider booked it just before.
    await move_credit(hub, early.receipt_id, jst(before, 23, 59, 58) + timedelta(seconds=7))

    first = await send(hub, provider, before, statement([line_for(early, at=jst(before, 23, 59))]))
    assert first.status_code == 200, first.text
    assert open_kinds(await breaks_of(hub, provider.provider_id)) == {
        late.receipt_id: "missing_at_provider"  # until the next day's statement shows it
    }
    second = await send(
        hub,
        provider,
        day,
        statement([line_for(late, at=jst(day, 0, 0, 5)), line_for(usual)]),
    )
    assert second.status_code == 200, second.text
    assert second.json()["breaks"] == 0 and second.json()["matched"] == 2
    rows = await breaks_of(hub, provider.provider_id)
    assert open_kinds(rows) == {}
    assert [(r.receipt_id, r.resolution) for r in rows] == [(late.receipt_id, "cleared")]
