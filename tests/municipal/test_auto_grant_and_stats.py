"""Over HTTP with the worker running: an auto-grant measure grants its list when published and
later additions too; statistics and the grant export show the result."""

from __future__ import annotations

import asyncio
import csv
import io

from services.applications import application_ids
from storage.models import Application
from tests.municipal.conftest import Staff, csv_of, resident_session
from tests.support.direct import new_resident
from workflows.measure import MeasureWorkflow, measure_workflow_id


async def granted_count(staff: Staff, measure_id: str, expected: int) -> dict:
    stats: dict = {}
    for _ in range(300):
        stats = (await staff.get(f"/measures/{measure_id}/stats")).json()
        grants, applications = stats["grants"], stats["applications"]["by_state"]
        if grants["unreceived"] == expected and applications["granted"] == expected:
            return stats
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {expected} grants: {stats}")


async def test_publishing_an_auto_grant_list_grants_everyone_on_it(staff: Staff) -> None:
    hub = staff.hub
    first = [await new_resident(hub.ctx) for _ in range(12)]
    measure_id = await staff.draft(target_list_only=True, auto_grant=True, budget_points=None)
    assert (await staff.put_csv(measure_id, csv_of(first))).json()["added"] == 12
    await staff.post(f"/measures/{measure_id}/publish")
    stats = await granted_count(staff, measure_id, 12)
    assert stats["applications"]["by_state"]["granted"] == 12
    assert stats["points"] == {
        "granted": 12_000,
        "by_state": {
            "unreceived": 12_000,
            "receipt_requested": 0,
            "crediting": 0,
            "credited": 0,
            "expired": 0,
            "forfeited": 0,
        },
    }

    later = [await new_resident(hub.ctx) for _ in range(3)]
    assert (await staff.put_csv(measure_id, csv_of(first + later))).json()["added"] == 3
    await granted_count(staff, measure_id, 15)

    async with hub.ctx.sessions() as session:
        for mykey_id in later:
            application_id, workflow_id = application_ids(hub.ctx, measure_id, mykey_id)
            row = await session.get(Application, application_id)
            assert row is not None and row.workflow_id == workflow_id
    status = await hub.client.get_workflow_handle(measure_workflow_id(measure_id)).query(
        MeasureWorkflow.status
    )
    assert status.granted == 15 and not status.finished

    export = await staff.get(f"/measures/{measure_id}/grants.csv")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert export.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert len(rows) == 15
    assert {r["mykey_id"] for r in rows} == set(first + later)
    assert {(r["state"], r["points"]) for r in rows} == {("unreceived", "1000")}


async def test_an_auto_grant_budget_stops_the_grants_first_come_first_served(
    staff: Staff,
) -> None:
    listed = [await new_resident(staff.hub.ctx) for _ in range(7)]
    measure_id = await staff.draft(target_list_only=True, auto_grant=True, budget_points=5000)
    await staff.put_csv(measure_id, csv_of(listed))
    await staff.post(f"/measures/{measure_id}/publish")
    stats = await granted_count(staff, measure_id, 5)
    assert stats["budget"] == {"budget_points": 5000, "budget_used": 5000, "budget_left": 0}
    handle = staff.hub.client.get_workflow_handle(measure_workflow_id(measure_id))
    assert (await handle.query(MeasureWorkflow.status)).budget_exhausted


async def test_stats_count_applications_grants_and_receipts_by_provider(staff: Staff) -> None:
    measure_id = await staff.published(budget_points=3000)
    http = staff.hub.http
    decisions = []
    for _ in range(4):
        _, headers = await resident_session(staff.hub)
        decisions.append(
            await http.post(f"/v1/measures/{measure_id}/applications", headers=headers)
        )
    assert [d.status_code for d in decisions] == [201, 201, 201, 409]
    assert decisions[3].json()["code"] == "budget_exhausted"
    stats = (await staff.get(f"/measures/{measure_id}/stats")).json()
    assert stats["applications"] == {
        "total": 3,
        "by_state": {"granted": 3, "registered": 0, "pending_review": 0, "rejected": 0},
    }
    assert stats["grants"]["unreceived"] == 3
    assert stats["budget"]["budget_left"] == 0
    assert stats["receipts"] == {"by_provider": {}}

    review = await staff.published(review_required=True)
    _, headers = await resident_session(staff.hub)
    pending = await http.post(f"/v1/measures/{review}/applications", headers=headers)
    assert pending.json()["status"] == "pending_review"
    stats = (await staff.get(f"/measures/{review}/stats")).json()
    assert stats["applications"]["by_state"]["pending_review"] == 1
    assert stats["points"]["granted"] == 0


async def test_receipts_appear_by_provider_and_state(staff: Staff) -> None:
    measure_id = await staff.published()
    resident = staff.hub.resident()
    assert (await resident.login()).status_code == 201
    [grant] = (await resident.apply(measure_id)).json()["grants"]
    registered = await resident.register_service(staff.payment_service_id, "acct-stats-1")
    registration_id = registered.json()["registration_id"]
    receipt = await resident.request_receipt([grant["grant_id"]], registration_id)
    assert receipt.status_code == 202, receipt.text
    stats: dict = {}
    for _ in range(300):
        stats = (await staff.get(f"/measures/{measure_id}/stats")).json()
        if stats["points"]["by_state"]["credited"] == 1000:
            break
        await asyncio.sleep(0.1)
    by_provider = stats["receipts"]["by_provider"]
    assert by_provider[staff.provider_id]["credited"] == {"count": 1, "points": 1000}
    export = await staff.get(f"/measures/{measure_id}/grants.csv")
    [row] = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert (row["state"], row["provider_id"]) == ("credited", staff.provider_id)
    assert row["payment_service_id"] == staff.payment_service_id
