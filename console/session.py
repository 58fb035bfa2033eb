"""The console's cookie session: which API key signed in, and the CSRF token of its forms.

The cookie holds the key's ID (never the key itself), a random CSRF token and when the session
began, signed with `HUB_CONSOLE_SESSION_SECRET` so it cannot be forged or altered. It is HttpOnly
(scripts cannot read it), SameSite=Strict (no other site can make the browser send it) and Secure
in production. Revoking the API key ends every console session of that key at its next request,
because each request loads the key row again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from hub.settings import Settings

COOKIE = "mph_console"
FLASH_COOKIE = "mph_console_flash"
PATH = "/console"
MAX_AGE_S = 8 * 3600  # one working day; then the key is asked for again
FLASH_MAX_AGE_S = 120


@dataclass(frozen=True)
class ConsoleSession:
    csrf: str
    key_id: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.key_id is not None


def new_session(key_id: str | None = None) -> ConsoleSession:
    """A fresh CSRF token for every new session, so a token seen before sign-in is useless after."""
    return ConsoleSession(csrf=secrets.token_urlsafe(32), key_id=key_id)


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.console_session_secret.get_secret_value(), salt=salt)


def secure_cookies(request: Request, settings: Settings) -> bool:
    """Always Secure in production (TLS may end at a proxy); elsewhere when the request is HTTPS,
    so the development hub on http://127.0.0.1 still keeps its session."""
    return settings.is_production or request.url.scheme == "https"


def read(request: Request, settings: Settings) -> ConsoleSession | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(settings, "console-session").loads(raw, max_age=MAX_AGE_S)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return None
    key_id = data.get("k")
    return ConsoleSession(csrf=data["c"], key_id=key_id if isinstance(key_id, str) else None)


def _cookie(
    response: Response, request: Request, settings: Settings, name: str, value: str, age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request, settings),
    )


def write(
    response: Response, request: Request, settings: Settings, session: ConsoleSession
) -> None:
    value = _serializer(settings, "console-session").dumps({"c": session.csrf, "k": session.key_id})
    _cookie(response, request, settings, COOKIE, value, MAX_AGE_S)


def clear(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH)


def check_csrf(session: ConsoleSession | None, token: str | None) -> bool:
    if session is None or not token:
        return False
    return secrets.compare_digest(session.csrf.encode(), token.encode())


def set_flash(
    response: Response, request: Request, settings: Settings, key: str, **params: Any
) -> None:
    """A one-time message for the next page (after a redirect), e.g. "the measure was published"."""
    value = _serializer(settings, "console-flash").dumps({"m": key, "p": params})
    _cookie(response, request, settings, FLASH_COOKIE, value, FLASH_MAX_AGE_S)


def read_flash(request: Request, settings: Settings) -> tuple[str, dict[str, Any]] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(settings, "console-flash").loads(raw, max_age=FLASH_MAX_AGE_S)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("m"), str):
        return None
    params = data.get("p")
    return data["m"], params if isinstance(params, dict) else {}


def clear_flash(response: Response) -> None:
    response.delete_cookie(FLASH_COOKIE, path=PATH)
