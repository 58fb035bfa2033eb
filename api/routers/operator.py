"""Platform operators onboard municipalities, providers, payment services and API keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.deps import Context, Operator
from api.pagination import PageRequest, paging
from api.schemas import operator as schema
from api.views import iso
from domain.errors import RuleViolation
from services import operator, provider_pause
from services.context import HubContext
from services.provider_pause import PauseState
from storage.models import ApiKey, Municipality, PaymentProvider, PaymentService

router = APIRouter(prefix="/v1/operator", tags=["operator"])
Paging = Annotated[PageRequest, Depends(paging(default=100, maximum=500))]


def municipality_view(row: Municipality) -> dict[str, Any]:
    return {"code": row.code, "name": row.name, "created_at": iso(row.created_at)}


@router.post("/municipalities", status_code=201, response_model=schema.Municipality)
async def create_municipality(
    body: schema.MunicipalityBody, _: Operator, ctx: Context
) -> dict[str, Any]:
    return municipality_view(await operator.create_municipality(ctx, body.code, body.name))


@router.post("/providers", status_code=201, response_model=schema.Provider)
async def create_provider(body: schema.ProviderBody, _: Operator, ctx: Context) -> dict[str, Any]:
    row = await operator.create_provider(
        ctx, body.provider_id, body.name, body.adapter, body.config
    )
    return provider_view(row)


def provider_view(row: PaymentProvider, queue: PauseState | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "provider_id": row.id,
        "name": row.name,
        "adapter": row.adapter,
        "config": row.config,  # secrets are write-only: only their names are shown
        "secrets_set": sorted(row.secrets),
        "created_at": iso(row.created_at),
        "status": "active",
    }
    if queue is not None:
        view.update(
            status=queue.status,
            paused_reason=queue.paused_reason,
            paused_message=(
                {"ja": queue.paused_reason_ja, "en": queue.paused_reason_en}
                if queue.paused_reason_ja and queue.paused_reason_en
                else None
            ),
            paused_detail=queue.paused_detail,
            paused_at=iso(queue.paused_at),
            paused_by=queue.paused_by,
            waiting_receipts=queue.waiting_receipts,
        )
    return view


@router.get("/providers", response_model=schema.ProviderPage)
async def list_providers(_: Operator, ctx: Context, page: Paging) -> dict[str, Any]:
    rows, next_cursor = page.page(
        await operator.list_rows(
            ctx, PaymentProvider, PaymentProvider.id, limit=page.fetch, offset=page.offset
        )
    )
    async with ctx.sessions() as session:
        paused = await provider_pause.paused_states(session)
    return {"items": [provider_view(r, paused.get(r.id)) for r in rows], "next_cursor": next_cursor}


async def _provider_with_queue(ctx: HubContext, provider_id: str) -> dict[str, Any]:
    async with ctx.sessions() as session:
        row = await session.get(PaymentProvider, provider_id)
        if row is None:
            raise RuleViolation("not_found", "no such provider", status=404)
        return provider_view(row, await provider_pause.state(session, provider_id))


@router.get("/providers/{provider_id}", response_model=schema.Provider)
async def get_provider(provider_id: str, _: Operator, ctx: Context) -> dict[str, Any]:
    """The provider with its queue's state: paused or active, and when paused why and since when."""
    return await _provider_with_queue(ctx, provider_id)


@router.patch("/providers/{provider_id}", response_model=schema.Provider)
async def update_provider(
    provider_id: str, body: schema.ProviderPatch, _: Operator, ctx: Context
) -> dict[str, Any]:
    await operator.update_provider(ctx, provider_id, name=body.name, config=body.config)
    return await _provider_with_queue(ctx, provider_id)


@router.post("/providers/{provider_id}/pause", response_model=schema.Provider)
async def pause_provider(
    provider_id: str, body: schema.PauseBody, operator_key: Operator, ctx: Context
) -> dict[str, Any]:
    """Pause a provider's queue (maintenance, a suspected leak of its keys): its receipts wait,
    none is credited or given up, until it is resumed."""
    async with ctx.sessions.begin() as session:
        await provider_pause.pause(
            session, provider_id, actor=operator_key.actor, reason=body.reason, now=ctx.clock()
        )
    return await _provider_with_queue(ctx, provider_id)


@router.post("/providers/{provider_id}/resume", response_model=schema.Provider)
async def resume_provider(
    provider_id: str, body: schema.ResumeBody, operator_key: Operator, ctx: Context
) -> dict[str, Any]:
    """Resume a paused provider once its cause is fixed: its waiting receipts go on, each still
    exactly once."""
    async with ctx.sessions.begin() as session:
        await provider_pause.resume(
            session, provider_id, actor=operator_key.actor, note=body.note, now=ctx.clock()
        )
    return await _provider_with_queue(ctx, provider_id)


@router.get("/municipalities", response_model=schema.MunicipalityPage)
async def list_municipalities(_: Operator, ctx: Context, page: Paging) -> dict[str, Any]:
    rows, next_cursor = page.page(
        await operator.list_rows(
            ctx, Municipality, Municipality.code, limit=page.fetch, offset=page.offset
        )
    )
    return {"items": [municipality_view(r) for r in rows], "next_cursor": next_cursor}


def payment_service_view(row: PaymentService) -> dict[str, Any]:
    return {"payment_service_id": row.id, "name": row.name, "provider_id": row.provider_id}


@router.get("/payment-services", response_model=schema.PaymentServicePage)
async def list_payment_services(_: Operator, ctx: Context, page: Paging) -> dict[str, Any]:
    rows, next_cursor = page.page(
        await operator.list_rows(
            ctx, PaymentService, PaymentService.id, limit=page.fetch, offset=page.offset
        )
    )
    return {"items": [payment_service_view(r) for r in rows], "next_cursor": next_cursor}


@router.post("/payment-services", status_code=201, response_model=schema.PaymentService)
async def create_payment_service(
    body: schema.PaymentServiceBody, _: Operator, ctx: Context
) -> dict[str, Any]:
    row = await operator.create_payment_service(
        ctx, body.payment_service_id, body.name, body.provider_id
    )
    return payment_service_view(row)


@router.post("/api-keys", status_code=201, response_model=schema.CreatedApiKey)
async def create_api_key(body: schema.ApiKeyBody, _: Operator, ctx: Context) -> dict[str, Any]:
    row, key = await operator.create_api_key(ctx, body.role, body.scope, body.label)
    return {"key_id": row.id, "key": key, "role": row.role, "scope": row.scope}


def key_view(row: ApiKey) -> dict[str, Any]:
    """Never the key itself: it was shown once, at creation, and only its hash is kept."""
    return {
        "key_id": row.id,
        "role": row.role,
        "scope": row.scope,
        "label": row.label,
        "created_at": iso(row.created_at),
        "last_used_at": iso(row.last_used_at),
        "revoked_at": iso(row.revoked_at),
    }


@router.get("/api-keys", response_model=schema.ApiKeyPage)
async def list_api_keys(_: Operator, ctx: Context, page: Paging) -> dict[str, Any]:
    rows, next_cursor = page.page(
        await operator.list_rows(
            ctx, ApiKey, ApiKey.created_at, ApiKey.id, limit=page.fetch, offset=page.offset
        )
    )
    return {"items": [key_view(r) for r in rows], "next_cursor": next_cursor}


@router.post("/api-keys/{key_id}/revoke", response_model=schema.ApiKey)
async def revoke_api_key(key_id: str, _: Operator, ctx: Context) -> dict[str, Any]:
    return key_view(await operator.revoke_api_key(ctx, key_id))
