"""Support staff: a resident by MyKey ID, masked. The lookup is a POST, so the MyKey ID stays out
of the address bar, the browser history and access logs."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from api.deps import Context
from api.views import mask
from console.auth import CsrfChecked, SupportUser
from console.pages import render, translator
from domain.errors import RuleViolation
from domain.identifiers import is_mykey_id
from services import support

from . import console_router

router = console_router()


@router.get("/support/residents")
async def lookup_form(request: Request, _: SupportUser) -> Response:
    return render(request, "support/resident.html", {"found": None})


@router.post("/support/residents", dependencies=[CsrfChecked])
async def lookup(request: Request, _: SupportUser, ctx: Context) -> Response:
    value = (await request.form()).get("mykey_id")
    mykey_id = value.strip().upper() if isinstance(value, str) else ""
    t = translator(request)
    if not is_mykey_id(mykey_id):
        context: dict[str, Any] = {"found": None, "problem": t("residents.invalid_mykey")}
        return render(request, "support/resident.html", context, status=422)
    try:
        found = await support.resident(ctx, mykey_id)
    except RuleViolation as refused:
        context = {"found": None, "problem": t.error(refused.code, refused.detail)}
        return render(request, "support/resident.html", context, status=refused.status)
    totals: dict[str, int] = {}
    for grant in found.grants:
        totals[grant.state] = totals.get(grant.state, 0) + grant.points
    context = {"found": found, "totals": totals, "mask": mask}
    return render(request, "support/resident.html", context)
