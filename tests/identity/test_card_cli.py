"""`mph card` by hand against a running hub: a new card, login, three wrong PINs lock it, the
office resets the PIN, renewal keeps the MyKey ID, revocation reaches the hub through the CRL."""

from __future__ import annotations

import asyncio
import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from cli.main import app
from simulators.jpki import TestCA
from simulators.jpki_service import from_directory
from tests.identity.conftest import Clock, IdentityHub, identity_hub


@pytest.fixture
async def hub_and_data(
    tmp_path: Path, session_tmp: Path, temporal_env: WorkflowEnvironment
) -> AsyncIterator[tuple[IdentityHub, Path]]:
    data_dir = tmp_path / "data"
    ca = TestCA.load_or_create(data_dir / "jpki")  # what `mph dev` does on its first start
    async with identity_hub(
        session_tmp,
        temporal_env,
        cas=[ca],
        clock=Clock(),
        published=from_directory(data_dir / "jpki"),  # read afresh, as `mph card serve` does
    ) as hub:
        yield hub, data_dir


async def card(hub: IdentityHub, data_dir: Path, *args: str) -> Result:
    command = ["card", "--data-dir", str(data_dir), "--api-url", str(hub.http.base_url), *args]

    def run() -> Result:  # in a thread: the command runs its own event loop
        return CliRunner().invoke(app, command)

    return await asyncio.to_thread(run)


def mykey_in(result: Result) -> str:
    found = re.search(r"MyKey ID ([0-9A-Z]{8})", result.output)
    assert found, result.output
    return found.group(1)


async def test_a_card_by_hand_from_issue_to_revocation(
    hub_and_data: tuple[IdentityHub, Path],
) -> None:
    hub, data = hub_and_data
    made = await card(hub, data, "new", "alice", "--pin", "1234")
    assert made.exit_code == 0, made.output
    card_file = data / "cards" / "alice.json"
    assert stat.S_IMODE(card_file.stat().st_mode) == 0o600

    first = await card(hub, data, "login", "alice", "--pin", "1234")
    assert first.exit_code == 0, first.output
    assert "issued now" in first.output
    mykey_id = mykey_in(first)

    before = await hub.counts()
    outputs = []
    for _ in range(3):
        wrong = await card(hub, data, "login", "alice", "--pin", "0000")
        assert wrong.exit_code == 1
        outputs.append(wrong.output)
    assert "2 attempt(s) left" in outputs[0]
    assert "1 attempt(s) left" in outputs[1]
    assert "locked" in outputs[2]
    locked = await card(hub, data, "login", "alice", "--pin", "1234")
    assert locked.exit_code == 1
    assert "locked" in locked.output
    assert (await hub.counts()).mykeys == before.mykeys

    reset = await card(hub, data, "reset-pin", "alice", "--new-pin", "4321")
    assert reset.exit_code == 0, reset.output
    renewed = await card(hub, data, "renew", "alice")
    assert renewed.exit_code == 0, renewed.output
    again = await card(hub, data, "login", "alice", "--pin", "4321")
    assert again.exit_code == 0, again.output
    assert mykey_in(again) == mykey_id
    assert "already known" in again.output

    listed = await card(hub, data, "list")
    assert listed.output.startswith("alice: serial ")

    revoked = await card(hub, data, "revoke", "alice")
    assert revoked.exit_code == 0, revoked.output
    await hub.refresh_crls()
    refused = await card(hub, data, "login", "alice", "--pin", "4321")
    assert refused.exit_code == 1
    assert "certificate_revoked" in refused.output


async def test_a_card_issued_just_now_says_when_it_will_work(
    hub_and_data: tuple[IdentityHub, Path],
) -> None:
    hub, data = hub_and_data
    assert (await card(hub, data, "new", "bob", "--issued-minutes-ago", "0")).exit_code == 0
    early = await card(hub, data, "login", "bob", "--pin", "1234")
    assert early.exit_code == 1
    assert "certificate_not_yet_active" in early.output
    assert "retry from" in early.output
    duplicate = await card(hub, data, "new", "bob")
    assert duplicate.exit_code == 2
