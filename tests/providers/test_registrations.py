"""My Payment Service registration (SPEC §3, §5): verified with the provider, one account per
service across all MyKey IDs (also when residents race for it), a fresh card proof required,
and the security code never stored or logged."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from simulators.resident_app import ResidentApp
from storage.models import Base
from tests.providers.support import Provider, onboard_provider
from tests.support.stack import Hub


async def logged_in(hub: Hub) -> ResidentApp:
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    return resident


def assert_code(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text


async def registrations_of(hub: Hub, account_id: str) -> int:
    async with hub.ctx.sessions() as session:
        result = await session.execute(
            text("select count(*) from payment_service_registrations where account_id = :a"),
            {"a": account_id},
        )
        return int(result.scalar_one())


async def test_one_account_belongs_to_one_mykey_id_even_under_concurrent_attempts(
    backend_hub: Hub,
) -> None:
    hub = backend_hub
    provider = await onboard_provider(hub, "sync")
    residents = [await logged_in(hub) for _ in range(6)]
    account = f"acct-{secrets.token_hex(4)}"
    answers = await asyncio.gather(
        *(r.register_service(provider.payment_service_id, account) for r in residents)
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["code"] == "account_already_registered"
    assert await registrations_of(hub, account) == 1

    later = await residents[0].register_service(provider.payment_service_id, account)
    assert_code(later, 409, "account_already_registered")
    other = await logged_in(hub)
    assert_code(
        await other.register_service(provider.payment_service_id, account),
        409,
        "account_already_registered",
    )


async def test_the_provider_must_confirm_the_account(hub: Hub) -> None:
    provider = await onboard_provider(hub, "sync")
    resident = await logged_in(hub)
    service = provider.payment_service_id
    for account, code in [
        ("acct-wrong-code", "0000"),  # the simulator refuses 0000
        ("closed-account-1", "1234"),
        ("unknown-account-1", "1234"),
        ("a!", "1234"),
    ]:
        answer = await resident.register_service(service, account, security_code=code)
        assert_code(answer, 422, "account_verification_failed")
        assert await registrations_of(hub, account) == 0


async def test_every_provider_style_verifies_accounts(hub: Hub, session_tmp: Path) -> None:
    for style in ("webhook", "pull", "batch", "paylite"):
        provider = await onboard_provider(hub, style, tmp_dir=session_tmp)
        resident = await logged_in(hub)
        good = await resident.register_service(provider.payment_service_id, "acct-good-1")
        assert good.status_code == 201, (style, good.text)
        bad = await resident.register_service(provider.payment_service_id, "closed-x-1")
        assert_code(bad, 422, "account_verification_failed")


async def test_an_unreachable_provider_is_503_and_nothing_is_registered(hub: Hub) -> None:
    provider = await onboard_provider(hub, "sync", sim={"error_rate": 1.0})
    resident = await logged_in(hub)
    answer = await resident.register_service(provider.payment_service_id, "acct-later-1")
    assert_code(answer, 503, "provider_unavailable")
    assert await registrations_of(hub, "acct-later-1") == 0


async def test_a_fresh_card_proof_of_this_resident_is_required(hub: Hub) -> None:
    provider: Provider = await onboard_provider(hub, "sync")
    resident, stranger = await logged_in(hub), await logged_in(hub)
    body = {
        "payment_service_id": provider.payment_service_id,
        "account_id": "acct-proof-1",
        "security_code": "1234",
    }
    assert_code(await resident.post("/v1/me/payment-services", body), 401, "card_proof_required")
    foreign = {**body, "card_proof": await stranger.signed_challenge()}
    assert_code(await resident.post("/v1/me/payment-services", foreign), 401, "card_proof_required")
    assert await registrations_of(hub, "acct-proof-1") == 0
    proof = await resident.signed_challenge()
    answer = await resident.post("/v1/me/payment-services", {**body, "card_proof": proof})
    assert answer.status_code == 201, answer.text
    replayed = await resident.post(
        "/v1/me/payment-services", {**body, "account_id": "acct-proof-2", "card_proof": proof}
    )
    assert replayed.status_code in (401, 409, 422)  # a card proof is single use
    assert await registrations_of(hub, "acct-proof-2") == 0


async def test_the_security_code_is_never_stored_or_logged(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    provider = await onboard_provider(hub, "sync")
    code = "Zq" + secrets.token_hex(6)
    provider.sim.accounts["acct-secret-1"] = {"security_code": code, "status": "active"}
    resident = await logged_in(hub)
    with caplog.at_level(logging.DEBUG):
        wrong = await resident.register_service(
            provider.payment_service_id, "acct-secret-1", security_code=code + "x"
        )
        assert_code(wrong, 422, "account_verification_failed")
        answer = await resident.register_service(
            provider.payment_service_id, "acct-secret-1", security_code=code
        )
    assert answer.status_code == 201, answer.text
    assert code not in answer.text and code not in wrong.text
    assert code not in caplog.text
    async with hub.ctx.sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(table.select())).all()
            assert all(code not in repr(row) for row in rows), table.name


async def test_the_resident_lists_their_registrations_masked_page_by_page(hub: Hub) -> None:
    provider = await onboard_provider(hub, "sync")
    resident, other = await logged_in(hub), await logged_in(hub)
    accounts = [f"acct-{secrets.token_hex(4)}" for _ in range(3)]
    for account in accounts:
        registered = await resident.register_service(provider.payment_service_id, account)
        assert registered.status_code == 201, registered.text
        assert registered.json()["account_id"] == account  # the resident just typed it
    assert (await other.register_service(provider.payment_service_id, "acct-other-1")).is_success

    first = (await resident.get("/v1/me/payment-services", limit=2)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (
        await resident.get("/v1/me/payment-services", limit=2, cursor=first["next_cursor"])
    ).json()
    assert rest["next_cursor"] is None
    listed = first["items"] + rest["items"]
    assert [r["account_id"] for r in listed] == ["*" * 9 + a[-4:] for a in accounts]
    assert {r["payment_service_id"] for r in listed} == {provider.payment_service_id}
    me = (await resident.get("/v1/me")).json()
    assert [r["registration_id"] for r in me["payment_services"]] == [
        r["registration_id"] for r in listed
    ]
