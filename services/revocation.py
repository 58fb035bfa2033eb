"""Revoking a MyKey ID: irreversible; every point not yet credited is forfeited (FAQ: その他).

One transaction marks the MyKey ID revoked (with its reason), ends its sessions and forfeits
every grant no provider holds yet, each with its ledger line. Each running application workflow
is then told, and forfeits the rest as credits already with a provider come back: a credit the
provider confirmed stays credited, a rejected one is forfeited, so no point is both.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import RuleViolation
from domain.mykeys import MyKeyAction, check_reason
from services.context import HubContext
from storage import identity
from storage.models import Application
from storage.receipts import forfeit_open_grants
from workflows.application import ApplicationWorkflow

log = logging.getLogger(__name__)

# Temporal answers NOT_FOUND for a workflow that has ended (or never ran): nothing to tell.
ENDED = frozenset({RPCStatusCode.NOT_FOUND})
# Worth another try: the service is down, overloaded or slow, not refusing this call.
PASSING = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.INTERNAL,
        RPCStatusCode.UNKNOWN,
    }
)
SIGNAL_ATTEMPTS = 3
SIGNAL_BACKOFF_S = 0.25
RETRY_AFTER_S = 5


class Told(StrEnum):
    SIGNALLED = "signalled"
    ENDED = "ended"
    UNREACHABLE = "unreachable"


@dataclass
class Revocation:
    mykey_id: str
    revoked_at: datetime
    previous_status: str
    forfeited_grant_ids: list[str] = field(default_factory=list)
    signalled_workflows: int = 0
    unsignalled_workflows: int = 0  # Temporal unreachable: the database forfeit already holds


async def _tell(ctx: HubContext, workflow_id: str) -> Told:
    """Signal one application workflow; an ended one needs nothing. A passing failure of the
    workflow service is tried again a few times; whatever else it answers is not taken for
    "ended" (the workflow may well be running) but reported as unreachable."""
    for attempt in range(SIGNAL_ATTEMPTS):
        try:
            handle = ctx.client().get_workflow_handle_for(ApplicationWorkflow.run, workflow_id)
            await handle.signal(ApplicationWorkflow.revoke, "mykey_revoked")
            return Told.SIGNALLED
        except RPCError as error:
            if error.status in ENDED:
                return Told.ENDED
            if error.status not in PASSING:
                log.error(
                    "revocation signal to %s refused (%s): %s",
                    workflow_id,
                    error.status.name,
                    error.message,
                )
                return Told.UNREACHABLE
            last = f"{error.status.name}: {error.message}"
        except RuleViolation as unavailable:  # no client in this process yet
            last = unavailable.detail
        if attempt + 1 < SIGNAL_ATTEMPTS:
            await asyncio.sleep(SIGNAL_BACKOFF_S * 2**attempt)
    log.warning("revocation signal to %s not delivered: %s", workflow_id, last)
    return Told.UNREACHABLE


async def _tell_all(ctx: HubContext, workflow_ids: list[str], result: Revocation) -> None:
    for workflow_id in workflow_ids:
        told = await _tell(ctx, workflow_id)
        if told is Told.SIGNALLED:
            result.signalled_workflows += 1
        elif told is Told.UNREACHABLE:
            result.unsignalled_workflows += 1


def _not_all_told(result: Revocation) -> RuleViolation:
    """503 after the revocation committed: the caller sends it again, which tells the rest."""
    log.error(
        "MyKey ID revoked, but %d application workflow(s) could not be told; their receipts "
        "are forfeited in the database and will not be credited. Send the revocation again.",
        result.unsignalled_workflows,
    )
    return RuleViolation(
        "temporal_unavailable",
        f"the MyKey ID is revoked and its open points forfeited, but "
        f"{result.unsignalled_workflows} application workflow(s) could not be told because the "
        "workflow service is unavailable; send the revocation again to tell them",
        status=503,
        retry_after_s=RETRY_AFTER_S,
    )


async def _workflow_ids(session: AsyncSession, mykey_id: str) -> list[str]:
    rows = await session.execute(
        select(Application.workflow_id).where(Application.mykey_id == mykey_id)
    )
    return list(rows.scalars())


async def revoke_mykey(ctx: HubContext, mykey_id: str, *, reason: str, actor: str) -> Revocation:
    """Mark the MyKey ID revoked, end its sessions, forfeit what no provider holds yet, and tell
    each of its running application workflows, which forfeit the rest as credits come back.

    The database change holds whatever the workflow service does. When a workflow cannot be told
    (the service unavailable past a few tries), the caller gets 503 `temporal_unavailable`; the
    same revocation sent again finds the MyKey ID revoked, tells its workflows (a second signal
    is harmless) and answers 409 `mykey_revoked` once they have all been told."""
    reason = check_reason(reason)
    now = ctx.clock()
    try:
        async with ctx.sessions.begin() as session:
            change = await identity.change_status(
                session, mykey_id, MyKeyAction.REVOKE, reason=reason, actor=actor, now=now
            )
            forfeited = await forfeit_open_grants(session, mykey_id=mykey_id, now=now, actor=actor)
            workflow_ids = await _workflow_ids(session, mykey_id)
    except RuleViolation as refused:
        if refused.code != "mykey_revoked":
            raise
        async with ctx.sessions() as session:
            workflow_ids = await _workflow_ids(session, mykey_id)
        again = Revocation(mykey_id=mykey_id, revoked_at=now, previous_status="revoked")
        await _tell_all(ctx, workflow_ids, again)
        if again.unsignalled_workflows:
            raise _not_all_told(again) from refused
        raise
    result = Revocation(
        mykey_id=mykey_id,
        revoked_at=now,
        previous_status=change.from_status.value,
        forfeited_grant_ids=forfeited,
    )
    await _tell_all(ctx, workflow_ids, result)
    if result.unsignalled_workflows:
        raise _not_all_told(result)
    return result
