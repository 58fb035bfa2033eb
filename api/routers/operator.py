"""Platform operators onboard municipalities, providers, payment services and API keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from api.deps import Context, Operator
from api.schemas import Strict
from api.views import iso
from services import operator
from storage.keys import Role

router = APIRouter(prefix="/v1/operator", tags=["operator"])


class MunicipalityBody(Strict):
    code: str = Field(pattern=r"^[0-9]{6}$")
    name: str = Field(min_length=1, max_length=200)


@router.post("/municipalities", status_code=201)
async def create_municipality(body: MunicipalityBody, _: Operator, ctx: Context) -> dict[str, Any]:
    row = await operator.create_municipality(ctx, body.code, body.name)
    return {"code": row.code, "name": row.name, "created_at": iso(row.created_at)}


class ProviderBody(Strict):
    provider_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
    adapter: str = Field(min_length=1, max_length=32)
    config: dict[str, Any] = Field(default_factory=dict)


@router.post("/providers", status_code=201)
async def create_provider(body: ProviderBody, _: Operator, ctx: Context) -> dict[str, Any]:
    row = await operator.create_provider(
        ctx, body.provider_id, body.name, body.adapter, body.config
    )
    return {
        "provider_id": row.id,
        "name": row.name,
        "adapter": row.adapter,
        "config": row.config,  # secrets are write-only
        "secrets_set": sorted(row.secrets),
    }


class PaymentServiceBody(Strict):
    payment_service_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
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
    label: str | None = Field(None, max_length=200)


@router.post("/api-keys", status_code=201)
async def create_api_key(body: ApiKeyBody, _: Operator, ctx: Context) -> dict[str, Any]:
    row, key = await operator.create_api_key(ctx, body.role, body.scope, body.label)
    return {"key_id": row.id, "key": key, "role": row.role, "scope": row.scope}
