"""Revocation tells each running application workflow; an unavailable workflow service is not
taken for "the workflow has ended" (issue 17, item 6).

The workflow service is stood in for by a client whose signal answers as the test says (a unit
test of `services/revocation.py` over the real database); the real one is used where it must
answer NOT_FOUND for a workflow that is not running. Signals reaching running workflows over
the whole hub: `tests/identity/test_revocation_in_flight.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import RuleViolation
from services import revocation
from services.revocation import Told, revoke_mykey
from storage.models import Application, MyKey
from tests.support.scenario import (
    add_provider,
    ensure_municipality,
    municipality_key,
    publish_measure,
)
from tests.support.stack import Hub


class Handle:
    def __init__(self, answers: Iterator[RPCStatusCode | None], calls: list[str]) -> None:
        self.answers, self.calls = answers, calls

    async def signal(self, *_: Any) -> None:
        self.calls.append("signal")
        status = next(self.answers)
        if status is not None:
            raise RPCError(f"{status.name} from the test", status, b"")


class Client:
    """Answers each signal with the next status (None: delivered)."""

    def __init__(self, *answers: RPCStatusCode | None) -> None:
        self.answers = iter(answers)
        self.calls: list[str] = []

    def get_workflow_handle_for(self, _run: Any, workflow_id: str) -> Handle:
        self.calls.append(workflow_id)
        return Handle(self.answers, self.calls)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revocation, "SIGNAL_BACKOFF_S", 0.0)


def with_client(hub: Hub, client: Any) -> Any:
    return dataclasses.replace(hub.ctx, temporal=client)


async def test_only_not_found_means_the_workflow_has_ended(hub: Hub) -> None:
    cases = [
        ((None,), Told.SIGNALLED, 1),
        ((RPCStatusCode.NOT_FOUND,), Told.ENDED, 1),
        ((RPCStatusCode.UNAVAILABLE, None), Told.SIGNALLED, 2),
        ((RPCStatusCode.DEADLINE_EXCEEDED,) * 3, Told.UNREACHABLE, 3),
        ((RPCStatusCode.PERMISSION_DENIED,), Told.UNREACHABLE, 1),  # refused: not retried
    ]
    for answers, told, signals in cases:
        client = Client(*answers)
        assert await revocation._tell(with_client(hub, client), "application-x") is told
        assert client.calls.count("signal") == signals, answers


async def resident_with_application(hub: Hub) -> str:
    await ensure_municipality(hub)
    _, service_id = await add_provider(hub)
    measure_id = await publish_measure(hub, await municipality_key(hub), [service_id])
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    assert (await resident.apply(measure_id)).status_code in (200, 201)
    assert resident.mykey_id is not None
    return resident.mykey_id


async def test_an_unavailable_workflow_service_is_a_503_and_sending_again_tells_them(
    hub: Hub,
) -> None:
    mykey_id = await resident_with_application(hub)
    down = Client(*[RPCStatusCode.UNAVAILABLE] * revocation.SIGNAL_ATTEMPTS)
    with pytest.raises(RuleViolation) as refused:
        await revoke_mykey(with_client(hub, down), mykey_id, reason="本人の申出", actor="op")
    assert (refused.value.code, refused.value.status) == ("temporal_unavailable", 503)
    assert refused.value.extra["retry_after_s"] == revocation.RETRY_AFTER_S
    assert "revoked" in refused.value.detail and "send the revocation again" in refused.value.detail
    async with hub.ctx.sessions() as session:
        mykey = await session.get(MyKey, mykey_id)
        assert mykey is not None and mykey.status == "revoked"  # the database change holds
        workflow_id = (
            await session.execute(
                select(Application.workflow_id).where(Application.mykey_id == mykey_id)
            )
        ).scalar_one()

    still_down = Client(*[RPCStatusCode.UNAVAILABLE] * revocation.SIGNAL_ATTEMPTS)
    with pytest.raises(RuleViolation) as again:
        await revoke_mykey(with_client(hub, still_down), mykey_id, reason="再送", actor="op")
    assert again.value.code == "temporal_unavailable"

    # Back up: the workflow is told (a second signal is harmless), then the usual 409.
    up = Client(None)
    with pytest.raises(RuleViolation) as told:
        await revoke_mykey(with_client(hub, up), mykey_id, reason="再送", actor="op")
    assert (told.value.code, told.value.status) == ("mykey_revoked", 409)
    assert up.calls == [workflow_id, "signal"]


async def test_the_real_workflow_service_answers_not_found_for_no_running_workflow(
    hub: Hub,
) -> None:
    """An application decided in the request has no workflow yet: Temporal's NOT_FOUND is read
    as "nothing to tell", and the revocation succeeds."""
    mykey_id = await resident_with_application(hub)
    async with hub.ctx.sessions() as session:
        workflow_id = (
            await session.execute(
                select(Application.workflow_id).where(Application.mykey_id == mykey_id)
            )
        ).scalar_one()
    real = with_client(hub, hub.client)
    assert await revocation._tell(real, workflow_id) is Told.ENDED
    result = await revoke_mykey(real, mykey_id, reason="本人の申出", actor="op")
    assert (result.signalled_workflows, result.unsignalled_workflows) == (0, 0)


async def test_an_ended_workflow_needs_no_signal(hub: Hub) -> None:
    mykey_id = await resident_with_application(hub)
    result = await revoke_mykey(
        with_client(hub, Client(RPCStatusCode.NOT_FOUND)), mykey_id, reason="x", actor="op"
    )
    assert (result.signalled_workflows, result.unsignalled_workflows) == (0, 0)
