"""Dependencies that keep routes short: the context, the caller, their scope."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.middleware import note_principal, note_resident
from api.refusal_lane import in_lane
from domain.errors import RuleViolation
from services.context import HubContext
from storage import identity, keys
from storage.keys import Principal, Role
from storage.models import MyKey


async def get_context(request: Request) -> HubContext:
    """The process's context; for a request in the refusal lane the same, but with the lane
    pool's sessions (`api/refusal_lane.py`)."""
    context: HubContext = request.app.state.hub
    if in_lane(request.scope):
        lane: AsyncEngine = request.app.state.lane_engine
        return replace(context, engine=lane, sessions=request.app.state.lane_sessions)
    return context


Context = Annotated[HubContext, Depends(get_context)]


async def _session(ctx: Context) -> AsyncIterator[AsyncSession]:
    async with ctx.sessions.begin() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RuleViolation("unauthenticated", "send Authorization: Bearer <token>", status=401)
    return token.strip()


def _resident_token(request: Request) -> str:
    token = bearer_token(request)
    if not token.startswith(identity.SESSION_PREFIX):
        raise RuleViolation("unauthenticated", "a resident session token is required", status=401)
    return token


async def _reading_resident(request: Request, ctx: Context, session: SessionDep) -> MyKey:
    """The session's resident, looked up in the route's own transaction: a read is then one
    transaction, not two."""
    mykey = await identity.resident_for_token(session, _resident_token(request), now=ctx.clock())
    await note_resident(request, mykey)  # the audit's actor; the per-MyKey rate limit
    return mykey


async def _resident(request: Request, ctx: Context) -> MyKey:
    """The session's resident, looked up in a transaction of its own: for routes whose work
    opens its own transactions."""
    async with ctx.sessions.begin() as session:
        return await _reading_resident(request, ctx, session)


CurrentResident = Annotated[MyKey, Depends(_resident)]
# The bare session token, for a service that looks the resident up in its own transaction.
ResidentToken = Annotated[str, Depends(_resident_token)]
ReadingResident = Annotated[MyKey, Depends(_reading_resident)]


def _principal_of(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def dependency(request: Request, ctx: Context) -> Principal:
        token = bearer_token(request)
        principal = None
        bootstrap = ctx.settings.operator_bootstrap_key.get_secret_value()
        if bootstrap and secrets.compare_digest(token.encode(), bootstrap.encode()):
            principal = Principal(role=Role.OPERATOR, scope=None, key_id="bootstrap")
        elif token.startswith(keys.KEY_PREFIX):
            async with ctx.sessions.begin() as session:
                principal = await keys.principal_for_key(session, token, now=ctx.clock())
        if principal is None:
            raise RuleViolation("unauthenticated", "unknown or revoked API key", status=401)
        note_principal(request, principal)  # the audit's actor
        if principal.role not in roles:
            raise RuleViolation("forbidden", "this key's role cannot use this endpoint", status=403)
        return principal

    return dependency


Operator = Annotated[Principal, Depends(_principal_of(Role.OPERATOR))]
MunicipalityStaff = Annotated[Principal, Depends(_principal_of(Role.MUNICIPALITY))]
ProviderKey = Annotated[Principal, Depends(_principal_of(Role.PROVIDER))]
SupportStaff = Annotated[Principal, Depends(_principal_of(Role.SUPPORT))]


def require_scope(principal: Principal, scope: str, what: str = "resource") -> None:
    """Another tenant's object is 404, not 403: its existence is not disclosed."""
    if principal.scope != scope:
        raise RuleViolation("not_found", f"no such {what}", status=404)
