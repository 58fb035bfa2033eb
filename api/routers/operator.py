"""Platform operators onboard municipalities, providers, payment services and API keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from api.deps import Context, Operator
from api.free_text import FreeText
from api.schemas import Strict
from api.views import iso
from domain.errors import RuleViolation
from services import operator
from storage.keys import Role
from storage.models import ApiKey, Municipality, PaymentProvider, PaymentService

router = APIRouter(prefix="/v1/operator", tags=["operator"])


class MunicipalityBody(Strict):
    code: str = Field(pattern=r"^[0-9]{6}$")
    name: FreeText = Field(min_length=1, max_length=200)


@router.post("/municipalities", status_code=201)
async def create_municipality(body: MunicipalityBody, _: Operator, ctx: Context) -> dict[str, Any]:
    row = await operator.create_municipality(ctx, body.code, body.name)
    return {"code": row.code, "name": row.name, "created_at": iso(row.created_at)}


class ProviderBody(Strict):
    provider_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")
    name: FreeText = Field(min_length=1, max_length=200)
    adapter: str = Field(min_length=1, max_length=32)
    config: dict[str, Any] = Field(default_factory=dict)


@router.post("/providers", status_code=201)
async def create_provider(body: ProviderBody, _: Operator, ctx: Context) -> dict[str, Any]:
    row = await operator.create_provider(
        ctx, body.provider_id, body.name, body.adapter, body.config
    )
    return provider_view(row)


def provider_view(row: PaymentProvider) -> dict[str, Any]:
    return {
        "provider_id": row.id,
        "name": row.name,
        "adapter": row.adapter,
        "config": row.config,  # secrets are write-only: only their names are shown
        "secrets_set": sorted(row.secrets),
        "created_at": iso(row.created_at),
    }


@router.get("/providers")
async def list_providers(_: Operator, ctx: Context) -> dict[str, Any]:
    rows = await operator.list_rows(ctx, PaymentProvider, PaymentProvider.id)
    return {"providers": [provider_view(r) for r in rows]}


@router.get("/providers/{provider_id}")
async def get_provider(provider_id: str, _: Operator, ctx: Context) -> dict[str, Any]:
    async with ctx.sessions() as session:
        row = await session.get(PaymentProvider, provider_id)
    if row is None:
        raise RuleViolation("not_found", "no such provider", status=404)
    return provider_view(row)


class ProviderPatch(Strict):
    name: FreeText | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None


@router.patch("/providers/{provider_id}")
async def update_provider(
    provider_id: str, body: ProviderPatch, _: Operator, ctx: Context
) -> dict[str, Any]:
    row = await operator.update_provider(ctx, provider_id, name=body.name, config=body.config)
    return provider_view(row)


@router.get("/municipalities")
async def list_municipalities(_: Operator, ctx: Context) -> dict[str, Any]:
    rows = await operator.list_rows(ctx, Municipality, Municipality.code)
    return {
        "municipalities": [
            {"code": r.code, "name": r.name, "created_at": iso(r.created_at)} for r in rows
        ]
    }


@router.get("/payment-services")
async def list_payment_services(_: Operator, ctx: Context) -> dict[str, Any]:
    rows = await operator.list_rows(ctx, PaymentService, PaymentService.id)
    return {
        "payment_services": [
            {"payment_service_id": r.id, "name": r.name, "provider_id": r.provider_id} for r in rows
        ]
    }


class PaymentServiceBody(Strict):
    payment_service_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")
    name: FreeText = Field(min_length=1, max_length=200)
    provider_id: str = Field(min_length=1, max_length=64)


@router.post("/payment-services", status_code=201)
async def create_payment_service(
    body: PaymentServiceBody, _: Operator, ctx: Context
) -> dict[str, Any]:
    row = await operator.create_payment_service(
        ctx, body.payment_service_id, body.name, body.provider_id
    )
    return {"payment_service_id": row.id, "name": row.name, "provider_id": row.provider_id}


class ApiKeyBody(Strict):
    role: Role
    scope: str | None = Field(None, max_length=64)
    label: FreeText | None = Field(None, max_length=200)


@router.post("/api-keys", status_code=201)
async def create_api_key(body: ApiKeyBody, _: Operator, ctx: Context) -> dict[str, Any]:
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


@router.get("/api-keys")
async def list_api_keys(_: Operator, ctx: Context) -> dict[str, Any]:
    rows = await operator.list_rows(ctx, ApiKey, ApiKey.created_at, ApiKey.id)
    return {"api_keys": [key_view(r) for r in rows]}


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(key_id: str, _: Operator, ctx: Context) -> dict[str, Any]:
    return key_view(await operator.revoke_api_key(ctx, key_id))
