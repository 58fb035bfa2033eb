"""Any other console address: a page that says so, in the reader's language, not problem JSON."""

from __future__ import annotations

from fastapi import Request, Response

from console.pages import refusal

from . import console_router

router = console_router()


@router.get("/{rest:path}")
async def not_found(request: Request, rest: str) -> Response:
    return refusal(request, 404, "not_found", "no such page")
