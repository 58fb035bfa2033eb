"""A renewed card keeps everything of its MyKey ID: points, applications, registrations; no
re-application (FAQ: 再度手続不要). Over the whole hub: API, worker, Temporal, provider simulator,
and the JPKI test services for CRLs and linking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from simulators.jpki import TestCA
from simulators.jpki_service import create_jpki_service
from simulators.resident_app import ResidentApp
from tests.identity.stack_support import enrolled, grant_of, wait_for_grant
from tests.support.databases import fresh_database
from tests.support.scenario import onboard
from tests.support.servers import serve
from tests.support.stack import Hub, running_hub


@pytest.fixture(scope="module")
async def linked_hub(session_tmp: Path, temporal_env: WorkflowEnvironment) -> AsyncIterator[Hub]:
    ca = TestCA.create()
    jpki = create_jpki_service(lambda: [ca])
    with fresh_database(session_tmp) as url:
        async with (
            serve(jpki) as jpki_url,
            running_hub(
                database_url=url,
                client=temporal_env.client,
                tmp_dir=session_tmp,
                ca=ca,
                jpki_link_service_url=jpki_url,
                jpki_crl_sources=[f"{jpki_url}/crl"],
                jpki_crl_refresh_s=0.2,
            ) as hub,
        ):
            yield hub


def renewed_card(hub: Hub, resident: ResidentApp) -> ResidentApp:
    renewed = hub.ca.renew_card(resident.card, issued_at=datetime.now(UTC) - timedelta(hours=2))
    return ResidentApp(hub.http, renewed)


async def test_renewal_keeps_the_mykey_id_its_points_and_its_registrations(
    linked_hub: Hub,
) -> None:
    hub = linked_hub
    setup = await onboard(hub)
    resident = hub.resident()
    registration_id = await enrolled(hub, resident, setup.payment_service_id, "renew-0001")
    grant_id = await grant_of(resident, setup.measure_id)
    mykey_id = resident.mykey_id

    renewed = renewed_card(hub, resident)
    login = await renewed.login()
    assert login.status_code == 201, login.text
    assert (login.json()["mykey_id"], login.json()["mykey_issued"]) == (mykey_id, False)
    points = await renewed.points()
    assert [(g["grant_id"], g["points"], g["state"]) for g in points["grants"]] == [
        (grant_id, 1000, "unreceived")
    ]
    me = (await renewed.get("/v1/me")).json()
    assert [r["registration_id"] for r in me["payment_services"]] == [registration_id]
    again = await renewed.apply(setup.measure_id)
    assert again.json()["code"] == "already_applied"

    receipt = await renewed.request_receipt([grant_id], registration_id)
    assert receipt.status_code == 202, receipt.text
    await wait_for_grant(renewed, grant_id, {"credited"})

    for _ in range(50):  # the replaced certificate is revoked: the next CRL refresh shows it
        old = await resident.login()
        if old.status_code != 201:
            break
        await asyncio.sleep(0.1)
    assert old.json()["code"] == "certificate_revoked"


async def test_a_renewed_card_proves_a_receipt_in_a_session_of_the_old_one(
    linked_hub: Hub,
) -> None:
    hub = linked_hub
    setup = await onboard(hub)
    resident = hub.resident()
    registration_id = await enrolled(hub, resident, setup.payment_service_id, "renew-0002")
    grant_id = await grant_of(resident, setup.measure_id)

    renewed = renewed_card(hub, resident)
    renewed.token, renewed.mykey_id = resident.token, resident.mykey_id  # the session goes on
    receipt = await renewed.request_receipt([grant_id], registration_id)
    assert receipt.status_code == 202, receipt.text
    await wait_for_grant(renewed, grant_id, {"credited"})
    login = await renewed.login()
    assert login.json()["mykey_id"] == resident.mykey_id
    assert login.json()["mykey_issued"] is False


async def test_someone_elses_renewed_card_is_no_card_proof(linked_hub: Hub) -> None:
    hub = linked_hub
    setup = await onboard(hub)
    owner, other = hub.resident(), hub.resident()
    registration_id = await enrolled(hub, owner, setup.payment_service_id, "renew-0003")
    grant_id = await grant_of(owner, setup.measure_id)
    assert (await other.login()).status_code == 201
    impostor = renewed_card(hub, other)
    impostor.token, impostor.mykey_id = owner.token, owner.mykey_id
    response = await impostor.request_receipt([grant_id], registration_id)
    assert response.status_code == 401
    assert response.json()["code"] == "card_proof_required"


async def test_a_renewed_cards_first_use_registers_a_payment_service(linked_hub: Hub) -> None:
    """The registration's reads then run after the renewal is bound, not in the proof's own
    transaction: an account taken by another resident is still refused before the provider is
    asked, and a free one is registered to the session's MyKey ID."""
    hub = linked_hub
    setup = await onboard(hub)
    resident, other = hub.resident(), hub.resident()
    await enrolled(hub, other, setup.payment_service_id, "renew-0004")
    assert (await resident.login()).status_code == 201

    renewed = renewed_card(hub, resident)
    renewed.token, renewed.mykey_id = resident.token, resident.mykey_id  # the session goes on
    taken = await renewed.register_service(setup.payment_service_id, "renew-0004")
    assert taken.status_code == 409, taken.text
    assert taken.json()["code"] == "account_already_registered"
    renewed2 = renewed_card(hub, resident)
    renewed2.token, renewed2.mykey_id = resident.token, resident.mykey_id
    free = await renewed2.register_service(setup.payment_service_id, "renew-0005")
    assert free.status_code == 201, free.text
    mine = await resident.get("/v1/me/payment-services")
    assert [r["registration_id"] for r in mine.json()["items"]] == [free.json()["registration_id"]]
