"""Municipalities, payment providers and services, and measures with their offered services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import RuleViolation
from domain.measures import MeasureKind, MeasureTerms, ServiceOffer
from domain.providers import ProviderPolicy, policy_from_config
from storage.models import Measure, MeasurePaymentService, PaymentProvider, PaymentService


async def measure_offers(session: AsyncSession, measure_id: str) -> list[MeasurePaymentService]:
    rows = await session.execute(
        select(MeasurePaymentService)
        .where(MeasurePaymentService.measure_id == measure_id)
        .order_by(MeasurePaymentService.payment_service_id)
    )
    return list(rows.scalars())


def terms_of(measure: Measure, offers: list[MeasurePaymentService]) -> MeasureTerms:
    return MeasureTerms(
        kind=MeasureKind(measure.kind),
        points_per_grant=measure.points_per_grant,
        per_person_cap=measure.per_person_cap,
        budget_points=measure.budget_points,
        opens_at=measure.opens_at,
        closes_at=measure.closes_at,
        receipt_deadline=measure.receipt_deadline,
        target_list_only=measure.target_list_only,
        auto_grant=measure.auto_grant,
        review_required=measure.review_required,
        late_report_days=measure.late_report_days,
        services=tuple(ServiceOffer(o.payment_service_id, o.available_from) for o in offers),
    )


async def load_terms(session: AsyncSession, measure: Measure) -> MeasureTerms:
    return terms_of(measure, await measure_offers(session, measure.id))


async def get_measure(session: AsyncSession, measure_id: str) -> Measure:
    measure = await session.get(Measure, measure_id)
    if measure is None:
        raise RuleViolation("not_found", "no such measure", status=404)
    return measure


@dataclass(frozen=True)
class ProviderProfile:
    """What an adapter needs to talk to one provider: never passed into a workflow."""

    provider_id: str
    adapter: str
    config: dict[str, Any]
    secrets: dict[str, Any]

    @property
    def policy(self) -> ProviderPolicy:
        return policy_from_config(self.config)


def profile_of(provider: PaymentProvider) -> ProviderProfile:
    return ProviderProfile(
        provider_id=provider.id,
        adapter=provider.adapter,
        config=dict(provider.config),
        secrets=dict(provider.secrets),
    )


async def provider_for_service(session: AsyncSession, payment_service_id: str) -> PaymentProvider:
    """The provider behind a payment service, in one query (a service always has one)."""
    provider = (
        await session.execute(
            select(PaymentProvider)
            .join(PaymentService, PaymentService.provider_id == PaymentProvider.id)
            .where(PaymentService.id == payment_service_id)
        )
    ).scalar_one_or_none()
    if provider is None:
        raise RuleViolation("unknown_payment_service", "no such payment service", status=422)
    return provider


async def all_providers(session: AsyncSession) -> list[PaymentProvider]:
    return list(
        (await session.execute(select(PaymentProvider).order_by(PaymentProvider.id))).scalars()
    )


async def published_measures(
    session: AsyncSession,
    *,
    municipality_code: str | None = None,
    text: str | None = None,
    payment_service_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Measure]:
    query = select(Measure).where(Measure.state == "published")
    if municipality_code:
        query = query.where(Measure.municipality_code == municipality_code)
    if text:
        pattern = f"%{text}%"
        query = query.where(Measure.title.ilike(pattern) | Measure.description.ilike(pattern))
    if payment_service_id:
        query = query.where(
            Measure.id.in_(
                select(MeasurePaymentService.measure_id).where(
                    MeasurePaymentService.payment_service_id == payment_service_id
                )
            )
        )
    query = query.order_by(Measure.opens_at.desc(), Measure.id).limit(limit).offset(offset)
    return list((await session.execute(query)).scalars())


async def offers_by_measure(
    session: AsyncSession, measure_ids: list[str]
) -> dict[str, list[tuple[MeasurePaymentService, str]]]:
    """Each measure's offered services with the service names, in one query."""
    result: dict[str, list[tuple[MeasurePaymentService, str]]] = {m: [] for m in measure_ids}
    if not measure_ids:
        return result
    rows = await session.execute(
        select(MeasurePaymentService, PaymentService.name)
        .join(PaymentService, PaymentService.id == MeasurePaymentService.payment_service_id)
        .where(MeasurePaymentService.measure_id.in_(measure_ids))
        .order_by(MeasurePaymentService.payment_service_id)
    )
    for offer, name in rows.all():
        result[offer.measure_id].append((offer, name))
    return result
