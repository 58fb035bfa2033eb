"""Events under event measures, their signed QR payloads, and QR images a decoder reads back."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import zxingcpp
from PIL import Image

from domain.errors import RuleViolation
from services import events
from tests.municipal.conftest import Staff

NOW = datetime.now(UTC)


def event_body(
    title: str = "清掃ボランティア", hours_from_now: float = -1, points: int = 500
) -> dict:
    starts = NOW + timedelta(hours=hours_from_now)
    return {
        "title": title,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "points": points,
    }


def decoded(png: bytes) -> str:
    [result] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert result.format == zxingcpp.BarcodeFormat.QRCode
    return str(result.text)


async def test_events_are_created_listed_and_printed_as_readable_qr_codes(staff: Staff) -> None:
    measure_id = await staff.published(kind="event", per_person_cap=5000, late_report_days=3)
    created = await staff.post(f"/measures/{measure_id}/events", event_body())
    assert created.status_code == 201, created.text
    event = created.json()
    assert event["event_id"].startswith("evt_") and event["qr_payload"].startswith("MPQ1.")
    second = await staff.post(f"/measures/{measure_id}/events", event_body("防災訓練", 48))
    assert second.status_code == 201

    listed = await staff.get(f"/measures/{measure_id}/events")
    assert [e["event_id"] for e in listed.json()["items"]] == [
        event["event_id"],
        second.json()["event_id"],
    ]
    one = await staff.get(f"/measures/{measure_id}/events/{event['event_id']}")
    assert one.json()["qr_payload"] == event["qr_payload"]  # signed the same way every time

    png = await staff.get(f"/measures/{measure_id}/events/{event['event_id']}/qr.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert decoded(png.content) == event["qr_payload"]
    svg = await staff.get(f"/measures/{measure_id}/events/{event['event_id']}/qr.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content

    resolved = await events.resolve_qr(staff.hub.ctx, event["qr_payload"])
    assert (resolved.event.id, resolved.measure.id) == (event["event_id"], measure_id)
    assert resolved.terms.late_report_days == 3
    assert resolved.event_terms.points == 500


async def test_a_tampered_or_foreign_payload_is_invalid_qr(staff: Staff) -> None:
    measure_id = await staff.published(kind="event", per_person_cap=5000)
    one = (await staff.post(f"/measures/{measure_id}/events", event_body("A"))).json()
    two = (await staff.post(f"/measures/{measure_id}/events", event_body("B"))).json()
    ctx = staff.hub.ctx
    head, signature = one["qr_payload"].rsplit(".", 1)
    foreign = head + "." + two["qr_payload"].rsplit(".", 1)[1]
    swapped = one["qr_payload"].replace(one["event_id"], two["event_id"])
    expired_ctx = replace(ctx, clock=lambda: NOW + timedelta(days=400))
    other_key = replace(
        ctx, settings=ctx.settings.model_copy(update={"qr_signing_key": ctx.settings.token_secret})
    )
    for context, payload in [
        (ctx, foreign),
        (ctx, swapped),
        (ctx, head + "." + signature[:-1] + ("A" if signature[-1] != "A" else "B")),
        (expired_ctx, one["qr_payload"]),
        (other_key, one["qr_payload"]),
    ]:
        with pytest.raises(RuleViolation) as caught:
            await events.resolve_qr(context, payload)
        assert caught.value.code == "invalid_qr"


async def test_events_belong_to_open_event_measures_and_fit_inside_them(staff: Staff) -> None:
    application_measure = await staff.published()
    response = await staff.post(f"/measures/{application_measure}/events", event_body())
    assert (response.status_code, response.json()["code"]) == (409, "not_an_event_measure")

    measure_id = await staff.published(kind="event", per_person_cap=1000)
    for body in [
        event_body(hours_from_now=-72),  # before the measure opens
        event_body(hours_from_now=24 * 61),  # after the receipt deadline
        event_body(points=1001),  # above the per-person cap
        {**event_body(), "ends_at": event_body()["starts_at"]},
    ]:
        response = await staff.post(f"/measures/{measure_id}/events", body)
        assert (response.status_code, response.json()["code"]) == (422, "invalid_event"), body

    response = await staff.post(
        f"/measures/{measure_id}/events", event_body("番号 1234-5678-9018 の方")
    )
    assert (response.status_code, response.json()["code"]) == (422, "contains_my_number")

    await staff.post(f"/measures/{measure_id}/close")
    response = await staff.post(f"/measures/{measure_id}/events", event_body())
    assert (response.status_code, response.json()["code"]) == (409, "invalid_measure_state")


async def test_another_measures_event_is_not_found(staff: Staff) -> None:
    first = await staff.published(kind="event", per_person_cap=5000)
    second = await staff.published(kind="event", per_person_cap=5000)
    event = (await staff.post(f"/measures/{first}/events", event_body())).json()
    for tail in ["", "/qr.png", "/qr.svg"]:
        response = await staff.get(f"/measures/{second}/events/{event['event_id']}{tail}")
        assert (response.status_code, response.json()["code"]) == (404, "not_found")


async def test_a_draft_with_events_stays_an_event_measure(staff: Staff) -> None:
    measure_id = await staff.draft(kind="event", per_person_cap=5000)
    assert (await staff.post(f"/measures/{measure_id}/events", event_body())).status_code == 201
    response = await staff.patch(f"/measures/{measure_id}", {"kind": "application"})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_measure")
    assert response.json()["detail"] == "a measure with events must stay an event measure"
