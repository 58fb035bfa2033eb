"""Measures over HTTP: draft, edit while draft, publish, close, list; each refusal has its code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.municipal.conftest import Staff
from tests.support.scenario import ensure_municipality, municipality_key

NOW = datetime.now(UTC)


def at(days: float) -> str:
    return (NOW + timedelta(days=days)).isoformat()


async def test_a_measure_goes_from_draft_to_published_to_closed(staff: Staff) -> None:
    body = staff.body(
        title="地域イベント参加ポイント",
        kind="event",
        points_per_grant=500,
        per_person_cap=3000,
        budget_points=300_000,
        late_report_days=7,
        review_required=True,
    )
    created = await staff.post("/measures", body)
    assert created.status_code == 201, created.text
    measure = created.json()
    assert measure["state"] == "draft"
    for name in ("title", "kind", "points_per_grant", "per_person_cap", "budget_points"):
        assert measure[name] == body[name]
    assert (measure["late_report_days"], measure["review_required"]) == (7, True)
    assert measure["budget_left"] == 300_000
    measure_id = measure["measure_id"]

    edited = await staff.patch(
        f"/measures/{measure_id}", {"title": "参加ポイント", "points_per_grant": 600}
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["title"], edited.json()["points_per_grant"]) == ("参加ポイント", 600)

    published = await staff.post(f"/measures/{measure_id}/publish")
    assert published.status_code == 200 and published.json()["state"] == "published"
    again = await staff.post(f"/measures/{measure_id}/publish")
    assert again.status_code == 200 and again.json()["state"] == "published"

    refused = await staff.patch(f"/measures/{measure_id}", {"title": "変更"})
    assert (refused.status_code, refused.json()["code"]) == (409, "measure_not_draft")

    closed = await staff.post(f"/measures/{measure_id}/close")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    reopened = await staff.post(f"/measures/{measure_id}/publish")
    assert (reopened.status_code, reopened.json()["code"]) == (409, "invalid_measure_state")

    listed = await staff.get("/measures", state="closed")
    assert measure_id in [m["measure_id"] for m in listed.json()["items"]]
    drafts = await staff.get("/measures", state="draft")
    assert measure_id not in [m["measure_id"] for m in drafts.json()["items"]]


async def test_a_draft_cannot_be_closed(staff: Staff) -> None:
    measure_id = await staff.draft()
    response = await staff.post(f"/measures/{measure_id}/close")
    assert (response.status_code, response.json()["code"]) == (409, "invalid_measure_state")


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"closes_at": at(-2)}, "closes_at must be after opens_at"),
        ({"receipt_deadline": at(10)}, "receipt_deadline must not be before closes_at"),
        ({"per_person_cap": 999}, "per_person_cap must be at least points_per_grant"),
        ({"auto_grant": True}, "auto_grant needs target_list_only"),
        ({"late_report_days": 3}, "late_report_days applies to event measures only"),
        (
            {"kind": "event", "target_list_only": True, "auto_grant": True},
            "auto_grant applies to application measures only",
        ),
    ],
)
async def test_contradictory_measures_are_refused_with_a_clear_reason(
    staff: Staff, overrides: dict[str, Any], detail: str
) -> None:
    response = await staff.post("/measures", staff.body(**overrides))
    assert response.status_code == 422, response.text
    assert (response.json()["code"], response.json()["detail"]) == ("invalid_measure", detail)


async def test_an_edit_is_checked_like_a_new_measure(staff: Staff) -> None:
    measure_id = await staff.draft()
    response = await staff.patch(f"/measures/{measure_id}", {"closes_at": at(-5)})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_measure")


async def test_unknown_payment_services_and_my_numbers_are_refused(staff: Staff) -> None:
    body = staff.body()
    body["payment_services"][0]["payment_service_id"] = "no-such-pay"
    response = await staff.post("/measures", body)
    assert (response.status_code, response.json()["code"]) == (422, "unknown_payment_service")
    response = await staff.post("/measures", staff.body(description="個人番号 1234 5678 9018"))
    assert (response.status_code, response.json()["code"]) == (422, "contains_my_number")


async def test_a_measure_whose_window_is_over_cannot_be_published(staff: Staff) -> None:
    measure_id = await staff.draft(opens_at=at(-10), closes_at=at(-1))
    response = await staff.post(f"/measures/{measure_id}/publish")
    assert (response.status_code, response.json()["code"]) == (422, "invalid_measure")


async def test_municipality_codes_must_pass_the_check_digit(staff: Staff) -> None:
    response = await staff.hub.http.get("/v1/municipalities/131017/measures", headers=staff.headers)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_municipality_code")
    response = await staff.hub.http.post(
        "/v1/operator/municipalities",
        json={"code": "131017", "name": "誤り"},
        headers=staff.hub.operator_headers,
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_municipality_code")


async def test_another_municipalitys_measures_are_not_found(staff: Staff) -> None:
    measure_id = await staff.draft()
    await ensure_municipality(staff.hub, "011002", "札幌市")
    other = {"authorization": f"Bearer {await municipality_key(staff.hub, '011002')}"}
    http = staff.hub.http
    for response in [
        await http.get(f"/v1/municipalities/131016/measures/{measure_id}", headers=other),
        await http.get(f"/v1/municipalities/011002/measures/{measure_id}", headers=other),
        await http.post(f"/v1/municipalities/011002/measures/{measure_id}/publish", headers=other),
    ]:
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    listed = await http.get("/v1/municipalities/011002/measures", headers=other)
    assert measure_id not in [m["measure_id"] for m in listed.json()["items"]]
