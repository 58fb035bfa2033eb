"""Providers and their queues: which is paused, why and since when, with the provider's raw
answer one click away; an operator resumes a paused provider here (audited, like the API's
`POST /v1/operator/providers/{id}/resume`). Support staff read the same pages: they explain why a
provider's receipts wait."""

from __future__ import annotations

from fastapi import Request, Response

from api.deps import Context
from console.auth import CsrfChecked, OperatorUser, ProvidersReader
from console.pages import redirect, render, translator
from domain.errors import RuleViolation
from services import operator, provider_pause
from storage.models import PaymentProvider

from . import console_router

router = console_router()


@router.get("/providers")
async def providers(request: Request, _: ProvidersReader, ctx: Context) -> Response:
    rows = await operator.list_rows(ctx, PaymentProvider, PaymentProvider.id)
    async with ctx.sessions() as session:
        paused = await provider_pause.paused_states(session)
    context = {"rows": rows, "paused": paused}
    return render(request, "providers/list.html", context)


async def _provider_page(
    request: Request, ctx: Context, provider_id: str, *, note: str = "", problem: str | None = None
) -> Response:
    async with ctx.sessions() as session:
        row = await session.get(PaymentProvider, provider_id)
        if row is None:
            raise RuleViolation("not_found", "no such provider", status=404)
        queue = await provider_pause.state(session, provider_id)
    context = {"provider": row, "queue": queue, "note": note, "problem": problem}
    return render(request, "providers/provider.html", context, status=409 if problem else 200)


@router.get("/providers/{provider_id}")
async def provider(
    request: Request, provider_id: str, _: ProvidersReader, ctx: Context
) -> Response:
    return await _provider_page(request, ctx, provider_id)


@router.post("/providers/{provider_id}/resume", dependencies=[CsrfChecked])
async def resume(request: Request, provider_id: str, user: OperatorUser, ctx: Context) -> Response:
    note_value = (await request.form()).get("note")
    note = note_value.strip() if isinstance(note_value, str) else ""
    if len(note) > 2000:
        raise RuleViolation("validation_error", "a note is at most 2000 characters")
    try:
        async with ctx.sessions.begin() as session:
            await provider_pause.resume(
                session, provider_id, actor=user.actor, note=note or None, now=ctx.clock()
            )
    except RuleViolation as refused:
        if refused.status == 404:
            raise
        problem = translator(request).error(refused.code, refused.detail)
        return await _provider_page(request, ctx, provider_id, note=note, problem=problem)
    return redirect(
        request, f"/console/providers/{provider_id}", "flash.provider_resumed", provider=provider_id
    )
