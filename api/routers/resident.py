"""The resident API, used by the Mynapoint app with a session from card login."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field
from sqlalchemy import select

from api.deps import Context, CurrentResident, ReadingResident, SessionDep
from api.read_cache import ReadCache, render
from api.schemas import CardProofBody, Strict
from api.views import grant_view, iso, measure_view, receipt_view
from domain.errors import RuleViolation
from domain.points import GrantState
from services import applications, identity, receipts, registrations
from storage.catalog import offers_by_measure, published_measures
from storage.models import Grant, Measure, PaymentServiceRegistration, Receipt

router = APIRouter(prefix="/v1", tags=["resident"])


def _proof(body: CardProofBody | None) -> identity.CardProof | None:
    if body is None:
        return None
    return identity.CardProof(body.challenge_id, body.certificate, body.signature)


def registration_view(row: PaymentServiceRegistration) -> dict[str, Any]:
    return {
        "registration_id": row.id,
        "payment_service_id": row.payment_service_id,
        "account_id": row.account_id,
        "status": row.status,
        "created_at": iso(row.created_at),
    }


@router.get("/me")
async def me(resident: ReadingResident, session: SessionDep) -> dict[str, Any]:
    rows = await session.execute(
        select(PaymentServiceRegistration)
        .where(PaymentServiceRegistration.mykey_id == resident.mykey_id)
        .order_by(PaymentServiceRegistration.created_at)
    )
    return {
        "mykey_id": resident.mykey_id,
        "status": resident.status,
        "issued_at": iso(resident.issued_at),
        "payment_services": [registration_view(r) for r in rows.scalars()],
    }


@router.get("/measures", response_model=dict[str, Any])
async def list_measures(
    request: Request,
    _: ReadingResident,
    session: SessionDep,
    ctx: Context,
    municipality_code: str | None = Query(None, max_length=6),
    q: str | None = Query(None, max_length=100),
    payment_service_id: str | None = Query(None, max_length=64),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0),
) -> Response:
    """The same for every resident, so a rendered answer is kept a moment (`api/read_cache.py`)."""
    cache: ReadCache = request.app.state.read_cache
    key = ("measures", municipality_code, q, payment_service_id, limit, offset)
    body = cache.get(key)
    if body is None:
        measures = await published_measures(
            session,
            municipality_code=municipality_code,
            text=q,
            payment_service_id=payment_service_id,
            limit=limit,
            offset=offset,
        )
        offers = await offers_by_measure(session, [m.id for m in measures])
        now = ctx.clock()
        views = [
            measure_view(m, offers[m.id], now=now, hide_future_services=True) for m in measures
        ]
        body = render({"measures": views})
        cache.put(key, body)
    return Response(body, media_type="application/json")


@router.get("/measures/{measure_id}")
async def get_measure(
    measure_id: str, _: ReadingResident, session: SessionDep, ctx: Context
) -> dict[str, Any]:
    measure = await session.get(Measure, measure_id)
    if measure is None or measure.state == "draft":
        raise RuleViolation("not_found", "no such measure", status=404)
    offers = await offers_by_measure(session, [measure.id])
    return measure_view(measure, offers[measure.id], now=ctx.clock(), hide_future_services=True)


class RegistrationBody(Strict):
    payment_service_id: str = Field(min_length=1, max_length=64)
    account_id: str = Field(min_length=1, max_length=128)
    security_code: str = Field(min_length=1, max_length=64)
    card_proof: CardProofBody | None = None


@router.post("/me/payment-services", status_code=201)
async def register_payment_service(
    body: RegistrationBody, resident: CurrentResident, ctx: Context
) -> dict[str, Any]:
    await identity.check_card_proof(ctx, _proof(body.card_proof), resident.mykey_id)
    row = await registrations.register(
        ctx,
        mykey_id=resident.mykey_id,
        payment_service_id=body.payment_service_id,
        account_id=body.account_id,
        security_code=body.security_code,
    )
    return registration_view(row)


class ApplicationBody(Strict):
    payment_service_registration_id: str | None = Field(None, max_length=64)


@router.post("/measures/{measure_id}/applications", status_code=201)
async def apply(
    measure_id: str, resident: CurrentResident, ctx: Context, body: ApplicationBody | None = None
) -> dict[str, Any]:
    decision = await applications.apply(
        ctx,
        measure_id=measure_id,
        mykey_id=resident.mykey_id,
        fixed_registration_id=body.payment_service_registration_id if body else None,
    )
    return {
        "application_id": decision.application_id,
        "measure_id": measure_id,
        "status": decision.status,
        "grants": [
            {"grant_id": g.grant_id, "points": g.points, "state": g.state} for g in decision.grants
        ],
        "receipt_deadline": iso(decision.receipt_deadline),
    }


@router.get("/me/points")
async def my_points(resident: ReadingResident, session: SessionDep) -> dict[str, Any]:
    grants = list(
        (
            await session.execute(
                select(Grant)
                .where(Grant.mykey_id == resident.mykey_id)
                .order_by(Grant.created_at, Grant.id)
            )
        ).scalars()
    )
    totals = {state.value: 0 for state in GrantState}
    for grant in grants:
        totals[grant.state] += grant.points
    return {"totals": totals, "grants": [grant_view(g) for g in grants]}


@router.get("/me/receipts")
async def my_receipts(resident: ReadingResident, session: SessionDep) -> dict[str, Any]:
    rows = await session.execute(
        select(Receipt)
        .where(Receipt.mykey_id == resident.mykey_id)
        .order_by(Receipt.created_at.desc(), Receipt.id)
    )
    return {"receipts": [receipt_view(r) for r in rows.scalars()]}


class ReceiptBody(Strict):
    grant_ids: list[str] = Field(min_length=1, max_length=100)
    payment_service_registration_id: str = Field(min_length=1, max_length=64)
    card_proof: CardProofBody | None = None


@router.post("/me/receipts", status_code=202)
async def request_receipt(
    body: ReceiptBody, resident: CurrentResident, ctx: Context
) -> dict[str, Any]:
    await identity.check_card_proof(ctx, _proof(body.card_proof), resident.mykey_id)
    plans = await receipts.request_receipts(
        ctx,
        mykey_id=resident.mykey_id,
        grant_ids=body.grant_ids,
        registration_id=body.payment_service_registration_id,
    )
    return {
        "receipts": [
            {
                "receipt_id": p.receipt_id,
                "grant_id": p.grant_id,
                "points": p.points,
                "state": "requested",
            }
            for p in plans
        ]
    }
