"""Every request gets a request ID; every non-GET request leaves an audit entry (SPEC §6).

The entry names the caller (set by the authentication dependencies through `note_principal`
and `note_resident`), the route, the object the path names, and the outcome: the status and,
for a refusal, the problem's `code`. It is written before the response leaves, so a client
that saw an answer can find the entry. Changes made by workflows are recorded by their own
activities, in their own transactions (`storage/audit.py`).

Login and resident writes are rate-limited here per client address, before any work is done;
the per-MyKey limit needs the session, so `note_resident` applies it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as NoFreeConnection
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem
from api.ratelimit import RateLimits
from api.refusal_lane import IN_LANE, RefusalLane
from api.shedding import LoadGauge
from domain.errors import RuleViolation
from domain.identifiers import random_hex
from hub.settings import Settings
from storage import audit
from storage.identity import SESSION_PREFIX
from storage.keys import Principal
from storage.models import MyKey

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_READS = {"GET", "HEAD", "OPTIONS"}
LOGIN_PATHS = {"/v1/auth/challenges", "/v1/auth/sessions"}
CODEC_PATHS = "/v1/operator/codec/"
OBJECT_TYPES = {
    "code": "municipality",
    "measure_id": "measure",
    "event_id": "event",
    "review_id": "review",
    "receipt_id": "receipt",
    "mykey_id": "mykey",
    "provider_id": "provider",
    "key_id": "api_key",
}
# Identifiers a response may carry for an object a request created; never tokens or keys.
RESULT_IDS = (
    "receipt_id",
    "measure_id",
    "event_id",
    "application_id",
    "registration_id",
    "payment_service_id",
    "provider_id",
    "key_id",
    "review_id",
    "report_id",
    "challenge_id",
    "mykey_id",
    "code",
)
_BODY_LIMIT = 256 * 1024


def note_principal(request: Request, principal: Principal) -> None:
    request.state.actor = principal.actor


async def note_resident(request: Request, mykey: MyKey) -> None:
    """Name the resident as the actor; a resident write counts against its MyKey ID's limit."""
    request.state.actor = f"resident:{mykey.mykey_id}"
    limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    if limits is not None and request.method not in _READS:
        await limits.hit(limits.resident, mykey.mykey_id)


def _request_id(headers: Headers) -> str:
    incoming = headers.get(REQUEST_ID_HEADER, "")
    if _VALID_REQUEST_ID.match(incoming):
        return incoming
    return random_hex(12)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _target(scope: Scope, body: dict[str, Any]) -> tuple[str, str]:
    """The object a request acted on: the last identifier in its path, else one it created."""
    params: dict[str, Any] = scope.get("path_params") or {}
    if params:
        name, value = list(params.items())[-1]
        return OBJECT_TYPES.get(name, name.removesuffix("_id")), str(value)
    for name in RESULT_IDS:
        value = body.get(name)
        if isinstance(value, str):
            return OBJECT_TYPES.get(name, name.removesuffix("_id")), value
    parts = [p for p in str(scope.get("path", "")).split("/") if p and p != "v1"]
    return (parts[-1] if parts else "request"), ""


def _drop_kept_reads(scope: Scope) -> None:
    """A write may have changed what a kept read says (`api/read_cache.py`)."""
    cache = getattr(getattr(scope.get("app"), "state", None), "read_cache", None)
    if cache is not None:
        cache.clear()


class RequestAuditMiddleware:
    def __init__(self, app: ASGIApp, limits: RateLimits | None = None) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = _request_id(headers)
        scope.setdefault("state", {})["request_id"] = request_id
        method = scope["method"]

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        if method in _READS:
            await self.app(scope, receive, tagged)
            return
        refusal = await self._rate_limited(scope, headers)
        if refusal is not None:
            await self._record(scope, request_id, 429, {"code": "rate_limited"})
            await refusal(scope, receive, tagged)
            return
        held: list[Message] = []
        size = 0

        async def holding(message: Message) -> None:
            nonlocal size
            held.append(message)
            if message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                if not message.get("more_body", False) or size > _BODY_LIMIT:
                    await self._flush(scope, request_id, held, tagged)

        try:
            await self.app(scope, receive, holding)
        except Exception:
            await self._record(scope, request_id, 500, {"code": "internal_error"})
            raise
        finally:
            _drop_kept_reads(scope)

    async def _flush(self, scope: Scope, request_id: str, held: list[Message], send: Send) -> None:
        if held and held[0]["type"] == "http.response.start":
            start = held[0]
            chunks = [m.get("body", b"") for m in held[1:]]
            body: dict[str, Any] = {}
            content_type = Headers(raw=start.get("headers", [])).get("content-type", "")
            if "json" in content_type and not any(m.get("more_body") for m in held[-1:]):
                try:
                    loaded = json.loads(b"".join(chunks) or b"{}")
                    body = loaded if isinstance(loaded, dict) else {}
                except ValueError:
                    body = {}
            await self._record(scope, request_id, int(start["status"]), body)
        for message in held:
            await send(message)
        held.clear()

    async def _rate_limited(self, scope: Scope, headers: Headers) -> ASGIApp | None:
        if self.limits is None:
            return None
        path = str(scope.get("path", ""))
        if path in LOGIN_PATHS:
            limit = self.limits.login
        elif headers.get("authorization", "").partition(" ")[2].startswith(SESSION_PREFIX):
            limit = self.limits.address
        else:
            return None
        try:
            await self.limits.hit(limit, _client(scope))
        except RuleViolation as refused:
            retry = str(refused.extra["retry_after_s"])
            return problem(429, refused.code, refused.detail, headers={"Retry-After": retry})
        return None

    async def _record(
        self, scope: Scope, request_id: str, status: int, body: dict[str, Any]
    ) -> None:
        app = scope.get("app")
        ctx = getattr(getattr(app, "state", None), "hub", None)
        if ctx is None:
            return
        state: dict[str, Any] = scope.get("state") or {}
        route = scope.get("route")
        template = getattr(route, "path", None) or str(scope.get("path", ""))
        code = body.get("code") if status >= 400 else None
        actor = state.get("actor")
        if actor is None and status < 400 and scope.get("path") == "/v1/auth/sessions":
            actor = f"resident:{body.get('mykey_id')}" if body.get("mykey_id") else None
        if actor is None and status < 400 and template.endswith("/webhooks"):
            actor = f"webhook:{(scope.get('path_params') or {}).get('provider_id', '')}"
        object_type, object_id = _target(scope, body if status < 400 else {})
        entry: dict[str, Any] = {
            "actor": actor or "anonymous",
            "action": f"{scope['method']} {template}",
            "object_type": object_type,
            "object_id": object_id,
            "outcome": f"{status} {code}" if code else str(status),
            "request_id": request_id,
            "detail": {"path": scope.get("path"), "status": status, "code": code},
        }
        try:
            writer = getattr(getattr(app, "state", None), "audit_writer", None)
            if writer is not None:
                await writer.write(**entry)
            else:
                async with ctx.sessions.begin() as session:
                    audit.record(session, **entry)
        except Exception:  # the answer stands; the missing entry is an alert
            log.exception("audit entry not written", extra={"request_id": request_id})


