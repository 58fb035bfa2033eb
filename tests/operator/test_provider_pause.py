"""A misconfigured provider is paused, not its receipts; an operator resumes it (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import pytest
from sqlalchemy import select

from domain.errors import RuleViolation
from domain.provider_errors import PAUSE_AFTER_FAILURES, failure
from services import provider_pause
from storage import receipts
from storage.models.audit import AuditEntry
from tests.api.roles import api_key
from tests.support.scenario import add_provider, onboard
from tests.support.stack import Hub
from tests.supportdesk.test_stuck_receipt_walkthrough import set_faults, until

NOW = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)


async def audit_actions(hub: Hub, provider_id: str) -> list[tuple[str, str, str]]:
    async with hub.ctx.sessions() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.actor, AuditEntry.outcome)
            .where(
                AuditEntry.object_type == "provider",
                AuditEntry.object_id == provider_id,
                AuditEntry.action.in_(["pause_provider", "resume_provider"]),
            )
            .order_by(AuditEntry.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def fail(hub: Hub, provider_id: str, code: str) -> bool:
    async with hub.ctx.sessions.begin() as session:
        return await provider_pause.record_failure(
            session, provider_id, failure(code, f"{code} detail"), now=NOW
        )


async def test_repeated_auth_failures_pause_the_provider_and_only_an_operator_resumes(
    hub: Hub,
) -> None:
    provider_id, _ = await add_provider(hub)
    for _ in range(PAUSE_AFTER_FAILURES - 1):  # each receipt waits; the provider runs on
        assert await fail(hub, provider_id, "provider_auth_failed")
        async with hub.ctx.sessions() as session:
            assert not await provider_pause.is_paused(session, provider_id)
    assert await fail(hub, provider_id, "provider_auth_failed")
    assert await fail(hub, provider_id, "provider_unavailable")  # paused: every receipt waits
    assert await fail(hub, provider_id, "provider_misconfigured")  # still paused, cause kept
    async with hub.ctx.sessions() as session:
        assert await provider_pause.is_paused(session, provider_id)
        state = await provider_pause.state(session, provider_id)
        await provider_pause.record_success(session, provider_id)  # an answer does not resume
        assert await provider_pause.is_paused(session, provider_id)
    assert state.status == "paused" and state.paused_reason == "provider_auth_failed"
    assert state.paused_at == NOW and state.paused_by == "hub"
    assert state.paused_detail == "provider_auth_failed detail"
    assert state.paused_reason_en and "credentials" in state.paused_reason_en
    assert state.last_failure_code == "provider_misconfigured"
    assert await audit_actions(hub, provider_id) == [("pause_provider", "hub", "paused")]

    async with hub.ctx.sessions.begin() as session:
        await provider_pause.resume(session, provider_id, actor="operator:k1", note="key rotated")
    async with hub.ctx.sessions() as session:
        state = await provider_pause.state(session, provider_id)
    assert state.status == "active" and state.paused_reason is None
    assert state.consecutive_failures == 0
    assert state.resumed_by == "operator:k1" and state.resume_note == "key rotated"
    assert (await audit_actions(hub, provider_id))[-1] == (
        "resume_provider",
        "operator:k1",
        "active",
    )
    with pytest.raises(RuleViolation) as refused:
        async with hub.ctx.sessions.begin() as session:
            await provider_pause.resume(session, provider_id, actor="operator:k1", note=None)
    assert refused.value.code == "provider_not_paused" and refused.value.status == 409


async def test_transient_failures_never_pause_and_an_answer_ends_a_run(hub: Hub) -> None:
    provider_id, _ = await add_provider(hub)
    for code in ["provider_unavailable", "provider_rate_limited", "provider_timeout"] * 5:
        assert not await fail(hub, provider_id, code)
    for code in ["account_closed", "provider_rejected", "provider_unknown_status"] * 3:
        assert not await fail(hub, provider_id, code)
    for _ in range(PAUSE_AFTER_FAILURES - 1):
        assert await fail(hub, provider_id, "provider_auth_failed")  # waits, not paused yet
    async with hub.ctx.sessions.begin() as session:
        await provider_pause.record_success(session, provider_id, now=NOW)
    for _ in range(PAUSE_AFTER_FAILURES - 1):
        assert await fail(hub, provider_id, "provider_auth_failed")
    async with hub.ctx.sessions() as session:
        state = await provider_pause.state(session, provider_id)
    assert state.status == "active"
    assert state.consecutive_failures == PAUSE_AFTER_FAILURES - 1
    assert await audit_actions(hub, provider_id) == []


async def test_an_operator_pauses_and_resumes_a_provider(hub: Hub) -> None:
    provider_id, _ = await add_provider(hub)
    async with hub.ctx.sessions.begin() as session:
        await provider_pause.pause(session, provider_id, actor="operator:k1", reason="保守作業")
    with pytest.raises(RuleViolation) as again:
        async with hub.ctx.sessions.begin() as session:
            await provider_pause.pause(session, provider_id, actor="operator:k1", reason="x")
    assert again.value.code == "provider_paused"
    async with hub.ctx.sessions() as session:
        state = await provider_pause.state(session, provider_id)
    assert state.status == "paused" and state.paused_reason == "operator_paused"
    assert state.paused_detail == "保守作業"
    with pytest.raises(RuleViolation) as missing:
        async with hub.ctx.sessions.begin() as session:
            await provider_pause.resume(session, "no-such-provider", actor="o", note=None)
    assert missing.value.status == 404
    async with hub.ctx.sessions.begin() as session:
        await provider_pause.resume(session, provider_id, actor="operator:k1", note="done")
    assert [a for a, _, _ in await audit_actions(hub, provider_id)] == [
        "pause_provider",
        "resume_provider",
    ]


async def test_the_operator_api_shows_a_paused_provider_and_resumes_it(hub: Hub) -> None:
    provider_id, _ = await add_provider(hub)
    path = f"/v1/operator/providers/{provider_id}"
    active = (await hub.http.get(path, headers=hub.operator_headers)).json()
    assert active["status"] == "active" and active["paused_reason"] is None
    assert active["waiting_receipts"] == 0

    for _ in range(PAUSE_AFTER_FAILURES):
        await fail(hub, provider_id, "provider_misconfigured")
    paused = (await hub.http.get(path, headers=hub.operator_headers)).json()
    assert paused["status"] == "paused"
    assert paused["paused_reason"] == "provider_misconfigured"
    assert paused["paused_at"] == NOW.isoformat() and paused["paused_by"] == "hub"
    assert "設定" in paused["paused_message"]["ja"]
    assert "configuration" in paused["paused_message"]["en"]
    assert paused["paused_detail"] == "provider_misconfigured detail"
    listed = await hub.http.get("/v1/operator/providers?limit=500", headers=hub.operator_headers)
    mine = next(p for p in listed.json()["items"] if p["provider_id"] == provider_id)
    assert mine["status"] == "paused" and mine["paused_reason"] == "provider_misconfigured"

    support = await hub.http.post(f"{path}/resume", json={}, headers=await api_key(hub, "support"))
    assert support.status_code == 403
    resumed = await hub.http.post(
        f"{path}/resume", json={"note": "base_url corrected"}, headers=hub.operator_headers
    )
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "active" and resumed.json()["paused_at"] is None
    again = await hub.http.post(f"{path}/resume", json={}, headers=hub.operator_headers)
    assert again.status_code == 409 and again.json()["code"] == "provider_not_paused"
    assert (await audit_actions(hub, provider_id))[-1] == (
        "resume_provider",
        "operator:bootstrap",
        "active",
    )


async def test_the_operator_api_pauses_by_hand_with_a_reason(hub: Hub) -> None:
    provider_id, _ = await add_provider(hub)
    path = f"/v1/operator/providers/{provider_id}"
    missing = await hub.http.post(f"{path}/pause", json={}, headers=hub.operator_headers)
    assert missing.status_code == 422 and missing.json()["code"] == "validation_error"
    paused = await hub.http.post(
        f"{path}/pause", json={"reason": "鍵の漏えい調査"}, headers=hub.operator_headers
    )
    assert paused.status_code == 200, paused.text
    body = paused.json()
    assert body["status"] == "paused" and body["paused_reason"] == "operator_paused"
    assert body["paused_detail"] == "鍵の漏えい調査"
    assert body["paused_by"] == "operator:bootstrap"
    twice = await hub.http.post(
        f"{path}/pause", json={"reason": "again"}, headers=hub.operator_headers
    )
    assert twice.status_code == 409 and twice.json()["code"] == "provider_paused"
    unknown = await hub.http.post(
        "/v1/operator/providers/nobody-here/pause",
        json={"reason": "x"},
        headers=hub.operator_headers,
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    resumed = await hub.http.post(f"{path}/resume", json={}, headers=hub.operator_headers)
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"


async def test_a_paused_provider_is_reported_by_the_gauge_until_resumed(hub: Hub) -> None:
    from hub.metrics import ReceiptGauges

    provider_id, _ = await add_provider(hub)
    gauges = ReceiptGauges(hub.ctx.sessions)
    assert provider_id not in (await gauges.refresh()).paused
    for _ in range(PAUSE_AFTER_FAILURES):
        await fail(hub, provider_id, "provider_auth_failed")
    assert (await gauges.refresh()).paused[provider_id] == "provider_auth_failed"
    async with hub.ctx.sessions.begin() as session:
        await provider_pause.resume(session, provider_id, actor="operator:k1", note=None)
    assert provider_id not in (await gauges.refresh()).paused


async def test_a_provider_refusing_the_hubs_signature_is_unavailable_not_a_bad_account(
    hub: Hub,
) -> None:
    """Registration against a provider that refuses the hub's credentials (401): the resident's
    account is not to blame, so 503 `provider_unavailable`, not 422."""
    from adapters.signing import new_secret

    _, service_id = await add_provider(hub, signing_secret=new_secret())  # not the provider's
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    answer = await resident.register_service(service_id, "acct-pause-1")
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "provider_unavailable"


async def test_auth_failures_between_credits_never_add_up_to_a_pause(hub: Hub) -> None:
    """Every call that goes through ends the run of configuration failures: 401, 401, a credit,
    401, 401 leaves the provider active with a run of two (the credit activity, end to end)."""
    onboarded = await onboard(hub)
    provider_id = onboarded.provider_id
    receiving = []
    for n in range(5):  # registered while the provider answers
        resident = hub.resident()
        assert (await resident.login()).status_code == 201
        applied = await resident.apply(onboarded.measure_id)
        registered = await resident.register_service(onboarded.payment_service_id, f"acct-run-{n}")
        assert registered.status_code == 201, registered.text
        grant_id = applied.json()["grants"][0]["grant_id"]
        receiving.append((resident, grant_id, registered.json()["registration_id"]))

    for n, (resident, grant_id, registration_id) in enumerate(receiving):
        await set_faults(hub, provider_id, auth_error_status=0 if n == 2 else 401)
        before = await _failure_run(hub, provider_id)
        requested = await resident.request_receipt([grant_id], registration_id)
        assert requested.status_code == 202, requested.text
        receipt_id = requested.json()["receipts"][0]["receipt_id"]
        if n == 2:
            await until(partial(_credited, hub, receipt_id))
            assert await _failure_run(hub, provider_id) == 0
        else:
            assert await until(partial(_run_moved, hub, provider_id, before)) == before + 1
    async with hub.ctx.sessions() as session:
        state = await provider_pause.state(session, provider_id)
    assert (state.status, state.consecutive_failures) == ("active", 2)
    assert state.last_failure_code == "provider_auth_failed"


async def _failure_run(hub: Hub, provider_id: str) -> int:
    async with hub.ctx.sessions() as session:
        return (await provider_pause.state(session, provider_id)).consecutive_failures


async def _run_moved(hub: Hub, provider_id: str, before: int) -> int | None:
    now = await _failure_run(hub, provider_id)
    return now if now != before else None


async def _credited(hub: Hub, receipt_id: str) -> bool:
    async with hub.ctx.sessions() as session:
        return (await receipts.get_receipt(session, receipt_id)).state == "credited"
