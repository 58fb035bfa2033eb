"""Revoking a MyKey ID: irreversible; every point not yet credited is forfeited (FAQ: その他).

One transaction marks the MyKey ID revoked (with its reason), ends its sessions and forfeits
every grant no provider holds yet, each with its ledger line. Each running application workflow
is then told, and forfeits the rest as credits already with a provider come back: a credit the
provider confirmed stays credited, a rejected one is forfeited, so no point is both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from temporalio.service import RPCError

from domain.errors import RuleViolation
from domain.mykeys import MyKeyAction, check_reason
from services.context import HubContext
from storage import identity
from storage.models import Application
from storage.receipts import forfeit_open_grants
from workflows.application import ApplicationWorkflow

log = logging.getLogger(__name__)


@dataclass
class Revocation:
    mykey_id: str
    revoked_at: datetime
    previous_status: str
    forfeited_grant_ids: list[str] = field(default_factory=list)
    signalled_workflows: int = 0
    unsignalled_workflows: int = 0  # Temporal unreachable: the database forfeit already holds


async def revoke_mykey(ctx: HubContext, mykey_id: str, *, reason: str, actor: str) -> Revocation:
    """Mark the MyKey ID revoked, end its sessions, forfeit what no provider holds yet, and tell
    each of its running application workflows, which forfeit the rest as credits come back."""
    reason = check_reason(reason)
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        change = await identity.change_status(
            session, mykey_id, MyKeyAction.REVOKE, reason=reason, actor=actor, now=now
        )
        forfeited = await forfeit_open_grants(session, mykey_id=mykey_id, now=now, actor=actor)
        workflow_ids = list(
            (
                await session.execute(
                    select(Application.workflow_id).where(Application.mykey_id == mykey_id)
                )
            ).scalars()
        )
    result = Revocation(
        mykey_id=mykey_id,
        revoked_at=now,
        previous_status=change.from_status.value,
        forfeited_grant_ids=forfeited,
    )
    for workflow_id in workflow_ids:
        try:
            handle = ctx.client().get_workflow_handle_for(ApplicationWorkflow.run, workflow_id)
            await handle.signal(ApplicationWorkflow.revoke, "mykey_revoked")
            result.signalled_workflows += 1
        except RPCError:
            continue  # the workflow has ended: its grants are all final already
        except RuleViolation:  # Temporal is not reachable from this process right now
            result.unsignalled_workflows += 1
    if result.unsignalled_workflows:
        log.warning(
            "revocation could not signal %d application workflow(s); their receipts are "
            "forfeited in the database and will not be credited",
            result.unsignalled_workflows,
        )
    return result