def _busy(gauge: LoadGauge | None) -> JSONResponse:
    """503 `overloaded`, with the wait this process's load suggests (`api/shedding.py`)."""
    retry_after = 1
    if gauge is not None:
        gauge.shed()
        retry_after = gauge.retry_after_s()
    return problem(
        503,
        "overloaded",
        "the hub is busy; try again shortly",
        headers={"Retry-After": str(retry_after)},
    )


class InFlightLimit:
    """Sheds load instead of queueing it: past `limit` requests at once in this process, a new one
    is answered at once with 503 `overloaded` and Retry-After, so a client backs off rather than
    waiting on a request that cannot be served in time. Probes and metrics are never shed. An
    application the refusal lane takes (`api/refusal_lane.py`) counts against the lane's limit
    instead, and past it is shed the same way: a wait of one second brought the lane's shed back
    before their place was free, and an app that tries six times gave up within seconds."""

    UNSHED = ("/healthz", "/readyz", "/metrics")

    def __init__(
        self, app: ASGIApp, limit: int, gauge: LoadGauge, lane: RefusalLane | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.gauge = gauge
        self.lane = lane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.UNSHED):
            await self.app(scope, receive, send)
            return
        if self.lane is not None and self.lane.takes(scope):
            await self._in_lane(self.lane, scope, receive, send)
            return
        if self.gauge.in_flight >= self.limit:
            await _busy(self.gauge)(scope, receive, send)
            return
        self.gauge.started()
        try:
            await self.app(scope, receive, send)
        finally:
            self.gauge.finished()

    async def _in_lane(self, lane: RefusalLane, scope: Scope, receive: Receive, send: Send) -> None:
        if lane.in_flight >= lane.limit:
            await _busy(self.gauge)(scope, receive, send)
            return
        scope.setdefault("state", {})[IN_LANE] = True
        lane.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            lane.in_flight -= 1


class CodecCors:
    """The Temporal UI calls the codec endpoint from the operator's browser: CORS from the UI's
    origin, for those two paths only (the bearer key is still required)."""

    def __init__(self, app: ASGIApp, origin: str) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=[origin],
            allow_methods=["POST"],
            allow_headers=["authorization", "content-type", "x-namespace"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(CODEC_PATHS):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def _no_free_connection(request: Request, exc: Exception) -> JSONResponse:
    """A request that found none of its process's database connections free within
    `HUB_API_DATABASE_WAIT_S` is shed like one past the in-flight limit, rather than queueing
    on the pool until its client gives up: the requests in flight can outnumber the connections
    many times over (512 against 20 by default). Nothing was written: the request never had a
    connection, or its transaction rolled back."""
    log.warning("no free database connection for %s %s: shed", request.method, request.url.path)
    return _busy(getattr(request.app.state, "load_gauge", None))


def install(app: FastAPI, settings: Settings) -> None:
    app.add_exception_handler(NoFreeConnection, _no_free_connection)
    limits = RateLimits(settings)
    app.state.rate_limits = limits
    app.add_middleware(RequestAuditMiddleware, limits=limits)
    ui = urlsplit(settings.temporal_ui_url)
    app.add_middleware(CodecCors, origin=f"{ui.scheme}://{ui.netloc}")
    lane = None
    if settings.api_refusal_lane_max_in_flight:
        lane = app.state.refusal_lane = RefusalLane(settings.api_refusal_lane_max_in_flight)
    if settings.api_max_in_flight or lane is not None:  # outermost: a shed request costs little
        app.state.load_gauge = LoadGauge()
        app.add_middleware(
            InFlightLimit,
            limit=settings.api_max_in_flight or sys.maxsize,
            gauge=app.state.load_gauge,
            lane=lane,
        )
