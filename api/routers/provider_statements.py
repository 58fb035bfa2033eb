"""Providers' statements in, the hub's record of their credits out (SPEC §7).

`PUT /v1/providers/{provider_id}/statements/{business_date}` streams the CSV body into the
database as it arrives (a million rows need no more memory than ten), then answers with how the
day reconciled. `GET /v1/providers/{provider_id}/credits.csv?date=` streams the hub's side.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import Context, ProviderKey, require_scope
from api.schemas.provider import CREDITS_CSV, STATEMENT_CSV, StatementResult
from domain.business_days import JST, day_window, is_business_day
from domain.errors import RuleViolation
from services.statements import Declared, receive
from storage.models import PaymentProvider
from storage.statements import hub_credits_query

router = APIRouter(prefix="/v1/providers", tags=["provider"])

CREDITS_HEADER = (
    "receipt_id",
    "points",
    "measure_id",
    "municipality_code",
    "credited_at",
    "provider_reference",
)


def _count(value: str | None, header: str) -> int:
    """The declared totals are checked after the caller's scope, so another provider's key
    learns nothing from a malformed request (404 first)."""
    if value is None or not value.strip().isdigit() or not value.strip().isascii():
        raise RuleViolation(
            "statement_totals_missing",
            f"send {header} with a non-negative whole number",
            status=422,
        )
    return int(value.strip())


async def _provider(ctx: Context, principal: ProviderKey, provider_id: str) -> None:
    require_scope(principal, provider_id, "provider")
    async with ctx.sessions() as session:
        if await session.get(PaymentProvider, provider_id) is None:
            raise RuleViolation("not_found", "no such provider", status=404)


@router.put(
    "/{provider_id}/statements/{business_date}",
    response_model=StatementResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}, "example": STATEMENT_CSV}},
        },
        "x-raw-body": True,  # a file streamed row by row, not a JSON body
    },
)
async def put_statement(
    provider_id: str,
    business_date: date,
    request: Request,
    principal: ProviderKey,
    ctx: Context,
    records: str | None = Header(None, alias="Statement-Records", max_length=12),
    total_points: str | None = Header(None, alias="Statement-Total-Points", max_length=18),
) -> StatementResult:
    """Every credit this provider made on one JST business day, as UTF-8 CSV
    (`receipt_id,points,credited_at,provider_reference`). Idempotent by content; a different
    statement for the day replaces the earlier one while its month is open (409
    `settlement_closed` after). A bad row (422 `invalid_statement`, `errors` by line), a receipt
    of another provider, or totals that differ from the headers (422
    `statement_totals_mismatch`) refuse the whole statement: nothing is stored."""
    await _provider(ctx, principal, provider_id)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("text/csv", "application/csv"):
        raise RuleViolation("unsupported_media_type", "send the statement as text/csv", status=415)
    declared = Declared(
        records=_count(records, "Statement-Records"),
        total_points=_count(total_points, "Statement-Total-Points"),
    )
    received = await receive(
        ctx,
        provider_id=provider_id,
        business_date=business_date,
        body=request.stream(),
        declared=declared,
        source="api",
        actor=principal.actor,
    )
    return StatementResult(
        business_date=received.business_date,
        records=received.records,
        total_points=received.total_points,
        matched=received.matched,
        breaks=received.breaks,
        new_breaks=received.new_breaks,
        outcome=received.outcome,
        statement_id=received.statement_id,
        sha256=received.sha256,
    )


@router.get(
    "/{provider_id}/credits.csv",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "the hub's credits, UTF-8 CSV, credited_at in JST",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": CREDITS_CSV}},
        }
    },
)
async def credits_csv(
    provider_id: str,
    principal: ProviderKey,
    ctx: Context,
    day_text: str = Query(
        "", alias="date", max_length=10, description="JST business day, YYYY-MM-DD"
    ),
) -> StreamingResponse:
    """The hub's record of this provider's credits on a business day, for the provider's own
    reconciliation: `receipt_id,points,measure_id,municipality_code,credited_at,
    provider_reference` (credited_at in JST)."""
    await _provider(ctx, principal, provider_id)
    try:
        day = date.fromisoformat(day_text)
    except ValueError as exc:
        raise RuleViolation("validation_error", "date is YYYY-MM-DD", status=422) from exc
    if not is_business_day(day):
        raise RuleViolation(
            "invalid_business_date", f"{day.isoformat()} is not a JST business day", status=422
        )
    lo, hi = day_window(day)

    async def rows() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CREDITS_HEADER)
        async with ctx.sessions() as session:
            result = await session.stream(
                hub_credits_query(provider_id, lo, hi).execution_options(yield_per=2000)
            )
            async for receipt_id, points, measure_id, code, finished, reference in result:
                writer.writerow(
                    (
                        receipt_id,
                        points,
                        measure_id,
                        code,
                        finished.astimezone(JST).isoformat(),
                        reference or "",
                    )
                )
                if buffer.tell() > 64 * 1024:
                    yield buffer.getvalue().encode()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue().encode()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="credits-{provider_id}-{day}.csv"'},
    )
