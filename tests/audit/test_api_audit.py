"""Every state change over the API and in workflows leaves an entry: who, what, which object,
when, the outcome and the request; the chain verifies, and a tampered one is reported."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from services.applications import application_ids
from simulators.jpki import TestCA
from tests.audit.conftest import disable_guards
from tests.audit.lifecycle import credited_resident
from tests.support.databases import fresh_database
from tests.support.stack import Hub, running_hub

MY_NUMBER = "1234 5678 9018"  # passes the check digit


async def entries(hub: Hub, **filters: str) -> list[dict]:
    response = await hub.http.get(
        "/v1/operator/audit", params={"limit": 500, **filters}, headers=hub.operator_headers
    )
    assert response.status_code == 200, response.text
    found: list[dict] = response.json()["items"]
    return found


async def verified(hub: Hub) -> dict:
    response = await hub.http.post("/v1/operator/audit/verify", headers=hub.operator_headers)
    assert response.status_code == 200, response.text
    report: dict = response.json()
    return report


async def test_a_lifecycle_is_on_the_record_and_the_chain_verifies(hub: Hub) -> None:
    done = await credited_resident(hub)
    resident = f"resident:{done.resident.mykey_id}"
    workflow_id = application_ids(hub.ctx, done.setup.measure_id, done.resident.mykey_id or "")[1]

    by_resident = {(e["action"], e["outcome"]) for e in await entries(hub, actor=resident)}
    assert {
        ("POST /v1/auth/sessions", "201"),
        ("POST /v1/measures/{measure_id}/applications", "201"),
        ("POST /v1/me/payment-services", "201"),
        ("POST /v1/me/receipts", "202"),
        ("claim_receipts", "claimed 1"),
    } <= by_resident

    on_receipt = await entries(hub, object_type="receipt", object_id=done.receipt_id)
    actions = [e["action"] for e in reversed(on_receipt)]  # oldest first
    assert actions[:2] == ["claim_receipts", "begin_credit"]
    assert actions[-1] == "record_credit_outcome"
    assert on_receipt[0]["outcome"] == "credited"
    # Claimed in the receipt request itself, under that request's ID; then the workflow's.
    [requested] = await entries(hub, actor=resident, action="POST /v1/me/receipts")
    claimed = [e for e in on_receipt if e["action"] == "claim_receipts"]
    assert [e["request_id"] for e in claimed] == [requested["request_id"]]
    assert all(e["request_id"] == workflow_id for e in on_receipt if e not in claimed)

    # Decided in the apply request itself: the resident's, under that request's ID.
    [applied] = await entries(
        hub, actor=resident, action="POST /v1/measures/{measure_id}/applications"
    )
    decided = await entries(hub, action="decide_application", request_id=applied["request_id"])
    assert [(e["actor"], e["outcome"]) for e in decided] == [(resident, "granted")]
    assert (
        decided[0]["object_id"]
        == application_ids(hub.ctx, done.setup.measure_id, done.resident.mykey_id or "")[0]
    )

    report = await verified(hub)
    assert report["ok"] is True and report["first_broken"] is None
    assert report["checked"] == report["head_seq"] >= len(by_resident)
    sealed = await entries(hub, object_id=done.receipt_id)
    assert all(e["seq"] and len(e["hash"]) == 64 for e in sealed)


async def test_a_refused_application_is_on_the_record_as_the_residents(hub: Hub) -> None:
    """A second application is refused before any decision; its entry still names the resident
    (the application's one query notes who asked before it refuses)."""
    done = await credited_resident(hub)
    again = await done.resident.apply(done.setup.measure_id)
    assert (again.status_code, again.json()["code"]) == (409, "already_applied")
    request_id = again.headers["x-request-id"]
    [entry] = await entries(hub, request_id=request_id)
    assert entry["actor"] == f"resident:{done.resident.mykey_id}"
    assert entry["outcome"] == "409 already_applied"


async def test_request_ids_are_returned_and_name_the_entry(hub: Hub) -> None:
    response = await hub.http.post(
        "/v1/operator/municipalities",
        json={"code": "131016", "name": "千代田区"},
        headers={**hub.operator_headers, "X-Request-ID": "req-audit-0001"},
    )
    assert response.headers["x-request-id"] == "req-audit-0001"
    [entry] = await entries(hub, request_id="req-audit-0001")
    assert entry["actor"] == "operator:bootstrap"
    assert entry["action"] == "POST /v1/operator/municipalities"
    if entry["outcome"] == "201":  # the first test to onboard 131016 created it
        assert (entry["object_type"], entry["object_id"]) == ("municipality", "131016")
    else:
        assert entry["outcome"].startswith("409 ")
        assert (entry["object_type"], entry["object_id"]) == ("municipalities", "")

    odd = await hub.http.post("/v1/auth/challenges", headers={"X-Request-ID": "bad;id" * 30})
    generated = odd.headers["x-request-id"]
    assert generated != "bad;id" * 30 and len(generated) == 24
    read = await hub.http.get("/healthz", headers={"X-Request-ID": "req-read-1"})
    assert read.headers["x-request-id"] == "req-read-1"
    assert await entries(hub, request_id="req-read-1") == []  # reads are not state changes


async def test_refusals_are_recorded_with_their_code_and_without_the_secret(hub: Hub) -> None:
    refused = await hub.http.post(
        "/v1/operator/mykeys/ZZZZ0000/suspend",
        json={"reason": f"本人確認 {MY_NUMBER}"},
        headers={**hub.operator_headers, "X-Request-ID": "req-audit-refused"},
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "contains_my_number"
    [entry] = await entries(hub, request_id="req-audit-refused")
    assert entry["outcome"] == "422 contains_my_number"
    assert (entry["object_type"], entry["object_id"]) == ("mykey", "ZZZZ0000")
    assert "5678" not in str(entry)

    anonymous = await hub.http.post(
        "/v1/operator/mykeys/ZZZZ0000/resume",
        json={"reason": "x"},
        headers={"X-Request-ID": "req-audit-anon"},
    )
    assert anonymous.status_code == 401
    [entry] = await entries(hub, request_id="req-audit-anon")
    assert (entry["actor"], entry["outcome"]) == ("anonymous", "401 unauthenticated")


async def test_the_listing_filters_and_pages(hub: Hub) -> None:
    for n in range(3):
        await hub.http.post("/v1/auth/challenges", headers={"X-Request-ID": f"req-page-{n}"})
    query: dict[str, str | int] = {"action": "POST /v1/auth/challenges", "limit": 2}
    first = await hub.http.get("/v1/operator/audit", params=query, headers=hub.operator_headers)
    body = first.json()
    assert body["total"] >= 3 and len(body["items"]) == 2 and body["next_cursor"]
    second = await hub.http.get(
        "/v1/operator/audit",
        params={**query, "cursor": body["next_cursor"]},
        headers=hub.operator_headers,
    )
    ids = [e["id"] for e in body["items"] + second.json()["items"]]
    assert len(ids) == len(set(ids)) >= 3, "pages neither overlap nor skip"
    assert ids == sorted(ids, reverse=True)
    assert all(e["action"] == "POST /v1/auth/challenges" for e in body["items"])
    refused = await hub.http.get(
        "/v1/operator/audit", params={"cursor": "not-ours"}, headers=hub.operator_headers
    )
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_cursor"
    forbidden = await hub.http.get("/v1/operator/audit")
    assert forbidden.status_code == 401


@pytest.fixture(scope="module")
async def tamper_hub(
    temporal_env: WorkflowEnvironment, session_tmp: Path, test_ca: TestCA
) -> AsyncIterator[Hub]:
    """A hub of its own: its log is rewritten on purpose."""
    with fresh_database(session_tmp, backend="sqlite") as url:
        async with running_hub(
            database_url=url, client=temporal_env.client, tmp_dir=session_tmp, ca=test_ca
        ) as running:
            yield running


async def test_verify_reports_the_first_broken_index(tamper_hub: Hub) -> None:
    hub = tamper_hub
    for n in range(6):
        await hub.http.post("/v1/auth/challenges", headers={"X-Request-ID": f"req-t-{n}"})
    assert (await verified(hub))["ok"] is True
    [entry] = await entries(hub, request_id="req-t-3")
    await disable_guards(hub.ctx.engine)
    async with hub.ctx.engine.begin() as connection:
        await connection.execute(
            text("UPDATE audit_entries SET outcome = '500' WHERE seq = :s"), {"s": entry["seq"]}
        )
    report = await verified(hub)
    assert report["ok"] is False
    assert report["first_broken"] == entry["seq"]
    assert report["problem"] == "hash does not match"
