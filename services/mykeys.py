"""What platform operators do to a MyKey ID: suspend (fraud suspected), resume, revoke, inspect.

Suspension stops logins, card proofs and new receipt requests; work already in flight carries
on, and resuming lets the resident in again. Revocation is `services/revocation.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import RuleViolation
from domain.mykeys import MyKeyAction, check_reason
from services.context import HubContext
from services.revocation import Revocation, revoke_mykey
from storage import identity
from storage.models.identity import CertificateBinding, MyKey, MyKeyStatusChange


async def _change(
    ctx: HubContext, mykey_id: str, action: MyKeyAction, *, reason: str, actor: str
) -> identity.StatusChange:
    reason = check_reason(reason)
    async with ctx.sessions.begin() as session:
        return await identity.change_status(
            session, mykey_id, action, reason=reason, actor=actor, now=ctx.clock()
        )


async def suspend(
    ctx: HubContext, mykey_id: str, *, reason: str, actor: str
) -> identity.StatusChange:
    return await _change(ctx, mykey_id, MyKeyAction.SUSPEND, reason=reason, actor=actor)


async def resume(
    ctx: HubContext, mykey_id: str, *, reason: str, actor: str
) -> identity.StatusChange:
    return await _change(ctx, mykey_id, MyKeyAction.RESUME, reason=reason, actor=actor)


async def revoke(ctx: HubContext, mykey_id: str, *, reason: str, actor: str) -> Revocation:
    return await revoke_mykey(ctx, mykey_id, reason=reason, actor=actor)


@dataclass(frozen=True)
class MyKeyOverview:
    mykey: MyKey
    certificates: list[CertificateBinding]
    history: list[MyKeyStatusChange]


async def overview(ctx: HubContext, mykey_id: str) -> MyKeyOverview:
    async with ctx.sessions() as session:
        mykey = await session.get(MyKey, mykey_id)
        if mykey is None:
            raise RuleViolation("not_found", "no such MyKey ID", status=404)
        return MyKeyOverview(
            mykey=mykey,
            certificates=await identity.bindings_of(session, mykey_id),
            history=await identity.status_history(session, mykey_id),
        )
