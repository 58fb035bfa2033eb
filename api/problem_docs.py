"""The error half of the OpenAPI document: every route may answer with problem details.

Clients and contract tests read the document to know what a response may look like; without
this it would promise FastAPI's own validation error shape (which the hub never sends) and
leave every other refusal undocumented. `Problem` is one component, referenced by every route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from api.problem_codes import annotate

PROBLEM_REF = "#/components/schemas/Problem"


class Problem(BaseModel):
    """RFC 9457 problem details; `code` is the stable machine code (SPEC §5). Some codes add
    members: `errors` (which fields or lines), `retry_at` and `retry_after_s` (when to try
    again; also the `Retry-After` header)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://mynapoint-hub.example/problems/already_applied",
                    "title": "Conflict",
                    "status": 409,
                    "code": "already_applied",
                    "detail": "one application per resident and measure",
                },
                {
                    "type": "https://mynapoint-hub.example/problems/validation_error",
                    "title": "Unprocessable Content",
                    "status": 422,
                    "code": "validation_error",
                    "detail": "the request does not match the schema",
                    "errors": [
                        {
                            "loc": ["body", "grant_ids"],
                            "msg": "Field required",
                            "type": "missing",
                        }
                    ],
                },
            ]
        },
    )

    type: str
    title: str
    status: int
    code: str = Field(description="stable machine code; see docs/app-integration.md")
    detail: str
    errors: list[dict[str, Any]] | None = Field(
        None, description="validation_error: [{loc, msg, type}]; file uploads: [{line, …}]"
    )
    retry_at: str | None = Field(None, description="certificate_not_yet_active: usable from")
    retry_after_s: int | None = Field(None, description="seconds to wait, as in Retry-After")


_STATUSES = {
    400: "malformed request",
    401: "no or unknown credentials",
    403: "this role cannot use this endpoint",
    404: "no such resource, or another tenant's",
    409: "conflicts with the current state",
    413: "request too large",
    415: "unsupported media type",
    422: "a rule or the schema refused the request",
    429: "rate limited; see Retry-After",
    503: "a dependency is unavailable; retry",
}


def problem_responses() -> dict[int | str, dict[str, Any]]:
    content = {"application/problem+json": {"schema": {"$ref": PROBLEM_REF}}}
    return {status: {"description": text, "content": content} for status, text in _STATUSES.items()}


def install_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The app's document, with `Problem` among its components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = Problem.model_json_schema()
            annotate(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return openapi
