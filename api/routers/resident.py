"""The resident API, used by the Mynapoint app with a session from card login."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from api.deps import Context, ReadingResident, ResidentToken, SessionDep
from api.middleware import note_resident
from api.pagination import PageRequest, paging
from api.read_cache import ReadCache, render
from api.refusal_lane import RefusalLane
from api.schemas import CardProofBody
from api.schemas import resident as schema
from api.schemas.common import Measure, MeasurePage
from api.views import grant_view, iso, mask, measure_view, receipt_view
from domain.errors import RuleViolation
from domain.points import GrantState
from services import applications, identity, receipts, registrations
from storage.catalog import offers_by_measure, published_measures
from storage.models import Application, Grant, MyKey, PaymentServiceRegistration, Receipt
from storage.models import Measure as MeasureRow

router = APIRouter(prefix="/v1", tags=["resident"])

Paging = Annotated[PageRequest, Depends(paging(default=50, maximum=200))]


def _proof(body: CardProofBody | None) -> identity.CardProof | None:
    if body is None:
        return None
    return identity.CardProof(body.challenge_id, body.certificate, body.signature)


def _noting(request: Request) -> identity.ResidentSeen:
    """For services that look the session's resident up in their own transaction: the audit's
    actor and the per-MyKey rate limit, as the `CurrentResident` dependency notes them."""

    async def seen(resident: MyKey) -> None:
        await note_resident(request, resident)

    return seen


def _lane_of(request: Request) -> Callable[[str], None] | None:
    """Where to say that a measure's budget is gone: this process's refusal lane, if it has one."""
    lane: RefusalLane | None = getattr(request.app.state, "refusal_lane", None)
    return lane.budget_gone if lane is not None else None


def registration_view(row: PaymentServiceRegistration, *, masked: bool = False) -> dict[str, Any]:
    return {
        "registration_id": row.id,
        "payment_service_id": row.payment_service_id,
        "account_id": mask(row.account_id) if masked else row.account_id,
        "status": row.status,
        "created_at": iso(row.created_at),
    }


def _registrations_of(mykey_id: str) -> Any:
    return (
        select(PaymentServiceRegistration)
        .where(PaymentServiceRegistration.mykey_id == mykey_id)
        .order_by(PaymentServiceRegistration.created_at, PaymentServiceRegistration.id)
    )


@router.get("/me", response_model=schema.Me)
async def me(resident: ReadingResident, session: SessionDep) -> dict[str, Any]:
    rows = await session.execute(_registrations_of(resident.mykey_id))
    return {
        "mykey_id": resident.mykey_id,
        "status": resident.status,
        "issued_at": iso(resident.issued_at),
        "payment_services": [registration_view(r) for r in rows.scalars()],
    }


@router.get("/measures", response_model=MeasurePage)
async def list_published_measures(
    request: Request,
    _: ReadingResident,
    session: SessionDep,
    ctx: Context,
    page: Paging,
    municipality_code: str | None = Query(None, max_length=6),
    q: str | None = Query(None, max_length=100),
    payment_service_id: str | None = Query(None, max_length=64),
) -> Response:
    """Published measures. The same for every resident, so a rendered answer is kept a moment
    (`api/read_cache.py`)."""
    cache: ReadCache = request.app.state.read_cache
    key = ("measures", municipality_code, q, payment_service_id, page.limit, page.offset)
    body = cache.get(key)
    if body is None:
        rows = await published_measures(
            session,
            municipality_code=municipality_code,
            text=q,
            payment_service_id=payment_service_id,
            limit=page.fetch,
            offset=page.offset,
        )
        measures, next_cursor = page.page(rows)
        offers = await offers_by_measure(session, [m.id for m in measures])
        now = ctx.clock()
        views = [
            measure_view(m, offers[m.id], now=now, hide_future_services=True) for m in measures
        ]
        body = render({"items": views, "next_cursor": next_cursor})
        cache.put(key, body)
    return Response(body, media_type="application/json")


@router.get("/measures/{measure_id}", response_model=Measure)
async def get_published_measure(
    measure_id: str, _: ReadingResident, session: SessionDep, ctx: Context
) -> dict[str, Any]:
    measure = await session.get(MeasureRow, measure_id)
    if measure is None or measure.state == "draft":
        raise RuleViolation("not_found", "no such measure", status=404)
    offers = await offers_by_measure(session, [measure.id])
    return measure_view(measure, offers[measure.id], now=ctx.clock(), hide_future_services=True)


@router.get("/me/payment-services", response_model=schema.RegistrationPage)
async def list_my_payment_services(
    resident: ReadingResident, session: SessionDep, page: Paging
) -> dict[str, Any]:
    """The resident's My Payment Service registrations, oldest first, account IDs masked."""
    rows = await session.execute(
        _registrations_of(resident.mykey_id).limit(page.fetch).offset(page.offset)
    )
    items, next_cursor = page.page(list(rows.scalars()))
    return {
        "items": [registration_view(r, masked=True) for r in items],
        "next_cursor": next_cursor,
    }


