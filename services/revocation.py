"""Revoking a MyKey ID: irreversible; every point not yet credited is forfeited (FAQ: その他)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select
from temporalio.service import RPCError

from domain.errors import RuleViolation
from services.context import HubContext
from storage.models import Application, MyKey, ResidentSession
from storage.receipts import forfeit_open_grants
from workflows.application import ApplicationWorkflow


@dataclass
class Revocation:
    mykey_id: str
    forfeited_grant_ids: list[str] = field(default_factory=list)
    signalled_workflows: int = 0


async def revoke_mykey(ctx: HubContext, mykey_id: str, *, reason: str, actor: str) -> Revocation:
    """Mark the MyKey ID revoked, end its sessions, forfeit what no provider holds yet, and tell
    each of its running application workflows, which forfeit the rest as credits come back."""
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        mykey = await session.get(MyKey, mykey_id, with_for_update=True)
        if mykey is None:
            raise RuleViolation("not_found", "no such MyKey ID", status=404)
        mykey.status = "revoked"
        mykey.status_changed_at = now
        await session.execute(delete(ResidentSession).where(ResidentSession.mykey_id == mykey_id))
        forfeited = await forfeit_open_grants(session, mykey_id=mykey_id, now=now, actor=actor)
        workflow_ids = list(
            (
                await session.execute(
                    select(Application.workflow_id).where(Application.mykey_id == mykey_id)
                )
            ).scalars()
        )
    result = Revocation(mykey_id=mykey_id, forfeited_grant_ids=forfeited)
    for workflow_id in workflow_ids:
        handle = ctx.client().get_workflow_handle_for(ApplicationWorkflow.run, workflow_id)
        try:
            await handle.signal(ApplicationWorkflow.revoke, reason)
            result.signalled_workflows += 1
        except RPCError:
            continue  # the workflow has ended: its grants are all final already
    return result
