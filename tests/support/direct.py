"""Seeding through the services directly, for tests that run without the HTTP API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.identifiers import new_mykey_id
from domain.measures import MeasureState, ServiceOffer
from services import measures, operator
from services.context import HubContext
from storage.keys import Role
from storage.models import MyKey


@dataclass
class Catalog:
    provider_id: str
    payment_service_id: str
    measure_id: str


async def seed_catalog(
    ctx: HubContext, *, base_url: str = "http://127.0.0.1:9", code: str = "131016", **terms: Any
) -> Catalog:
    async with ctx.sessions() as session:
        from storage.models import Municipality

        if await session.get(Municipality, code) is None:
            await operator.create_municipality(ctx, code, "千代田区")
    provider_id = f"sim-{secrets.token_hex(4)}"
    await operator.create_provider(
        ctx,
        provider_id,
        "Simulated",
        "hub_rest",
        {
            "base_url": base_url,
            "signing_secret": "whsec_" + "QUJD" * 8,
            "ack_mode": "sync",
            "retry": {"initial_interval_s": 0.1, "max_interval_s": 1, "max_attempts": 3},
        },
    )
    service_id = f"{provider_id}-pay"
    await operator.create_payment_service(ctx, service_id, "Sim Pay", provider_id)
    now = datetime.now(UTC)
    draft = measures.MeasureDraft(
        title="テスト施策",
        description="",
        kind="application",
        points_per_grant=1000,
        per_person_cap=1000,
        budget_points=None,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=10),
        receipt_deadline=now + timedelta(days=30),
        target_list_only=False,
        auto_grant=False,
        review_required=False,
        late_report_days=0,
        payment_services=[ServiceOffer(service_id, now - timedelta(days=1))],
    )
    for name, value in terms.items():
        setattr(draft, name, value)
    measure = await measures.create(ctx, code, draft)
    await measures.transition(ctx, code, measure.id, MeasureState.PUBLISHED)
    return Catalog(provider_id, service_id, measure.id)


async def new_resident(ctx: HubContext) -> str:
    mykey_id = new_mykey_id()
    async with ctx.sessions.begin() as session:
        session.add(
            MyKey(
                mykey_id=mykey_id,
                status="active",
                issued_at=datetime.now(UTC),
                status_changed_at=None,
            )
        )
    return mykey_id


async def municipality_key(ctx: HubContext, code: str = "131016") -> str:
    _, key = await operator.create_api_key(ctx, Role.MUNICIPALITY, code)
    return key