@router.post("/me/payment-services", status_code=201, response_model=schema.Registration)
async def register_my_payment_service(
    body: schema.RegistrationBody, request: Request, token: ResidentToken, ctx: Context
) -> dict[str, Any]:
    checked = registrations.PreCheck(body.payment_service_id, body.account_id)
    resident = await identity.check_card_proof(
        ctx, _proof(body.card_proof), token, _noting(request), along=checked.read
    )
    row = await registrations.register(
        ctx,
        mykey_id=resident.mykey_id,
        payment_service_id=body.payment_service_id,
        account_id=body.account_id,
        security_code=body.security_code,
        checked=checked,
    )
    return registration_view(row)


@router.post(
    "/measures/{measure_id}/applications",
    status_code=201,
    response_model=schema.ApplicationDecision,
)
async def apply(
    measure_id: str,
    request: Request,
    token: ResidentToken,
    ctx: Context,
    body: schema.ApplicationBody | None = None,
) -> dict[str, Any]:
    """Without review, decided in this request (one transaction, the session's included)."""
    decision = await applications.apply(
        ctx,
        measure_id=measure_id,
        token=token,
        fixed_registration_id=body.payment_service_registration_id if body else None,
        request_id=getattr(request.state, "request_id", None),
        seen=_noting(request),
        budget_gone=_lane_of(request),
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


@router.get("/measures/{measure_id}/applications", response_model=schema.ApplicationPage)
async def my_applications_to_measure(
    measure_id: str, resident: ReadingResident, session: SessionDep, page: Paging
) -> dict[str, Any]:
    """The resident's own application to the measure, if any: another resident's is never
    shown, so the page has one item at most. An unknown or draft measure is 404."""
    measure = await session.get(MeasureRow, measure_id)
    if measure is None or measure.state == "draft":
        raise RuleViolation("not_found", "no such measure", status=404)
    rows = await session.execute(
        select(Application)
        .where(Application.measure_id == measure_id, Application.mykey_id == resident.mykey_id)
        .order_by(Application.created_at, Application.id)
        .limit(page.fetch)
        .offset(page.offset)
    )
    items, next_cursor = page.page(list(rows.scalars()))
    return {
        "items": [
            {
                "application_id": a.id,
                "measure_id": a.measure_id,
                "state": a.state,
                "points_granted": a.points_granted,
                "fixed_registration_id": a.fixed_registration_id,
                "created_at": iso(a.created_at),
                "decided_at": iso(a.decided_at),
            }
            for a in items
        ],
        "next_cursor": next_cursor,
    }


@router.get("/me/points", response_model=schema.Points)
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


@router.get("/me/receipts", response_model=schema.ReceiptPage)
async def my_receipts(
    resident: ReadingResident, session: SessionDep, page: Paging
) -> dict[str, Any]:
    """The resident's receipts, newest first."""
    rows = await session.execute(
        select(Receipt)
        .where(Receipt.mykey_id == resident.mykey_id)
        .order_by(Receipt.created_at.desc(), Receipt.id)
        .limit(page.fetch)
        .offset(page.offset)
    )
    items, next_cursor = page.page(list(rows.scalars()))
    return {"items": [receipt_view(r) for r in items], "next_cursor": next_cursor}


@router.post("/me/receipts", status_code=202, response_model=schema.RequestedReceipts)
async def request_receipt(
    body: schema.ReceiptRequestBody, request: Request, token: ResidentToken, ctx: Context
) -> dict[str, Any]:
    proof, noting = _proof(body.card_proof), _noting(request)
    plans = await receipts.request_receipts(
        ctx,
        lambda along: identity.check_card_proof(ctx, proof, token, noting, along=along),
        grant_ids=body.grant_ids,
        registration_id=body.payment_service_registration_id,
        request_id=getattr(request.state, "request_id", None),
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
