"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import Context
from api.schemas.health import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a dependency is not reachable"}},
)
async def readyz(ctx: Context) -> dict[str, Any] | JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with ctx.sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports; it never raises
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if ctx.temporal is None:
        checks["temporal"] = "not connected"
    else:
        try:
            await ctx.temporal.service_client.check_health()
            checks["temporal"] = "ok"
        except Exception as exc:
            checks["temporal"] = f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return body if ready else JSONResponse(body, status_code=503)
