"""Who is using the console: sign-in with an API key, and the role each page requires.

Municipality staff and support staff use the console, and platform operators its providers'
pages (a paused provider: why, since when, resume); provider keys are refused at sign-in (their
work is the API's). A municipality key's scope is its municipality code, and every
municipality page takes the code from the key, never from the URL, so editing a URL can only name
an object that the services then refuse as another tenant's (404).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from api.deps import Context
from api.middleware import note_principal
from domain.errors import RuleViolation
from services.context import HubContext
from storage import keys
from storage.keys import Principal, Role
from storage.models import ApiKey, Municipality

from . import session as cookies

CONSOLE_ROLES = (Role.MUNICIPALITY, Role.SUPPORT, Role.OPERATOR)
HOME = {
    Role.MUNICIPALITY: "/console/measures",
    Role.SUPPORT: "/console/support/stuck",
    Role.OPERATOR: "/console/providers",
}


class SignInRequired(Exception):
    """No valid session: the page answers with a redirect to the sign-in form."""


@dataclass(frozen=True)
class ConsoleUser:
    principal: Principal
    session: cookies.ConsoleSession
    label: str | None
    municipality_name: str | None = None

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def code(self) -> str:
        """The municipality a staff key acts for (only municipality pages ask)."""
        assert self.principal.scope is not None
        return self.principal.scope

    @property
    def actor(self) -> str:
        return self.principal.actor

    @property
    def home(self) -> str:
        return HOME[self.role]


async def sign_in(ctx: HubContext, key: str) -> Principal:
    """The principal of a console key, or a refusal. The key itself goes no further than here:
    only its ID is kept in the session."""
    principal = None
    key = key.strip()
    if key.startswith(keys.KEY_PREFIX) and len(key) <= 200:
        async with ctx.sessions.begin() as session:
            principal = await keys.principal_for_key(session, key, now=ctx.clock())
    if principal is None:
        raise RuleViolation("unauthenticated", "unknown or revoked API key", status=401)
    if principal.role not in CONSOLE_ROLES:
        raise RuleViolation("console_role_refused", "this key's role has no console", status=403)
    return principal


async def load_user(request: Request, ctx: HubContext) -> ConsoleUser:
    current = cookies.read(request, ctx.settings)
    if current is None or current.key_id is None:
        raise SignInRequired
    async with ctx.sessions() as session:
        row = await session.get(ApiKey, current.key_id)
        if row is None or row.revoked_at is not None or Role(row.role) not in CONSOLE_ROLES:
            raise SignInRequired
        place = await session.get(Municipality, row.scope) if row.scope else None
    principal = Principal(role=Role(row.role), scope=row.scope, key_id=row.id)
    note_principal(request, principal)  # the audit entry of a console write names its author
    user = ConsoleUser(principal, current, row.label, place.name if place else None)
    request.state.console_user = user
    return user


def _requires(*roles: Role) -> Callable[..., Coroutine[Any, Any, ConsoleUser]]:
    async def dependency(request: Request, ctx: Context) -> ConsoleUser:
        user = await load_user(request, ctx)
        if user.role not in roles:
            raise RuleViolation("forbidden", "this key's role cannot open this page", status=403)
        return user

    return dependency


async def _any_user(request: Request, ctx: Context) -> ConsoleUser:
    return await load_user(request, ctx)


StaffUser = Annotated[ConsoleUser, Depends(_requires(Role.MUNICIPALITY))]
SupportUser = Annotated[ConsoleUser, Depends(_requires(Role.SUPPORT))]
OperatorUser = Annotated[ConsoleUser, Depends(_requires(Role.OPERATOR))]
# Support staff read the providers' pages too: why a provider's receipts wait.
ProvidersReader = Annotated[ConsoleUser, Depends(_requires(Role.SUPPORT, Role.OPERATOR))]
AnyUser = Annotated[ConsoleUser, Depends(_any_user)]


async def csrf_checked(request: Request, ctx: Context) -> None:
    """Every form carries the session's token (field `csrf_token`, or the `X-CSRF-Token` header
    for scripted requests); a request without it changes nothing."""
    token = request.headers.get("x-csrf-token")
    if token is None:
        form = await request.form()
        value = form.get("csrf_token")
        token = value if isinstance(value, str) else None
    if not cookies.check_csrf(cookies.read(request, ctx.settings), token):
        raise RuleViolation(
            "csrf_failed", "the form is out of date; reload the page and try again", status=403
        )


CsrfChecked = Depends(csrf_checked)


def safe_next(target: str | None, default: str) -> str:
    """Only a console path is followed after sign-in: never another site."""
    if target and target.startswith("/console/") and "\\" not in target and "//" not in target:
        return target
    return default
