"""Every error leaves the API as RFC 9457 problem details with a stable machine `code`."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from domain.errors import RuleViolation

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://mynapoint-hub.example/problems/"
STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def problem(
    status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if k not in body})
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "malformed_json", "the request body is not valid JSON")
    if my_number := next((e for e in errors if e.get("type") == "contains_my_number"), None):
        field = ".".join(str(p) for p in my_number.get("loc", ())[1:]) or "a field"
        return problem(422, "contains_my_number", f"{field} contains what looks like a My Number")
    simplified = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]
    return problem(
        422, "validation_error", "the request does not match the schema", errors=simplified
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(RuleViolation)
    async def _rule(_: Request, exc: RuleViolation) -> JSONResponse:
        headers = None
        if "retry_after_s" in exc.extra:
            headers = {"Retry-After": str(exc.extra["retry_after_s"])}
        return problem(exc.status, exc.code, exc.detail, headers=headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_problem(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such resource"
        return problem(exc.status_code, code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RPCTimeoutOrCancelledError)
    @app.exception_handler(RPCError)
    async def _workflow_service(request: Request, exc: Exception) -> JSONResponse:
        """Temporal did not answer in time or refused the call: the caller may try again, and
        should first look whether a write it sent was taken (a receipt, an application)."""
        log.warning("workflow service error on %s %s: %r", request.method, request.url.path, exc)
        return problem(
            503,
            "temporal_unavailable",
            "the workflow service did not answer in time; the request may have been taken, "
            "so look before sending it again",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal_error", "an unexpected error occurred; it has been logged")
