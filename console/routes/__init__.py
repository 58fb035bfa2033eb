"""Console routers, one module per area of work; the not-found page comes last."""

from __future__ import annotations

from fastapi import APIRouter

from console.pages import ConsoleRoute


def console_router() -> APIRouter:
    """Every console router: out of the OpenAPI schema, refusals rendered as pages."""
    return APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


def all_routers() -> list[APIRouter]:
    from console.routes import (
        dashboard,
        events,
        fallback,
        measures,
        providers,
        reviews,
        settlements,
        signin,
        support_breaks,
        support_receipts,
        support_residents,
        targets,
    )

    modules = (
        signin,
        measures,
        targets,
        events,
        reviews,
        dashboard,
        settlements,
        support_receipts,
        support_breaks,
        support_residents,
        providers,
    )
    return [m.router for m in modules] + [fallback.router]
