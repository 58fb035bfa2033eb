"""Revocation through CRLs: read from URLs or files, refreshed on a schedule, believed only when
the issuing root signed them, and failing closed once stale beyond the configured grace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from simulators.jpki import TestCA
from tests.identity.conftest import Clock, IdentityHub, identity_hub


async def login_code(hub: IdentityHub, card) -> str:
    response = await hub.login(card)
    return "ok" if response.status_code == 201 else response.json()["code"]


async def test_a_revocation_reaches_the_hub_at_the_next_scheduled_refresh(
    session_tmp: Path, temporal_env: WorkflowEnvironment
) -> None:
    ca = TestCA.create()
    async with identity_hub(
        session_tmp, temporal_env, cas=[ca], clock=Clock(), jpki_crl_refresh_s=0.2
    ) as hub:
        card = hub.card()
        assert await login_code(hub, card) == "ok"
        ca.revoke(card.serial_hex)
        codes = []
        for _ in range(50):  # no manual refresh: the hub's own schedule must pick it up
            codes.append(await login_code(hub, card))
            if codes[-1] != "ok":
                break
            await asyncio.sleep(0.1)
        assert codes[-1] == "certificate_revoked", codes


@pytest.fixture
async def file_hub(
    session_tmp: Path, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[tuple[IdentityHub, Path]]:
    ca = TestCA.create()
    crl_file = tmp_path / "jpki-user-authentication.crl"
    clock = Clock()
    crl_file.write_bytes(ca.crl_der(this_update=clock()))
    async with identity_hub(
        session_tmp,
        temporal_env,
        cas=[ca],
        clock=clock,
        jpki_crl_sources=[str(crl_file)],
        jpki_crl_grace_s=600,
    ) as hub:
        yield hub, crl_file


async def test_a_crl_file_is_read_and_read_again(file_hub: tuple[IdentityHub, Path]) -> None:
    hub, crl_file = file_hub
    card = hub.card()
    assert await login_code(hub, card) == "ok"
    hub.ca.revoke(card.serial_hex)
    hub.clock.advance(seconds=1)
    crl_file.write_bytes(hub.ca.crl_der(this_update=hub.clock()))
    await hub.refresh_crls()
    assert await login_code(hub, card) == "certificate_revoked"


async def test_a_crl_past_next_update_fails_closed_after_the_grace_period(
    file_hub: tuple[IdentityHub, Path],
) -> None:
    hub, crl_file = file_hub
    card = hub.card()
    assert await login_code(hub, card) == "ok"
    next_update = hub.crls.snapshots[next(iter(hub.crls.snapshots))].next_update
    crl_file.unlink()  # from now on the source cannot be read: the last CRL is all there is
    hub.clock.now = next_update + timedelta(seconds=599)
    assert (await hub.crls.refresh()).failed
    assert await login_code(hub, card) == "ok"
    hub.clock.now = next_update + timedelta(seconds=601)
    before = await hub.counts()
    fresh = hub.card()  # also no new MyKey ID for someone the hub has never seen
    for who in (card, fresh):
        response = await hub.login(who)
        assert response.status_code == 503
        assert response.json()["code"] == "revocation_status_unavailable"
    assert await hub.counts() == before
    crl_file.write_bytes(hub.ca.crl_der(this_update=hub.clock()))
    await hub.refresh_crls()
    assert await login_code(hub, card) == "ok"


async def test_a_stale_crl_at_the_source_is_no_better(file_hub: tuple[IdentityHub, Path]) -> None:
    hub, crl_file = file_hub
    start = hub.clock()
    hub.clock.advance(hours=3)
    crl_file.write_bytes(  # the publisher is stuck: its newest CRL expired two hours ago
        hub.ca.crl_der(
            this_update=start + timedelta(seconds=1), next_update=start + timedelta(hours=1)
        )
    )
    await hub.refresh_crls()
    assert await login_code(hub, hub.card()) == "revocation_status_unavailable"


async def test_a_crl_of_a_forged_root_with_the_same_name_is_not_believed(
    file_hub: tuple[IdentityHub, Path],
) -> None:
    hub, crl_file = file_hub
    card = hub.card()
    assert await login_code(hub, card) == "ok"
    hub.ca.revoke(card.serial_hex)
    forged = TestCA.create()  # pretends that nothing is revoked
    hub.clock.advance(minutes=1)
    crl_file.write_bytes(forged.crl_der(this_update=hub.clock()))
    report = await hub.crls.refresh()
    assert "not signed by a trusted JPKI root" in report.failed[str(crl_file)]
    crl_file.write_bytes(hub.ca.crl_der(this_update=hub.clock()))
    await hub.refresh_crls()
    assert await login_code(hub, card) == "certificate_revoked"


async def test_an_unreachable_crl_url_at_start_fails_closed(
    session_tmp: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with identity_hub(
        session_tmp,
        temporal_env,
        cas=[TestCA.create()],
        clock=Clock(),
        jpki_crl_sources=["http://127.0.0.1:9/jpki.crl"],
    ) as hub:
        before = await hub.counts()
        response = await hub.login(hub.card())
        assert response.status_code == 503
        assert response.json()["code"] == "revocation_status_unavailable"
        assert response.headers["retry-after"]
        assert await hub.counts() == before
