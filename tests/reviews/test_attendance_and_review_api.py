"""Issue walk-through over HTTP: an event measure with two events; a resident registers, reports
one event on time (points granted), reports the other late (pending review); staff approve; the
points appear as unreceived. Review-required applications go through the same queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.points import ledger_adds_up
from storage.ledger import ledger_moves
from tests.support.scenario import Onboarded, onboard
from tests.support.stack import Hub


def at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


async def create_event(
    hub: Hub, setup: Onboarded, title: str, start: timedelta, end: timedelta, points: int
) -> dict[str, Any]:
    response = await hub.http.post(
        f"/v1/municipalities/{setup.municipality_code}/measures/{setup.measure_id}/events",
        json={"title": title, "starts_at": at(start), "ends_at": at(end), "points": points},
        headers=setup.staff,
    )
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()
    return event


async def event_measure(hub: Hub, **overrides: Any) -> Onboarded:
    terms: dict[str, Any] = {
        "kind": "event",
        "points_per_grant": 100,
        "per_person_cap": 10_000,
        "late_report_days": 7,
        "opens_at": at(timedelta(days=-3)),
    }
    return await onboard(hub, **{**terms, **overrides})


async def test_event_reports_on_time_and_late_with_staff_approval(hub: Hub) -> None:
    setup = await event_measure(hub)
    cleanup = await create_event(
        hub, setup, "河川清掃", timedelta(hours=-1), timedelta(hours=1), 300
    )
    festival = await create_event(
        hub, setup, "防災訓練", timedelta(days=-2), timedelta(days=-1), 500
    )
    resident = hub.resident()
    assert (await resident.login()).status_code == 201

    unregistered = await resident.post(
        "/v1/me/attendance-reports", {"qr_payload": cleanup["qr_payload"]}
    )
    assert unregistered.status_code == 409
    assert unregistered.json()["code"] == "not_registered"

    registered = await resident.apply(setup.measure_id)
    assert registered.status_code == 201, registered.text
    assert registered.json()["status"] == "registered" and registered.json()["grants"] == []

    on_time = await resident.post(
        "/v1/me/attendance-reports", {"qr_payload": cleanup["qr_payload"]}
    )
    assert on_time.status_code == 201, on_time.text
    assert on_time.json()["status"] == "accepted"
    assert on_time.json()["grant"]["points"] == 300

    again = await resident.post("/v1/me/attendance-reports", {"qr_payload": cleanup["qr_payload"]})
    assert again.status_code == 409 and again.json()["code"] == "already_reported"

    late = await resident.post("/v1/me/attendance-reports", {"qr_payload": festival["qr_payload"]})
    assert late.status_code == 201, late.text
    assert late.json()["status"] == "pending_review" and late.json()["grant"] is None

    points = await resident.points()
    assert points["totals"]["unreceived"] == 300

    queue = await hub.http.get(
        f"/v1/municipalities/{setup.municipality_code}/reviews?status=pending&measure_id="
        f"{setup.measure_id}",
        headers=setup.staff,
    )
    assert queue.status_code == 200, queue.text
    [review] = queue.json()["items"]
    assert review["kind"] == "late_report"
    reports = (await resident.get("/v1/me/attendance-reports")).json()["items"]
    assert [(r["event_id"], r["status"], r["timing"], r["review_id"]) for r in reports] == [
        (late.json()["event_id"], "pending_review", "late", review["review_id"]),
        (on_time.json()["event_id"], "accepted", "on_time", None),
    ]
    assert reports[1]["grant_id"] == on_time.json()["grant"]["grant_id"]
    assert review["event"]["title"] == "防災訓練"
    assert review["late_by_s"] > 20 * 3600  # a day after the event, minus the grace period
    decision_url = (
        f"/v1/municipalities/{setup.municipality_code}/reviews/{review['review_id']}/decision"
    )

    approved = await hub.http.post(decision_url, json={"decision": "approve"}, headers=setup.staff)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["changed"] is True
    assert approved.json()["grant"]["points"] == 500

    repeated = await hub.http.post(decision_url, json={"decision": "approve"}, headers=setup.staff)
    assert repeated.status_code == 200 and repeated.json()["changed"] is False
    conflicting = await hub.http.post(
        decision_url, json={"decision": "reject", "reason": "勘違い"}, headers=setup.staff
    )
    assert conflicting.status_code == 409
    assert conflicting.json()["code"] == "review_already_decided"

    points = await resident.points()
    assert points["totals"]["unreceived"] == 800
    assert sorted(g["points"] for g in points["grants"]) == [300, 500]
    async with hub.ctx.sessions() as session:
        assert ledger_adds_up(await ledger_moves(session, measure_id=setup.measure_id))


async def test_reports_outside_the_windows_are_refused(hub: Hub) -> None:
    setup = await event_measure(hub, late_report_days=0)
    old = await create_event(hub, setup, "昨日の講座", timedelta(days=-2), timedelta(days=-1), 100)
    later = await create_event(hub, setup, "来週の講座", timedelta(days=6), timedelta(days=7), 100)
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    assert (await resident.apply(setup.measure_id)).status_code == 201
    closed = await resident.post("/v1/me/attendance-reports", {"qr_payload": old["qr_payload"]})
    assert closed.status_code == 409 and closed.json()["code"] == "report_window_closed"
    early = await resident.post("/v1/me/attendance-reports", {"qr_payload": later["qr_payload"]})
    assert early.status_code == 409 and early.json()["code"] == "event_not_started"
    forged = old["qr_payload"][:-3] + ("AAA" if not old["qr_payload"].endswith("AAA") else "BBB")
    invalid = await resident.post("/v1/me/attendance-reports", {"qr_payload": forged})
    assert invalid.status_code == 422 and invalid.json()["code"] == "invalid_qr"


async def test_review_required_applications_wait_for_staff(hub: Hub) -> None:
    setup = await onboard(hub, review_required=True)
    approved_resident, rejected_resident = hub.resident(), hub.resident()
    for resident in (approved_resident, rejected_resident):
        assert (await resident.login()).status_code == 201
        applied = await resident.apply(setup.measure_id)
        assert applied.status_code == 201 and applied.json()["status"] == "pending_review"
        assert applied.json()["grants"] == []
    queue = await hub.http.get(
        f"/v1/municipalities/{setup.municipality_code}/reviews?measure_id={setup.measure_id}",
        headers=setup.staff,
    )
    first, second = queue.json()["items"]
    assert {first["kind"], second["kind"]} == {"application"}
    base = f"/v1/municipalities/{setup.municipality_code}/reviews"

    no_reason = await hub.http.post(
        f"{base}/{second['review_id']}/decision", json={"decision": "reject"}, headers=setup.staff
    )
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "reason_required"
    my_number = await hub.http.post(
        f"{base}/{second['review_id']}/decision",
        json={"decision": "reject", "reason": "番号 1234 5678 9018 を確認"},
        headers=setup.staff,
    )
    assert my_number.status_code == 422 and my_number.json()["code"] == "contains_my_number"

    assert (
        await hub.http.post(
            f"{base}/{first['review_id']}/decision",
            json={"decision": "approve"},
            headers=setup.staff,
        )
    ).status_code == 200
    rejected = await hub.http.post(
        f"{base}/{second['review_id']}/decision",
        json={"decision": "reject", "reason": "対象外の住所"},
        headers=setup.staff,
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"

    totals = [
        (await r.points())["totals"]["unreceived"] for r in (approved_resident, rejected_resident)
    ]
    assert sorted(totals) == [0, 1000]
    # The rejected application's workflow has ended: the decision still stands.
    changed_mind = await hub.http.post(
        f"{base}/{second['review_id']}/decision", json={"decision": "approve"}, headers=setup.staff
    )
    assert changed_mind.status_code == 409
    assert changed_mind.json()["code"] == "review_already_decided"
    repeated = await hub.http.post(
        f"{base}/{second['review_id']}/decision",
        json={"decision": "reject", "reason": "対象外の住所"},
        headers=setup.staff,
    )
    assert repeated.status_code == 200 and repeated.json()["changed"] is False
    other_municipality = await hub.http.post(
        f"/v1/municipalities/011002/reviews/{first['review_id']}/decision",
        json={"decision": "approve"},
        headers=setup.staff,
    )
    assert other_municipality.status_code == 404
