"""The provider API (SPEC §5): signed webhooks, and the pull API for providers that fetch their
credit requests and acknowledge them. A provider key reads and answers only its own receipts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from api.deps import Context, ProviderKey, require_scope
from api.pagination import PageRequest, paging
from api.schemas import provider as schema
from api.views import iso
from domain.errors import RuleViolation
from domain.providers import AckMode
from services import provider_webhooks
from services.acknowledgements import acknowledge
from storage import batches, provider_inbox
from storage.catalog import profile_of
from storage.keys import Principal
from storage.models import PaymentProvider

router = APIRouter(prefix="/v1/providers", tags=["provider"])

MAX_WEBHOOK_BYTES = 64 * 1024


WEBHOOK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["type", "data"],
                "properties": {
                    "type": {
                        "type": "string",
                        "enum": ["credit.completed", "credit.rejected", "account.closed"],
                    },
                    "timestamp": {"type": "string", "format": "date-time"},
                    "data": {
                        "type": "object",
                        "properties": {
                            "receipt_id": {"type": "string"},
                            "reason": {"type": "string"},
                            "provider_reference": {"type": "string"},
                            "payment_service_id": {"type": "string"},
                            "account_id": {"type": "string"},
                        },
                    },
                },
            },
            "example": {
                "type": "credit.completed",
                "timestamp": "2026-11-27T03:05:01+00:00",
                "data": {"receipt_id": "app_7Q2…-g1-r1", "provider_reference": "PS-000123"},
            },
        }
    },
}
SIGNATURE_HEADERS = [
    {
        "name": name,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": text,
    }
    for name, text in (
        ("webhook-id", "unique per message; a repeated id is ignored"),
        ("webhook-timestamp", "Unix seconds; more than 5 minutes off is refused"),
        ("webhook-signature", 'v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{raw body}">'),
    )
]


@router.post(
    "/{provider_id}/webhooks",
    response_model=schema.WebhookReceipt,
    openapi_extra={
        "requestBody": WEBHOOK_BODY,
        "parameters": SIGNATURE_HEADERS,
        "x-raw-body": True,  # verified as signed bytes before it is read as JSON
    },
)
async def receive_webhook(provider_id: str, request: Request, ctx: Context) -> dict[str, Any]:
    """Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature` over the raw
    body, with one of the provider's webhook secrets. A repeated `webhook-id` is ignored."""
    if "webhook-signature" not in request.headers and "authorization" not in request.headers:
        raise RuleViolation(
            "unauthenticated",
            "sign the webhook: webhook-id, webhook-timestamp and webhook-signature",
            status=401,
        )
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise RuleViolation("payload_too_large", "a webhook body is at most 64 KiB", status=413)
    outcome = await provider_webhooks.receive(ctx, provider_id, body, request.headers)
    return {
        "event": outcome.event_type,
        "outcome": outcome.outcome,
        "registrations_invalidated": outcome.registrations_invalidated,
    }


async def _provider(ctx: Context, principal: Principal, provider_id: str) -> PaymentProvider:
    require_scope(principal, provider_id, "provider")
    async with ctx.sessions() as session:
        provider = await session.get(PaymentProvider, provider_id)
    if provider is None:
        raise RuleViolation("not_found", "no such provider", status=404)
    return provider


@router.get("/{provider_id}/credit-requests", response_model=schema.CreditRequestPage)
async def pending_credit_requests(
    provider_id: str,
    principal: ProviderKey,
    ctx: Context,
    page: Annotated[PageRequest, Depends(paging(default=100, maximum=1000))],
    status: Literal["pending"] = Query("pending"),
) -> dict[str, Any]:
    """Credit requests waiting for this provider's acknowledgement, oldest first. A request
    acknowledged meanwhile leaves the list, so a provider that acknowledges what it read may
    simply ask for the first page again."""
    provider = await _provider(ctx, principal, provider_id)
    pull = profile_of(provider).policy.ack_mode == AckMode.PULL.value
    async with ctx.sessions.begin() as session:
        found = await provider_inbox.pending_credit_requests(
            session, provider_id, include_crediting=pull, limit=page.fetch, offset=page.offset
        )
        rows, next_cursor = page.page(found)
        if pull:  # handed out: counted, so that a return waits for the provider's answer
            counted = await provider_inbox.count_pulls(session, [r.id for r in rows])
            rows = [r for r in rows if r.id in counted]
    return {
        "next_cursor": next_cursor,
        "items": [
            {
                "receipt_id": r.id,
                "account_id": r.account_id,
                "points": r.points,
                "measure_id": r.measure_id,
                "municipality_code": r.municipality_code,
                "requested_at": iso(r.created_at),
            }
            for r in rows
        ],
    }


@router.post(
    "/{provider_id}/credit-requests/{receipt_id}/ack", response_model=schema.Acknowledgement
)
async def acknowledge_credit_request(
    provider_id: str, receipt_id: str, body: schema.AckBody, principal: ProviderKey, ctx: Context
) -> dict[str, Any]:
    """Idempotent: the same answer again is 200; a different one is 409 `ack_conflict`."""
    require_scope(principal, provider_id, "provider")
    result = await acknowledge(
        ctx, provider_id, receipt_id, body.status, body.reason, body.provider_reference, "pull"
    )
    return {"receipt_id": receipt_id, "status": body.status, "result": result.verdict.value}


@router.get("/{provider_id}/batch-files", response_model=schema.BatchFiles)
async def batch_files(
    provider_id: str,
    principal: ProviderKey,
    ctx: Context,
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """Request files written for this provider and result files received from it, newest first,
    with what became of each result file (unknown receipt IDs included)."""
    await _provider(ctx, principal, provider_id)
    async with ctx.sessions() as session:
        written, received = await batches.recent_files(session, provider_id, limit)
    return {
        "request_files": [
            {
                "batch_id": b.id,
                "status": b.status,
                "file_name": b.file_name,
                "record_count": b.record_count,
                "total_points": b.total_points,
                "sha256": b.sha256,
                "written_at": iso(b.written_at),
            }
            for b in written
        ],
        "result_files": [
            {
                "file_name": r.file_name,
                "sha256": r.sha256,
                "status": r.status,
                "record_count": r.record_count,
                "applied": r.applied,
                "duplicates": r.duplicates,
                "conflicts": r.conflicts,
                "unknown_receipt_ids": r.unknown_receipt_ids or [],
                "detail": r.detail,
                "landed_at": iso(r.landed_at),
                "received_at": iso(r.received_at),
            }
            for r in received
        ],
    }
