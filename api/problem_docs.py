"""The error half of the OpenAPI schema: every route may answer with problem details.

Clients and contract tests read the schema to know what a response may look like; without
this the schema would promise FastAPI's own validation error shape (which the hub never sends)
and leave every other refusal undocumented.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Problem(BaseModel):
    """RFC 9457 problem details; `code` is the stable machine code (SPEC §5)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str
    detail: str


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
    schema = {"application/problem+json": {"schema": Problem.model_json_schema()}}
    responses: dict[int | str, dict[str, Any]] = {
        status: {"description": text, "content": schema} for status, text in _STATUSES.items()
    }
    return responses
