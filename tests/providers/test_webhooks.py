"""Webhook acknowledgements (SPEC §5): the signature matrix, replays, rotation, and the webhook
mode end to end under delayed, duplicated and reordered acknowledgements."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from adapters.signing import new_secret, sign_headers
from services import acknowledgements
from storage import provider_inbox
from storage.models import PaymentServiceRegistration
from storage.models.providers import ProviderAcknowledgement, ProviderWebhookMessage
from tests.providers.support import (
    Provider,
    Receiving,
    applied_counts,
    granted_resident,
    onboard_provider,
    receipt_state,
    receiving_resident,
    request_receipt,
    wait_for_grant,
)
from tests.support.stack import Hub


def closed_event(account_id: str = "acct-nobody", service_id: str = "none-pay") -> bytes:
    data = {"payment_service_id": service_id, "account_id": account_id}
    return json.dumps({"type": "account.closed", "data": data}).encode()


async def post_webhook(
    hub: Hub, provider_id: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await hub.http.post(
        f"/v1/providers/{provider_id}/webhooks",
        content=body,
        headers={"content-type": "application/json", **headers},
    )


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text


async def test_the_signature_matrix(hub: Hub) -> None:
    old, new = new_secret(), new_secret()
    provider = await onboard_provider(hub, "webhook", webhook_secrets=[old, new])
    pid, body = provider.provider_id, closed_event()
    now = datetime.now(UTC)

    for secret in (old, new):  # two secrets are valid during rotation
        answer = await post_webhook(hub, pid, body, sign_headers(secret, body))
        assert answer.status_code == 200, answer.text
        assert answer.json()["outcome"] == "accounts_closed"

    signed = sign_headers(new, body)
    refused(await post_webhook(hub, pid, body + b" ", signed), 401, "invalid_webhook_signature")
    tampered = body.replace(b"acct-nobody", b"acct-someone")
    refused(await post_webhook(hub, pid, tampered, signed), 401, "invalid_webhook_signature")
    for skew in (timedelta(minutes=-6), timedelta(minutes=6)):  # stale, and from the future
        headers = sign_headers(new, body, at=now + skew)
        refused(await post_webhook(hub, pid, body, headers), 401, "invalid_webhook_signature")
    recent = await post_webhook(
        hub, pid, body, sign_headers(new, body, at=now - timedelta(minutes=4))
    )
    assert recent.status_code == 200, recent.text
    wrong = sign_headers(new_secret(), body)
    refused(await post_webhook(hub, pid, body, wrong), 401, "invalid_webhook_signature")
    garbage = {**signed, "webhook-signature": "v1,not-base64!"}
    refused(await post_webhook(hub, pid, body, garbage), 401, "invalid_webhook_signature")
    refused(await post_webhook(hub, pid, body, {}), 401, "unauthenticated")
    refused(await post_webhook(hub, "no-such-provider", body, signed), 404, "not_found")
    odd = json.dumps({"type": "credit.refunded", "data": {}}).encode()
    refused(await post_webhook(hub, pid, odd, sign_headers(new, odd)), 422, "invalid_webhook")
    not_json = b"credit.completed"
    refused(
        await post_webhook(hub, pid, not_json, sign_headers(new, not_json)), 422, "invalid_webhook"
    )


async def test_a_replayed_webhook_id_is_ignored(hub: Hub) -> None:
    provider = await onboard_provider(hub, "webhook")
    receiving = await granted_resident(hub, provider)
    secret = provider.sim.config.webhook_secret
    account = await account_of(hub, receiving.registration_id)
    body = closed_event(account, provider.payment_service_id)
    headers = sign_headers(secret, body)
    first = await post_webhook(hub, provider.provider_id, body, headers)
    assert first.json()["registrations_invalidated"] == 1
    again = await post_webhook(hub, provider.provider_id, body, headers)
    assert again.status_code == 200
    assert again.json()["outcome"] == "ignored_replay"


async def account_of(hub: Hub, registration_id: str) -> str:
    async with hub.ctx.sessions() as session:
        registration = await session.get(PaymentServiceRegistration, registration_id)
        assert registration is not None
        return registration.account_id


async def registration_status(hub: Hub, registration_id: str) -> str:
    async with hub.ctx.sessions() as session:
        registration = await session.get(PaymentServiceRegistration, registration_id)
        assert registration is not None
        return registration.status


async def test_webhook_mode_credits_once_under_delayed_duplicated_reordered_acks(hub: Hub) -> None:
    provider = await onboard_provider(
        hub,
        "webhook",
        sim={"ack_delay_ms": 400, "ack_duplicate_rate": 0.6, "ack_reorder": True, "seed": 7},
    )
    residents = [await receiving_resident(hub, provider) for _ in range(8)]
    for receiving in residents:
        await wait_for_grant(receiving, "credited")
    ledger = await hub.sim_ledger(provider.provider_id)
    applied = applied_counts(ledger)
    assert sorted(applied) == sorted(str(r.receipt_id) for r in residents)
    assert set(applied.values()) == {1}
    assert ledger["stats"]["webhooks_duplicated"] >= 1
    async with hub.ctx.sessions() as session:
        for receiving in residents:
            ack = await session.get(ProviderAcknowledgement, receiving.receipt_id)
            assert ack is not None and ack.status == "credited" and ack.source == "webhook"
            assert ack.signalled_at is not None


async def test_a_late_contradicting_webhook_never_changes_a_credited_receipt(hub: Hub) -> None:
    provider = await onboard_provider(hub, "webhook")
    receiving = await receiving_resident(hub, provider)
    await wait_for_grant(receiving, "credited")
    assert receiving.receipt_id
    body = json.dumps(
        {"type": "credit.rejected", "data": {"receipt_id": receiving.receipt_id, "reason": "late"}}
    ).encode()
    secret = provider.sim.config.webhook_secret
    answer = await post_webhook(hub, provider.provider_id, body, sign_headers(secret, body))
    refused(answer, 409, "ack_conflict")
    same = json.dumps(
        {"type": "credit.completed", "data": {"receipt_id": receiving.receipt_id}}
    ).encode()
    answer = await post_webhook(hub, provider.provider_id, same, sign_headers(secret, same))
    assert answer.status_code == 200 and answer.json()["outcome"] == "duplicate"
    assert await receipt_state(hub, receiving.receipt_id) == "credited"


async def test_a_rejection_by_webhook_returns_the_points_and_invalidates_the_account(
    hub: Hub,
) -> None:
    provider = await onboard_provider(hub, "webhook")
    receiving = await granted_resident(hub, provider)
    account = await account_of(hub, receiving.registration_id)
    provider.sim.accounts[account] = {"security_code": "1234", "status": "closed"}
    receipt_id = await request_receipt(receiving)
    await wait_for_grant(receiving, "unreceived")
    assert await receipt_state(hub, receipt_id) == "rejected"
    assert await registration_status(hub, receiving.registration_id) == "invalid"
    points = await receiving.resident.points()
    assert points["totals"]["unreceived"] == 1000  # the resident sees the points again


async def test_account_closed_invalidates_the_registration(hub: Hub) -> None:
    provider = await onboard_provider(hub, "webhook")
    receiving = await granted_resident(hub, provider)
    account = await account_of(hub, receiving.registration_id)
    async with httpx.AsyncClient(base_url=hub.sim_url) as sim:
        closed = await sim.post(
            f"/p/{provider.provider_id}/admin/accounts/{account}/close",
            json={"payment_service_id": provider.payment_service_id},
        )
        assert closed.status_code == 200
    for _ in range(100):
        if await registration_status(hub, receiving.registration_id) == "invalid":
            break
        await asyncio.sleep(0.05)
    assert await registration_status(hub, receiving.registration_id) == "invalid"
    me = (await receiving.resident.get("/v1/me")).json()
    assert [s["status"] for s in me["payment_services"]] == ["invalid"]
    response = await receiving.resident.request_receipt(
        [receiving.grant_id], receiving.registration_id
    )
    assert response.status_code == 422
    assert response.json()["code"] == "registration_invalid"


@pytest.mark.parametrize("event", ["credit.completed", "credit.rejected"])
async def test_another_providers_receipt_is_unknown(hub: Hub, event: str) -> None:
    mine = await onboard_provider(hub, "webhook")
    theirs = await onboard_provider(hub, "sync")
    receiving = await receiving_resident(hub, theirs)
    await wait_for_grant(receiving, "credited")
    data: dict[str, Any] = {"receipt_id": receiving.receipt_id}
    body = json.dumps({"type": event, "data": data}).encode()
    answer = await post_webhook(
        hub, mine.provider_id, body, sign_headers(mine.sim.config.webhook_secret, body)
    )
    refused(answer, 404, "not_found")
    assert receiving.receipt_id and await receipt_state(hub, receiving.receipt_id) == "credited"


def credit_event(receipt_id: str, event: str = "credit.completed") -> bytes:
    return json.dumps({"type": event, "data": {"receipt_id": receipt_id}}).encode()


async def message_remembered(hub: Hub, provider_id: str, message_id: str) -> bool:
    async with hub.ctx.sessions() as session:
        found = await session.get(ProviderWebhookMessage, (provider_id, message_id))
        return found is not None


async def test_a_refused_webhook_is_heard_when_sent_again(hub: Hub) -> None:
    """Refused in its transaction (unknown receipt) or after it (a contradiction): the message
    ID is not kept, so the same webhook sent again gets the same answer, not `ignored_replay`."""
    provider = await onboard_provider(hub, "webhook")
    secret, pid = provider.sim.config.webhook_secret, provider.provider_id
    unknown = credit_event("rcpt_nosuchreceipt")
    headers = sign_headers(secret, unknown, message_id="msg_unknown")
    for _ in range(2):
        refused(await post_webhook(hub, pid, unknown, headers), 404, "not_found")
    assert not await message_remembered(hub, pid, "msg_unknown")

    receiving = await receiving_resident(hub, provider)
    await wait_for_grant(receiving, "credited")
    assert receiving.receipt_id
    late = credit_event(receiving.receipt_id, "credit.rejected")
    headers = sign_headers(secret, late, message_id="msg_late")
    for _ in range(2):
        refused(await post_webhook(hub, pid, late, headers), 409, "ack_conflict")
    assert not await message_remembered(hub, pid, "msg_late")


async def dies(*_: object, **__: object) -> None:
    raise RuntimeError("the process stops here")


async def dying_webhook(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, message_id: str, *where: tuple[object, str]
) -> tuple[Provider, Receiving, bytes, dict[str, str]]:
    """A receipt awaiting its answer at a webhook provider that sends none, and the answer's
    webhook posted once while each function `where` names stops the process (forgetting the
    message ID stops it too): the receipt, the webhook and its headers, to send again."""
    provider = await onboard_provider(hub, "webhook", sim={"ack_drop_rate": 1.0})
    receiving = await receiving_resident(hub, provider)
    assert receiving.receipt_id
    body = credit_event(receiving.receipt_id)
    headers = sign_headers(provider.sim.config.webhook_secret, body, message_id=message_id)
    with monkeypatch.context() as patched:
        for module, name in (*where, (provider_inbox, "forget_message")):
            patched.setattr(module, name, dies)
        failed = await post_webhook(hub, provider.provider_id, body, headers)
        assert failed.status_code == 500, failed.text
    return provider, receiving, body, headers


async def test_a_webhook_id_is_never_kept_without_its_answer(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message ID and the answer are written in one transaction: a failure while recording
    the answer, with no chance to forget the ID afterwards (a process that dies there), leaves
    neither, and the provider's retry of the same webhook credits the receipt."""
    provider, receiving, body, headers = await dying_webhook(
        hub, monkeypatch, "msg_crash", (provider_inbox, "record_acknowledgements")
    )
    assert not await message_remembered(hub, provider.provider_id, "msg_crash")

    again = await post_webhook(hub, provider.provider_id, body, headers)
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "recorded"
    await wait_for_grant(receiving, "credited")
    assert await message_remembered(hub, provider.provider_id, "msg_crash")


async def test_a_replay_tells_the_workflow_an_answer_it_was_never_told(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process stops after the answer's commit, before its workflow is told: the provider's
    retry of the same webhook is a replay (nothing recorded again), and it tells the workflow."""
    provider, receiving, body, headers = await dying_webhook(
        hub, monkeypatch, "msg_untold", (acknowledgements, "deliver")
    )
    async with hub.ctx.sessions() as session:
        ack = await session.get(ProviderAcknowledgement, receiving.receipt_id)
        assert ack is not None and ack.signalled_at is None
    assert await message_remembered(hub, provider.provider_id, "msg_untold")

    again = await post_webhook(hub, provider.provider_id, body, headers)
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "ignored_replay"
    await wait_for_grant(receiving, "credited")
    async with hub.ctx.sessions() as session:
        ack = await session.get(ProviderAcknowledgement, receiving.receipt_id)
        assert ack is not None and ack.signalled_at is not None
