"""The review queue: late attendance reports and review-required applications, decided by staff."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import Context, MunicipalityStaff, require_scope
from api.pagination import PageRequest, paging
from api.schemas.municipality import DecisionBody, ReviewOutcome, ReviewPage
from api.views import grant_brief, iso
from domain.reviews import ReviewStatus
from services import reviews

router = APIRouter(prefix="/v1/municipalities/{code}/reviews", tags=["municipality"])


def review_view(row: reviews.QueuedReview) -> dict[str, Any]:
    review = row.review
    return {
        "review_id": review.id,
        "kind": review.kind,
        "status": review.status,
        "measure_id": review.measure_id,
        "measure_title": row.measure_title,
        "application_id": review.application_id,
        "event": None
        if row.event is None
        else {
            "event_id": row.event.id,
            "title": row.event.title,
            "starts_at": iso(row.event.starts_at),
            "ends_at": iso(row.event.ends_at),
            "points": row.event.points,
        },
        "reported_at": iso(row.report.reported_at) if row.report else None,
        "late_by_s": row.lateness_s,
        "opened_at": iso(review.created_at),
        "remind_at": iso(review.remind_at),
        "reminded_at": iso(review.reminded_at),
        "decide_by": iso(review.decide_by),
        "default_decision": review.default_decision,
        "decided_at": iso(review.decided_at),
        "decided_by": review.decided_by,
        "reason": review.reason,
    }


@router.get("", response_model=ReviewPage)
async def list_reviews(
    code: str,
    staff: MunicipalityStaff,
    ctx: Context,
    page: Annotated[PageRequest, Depends(paging(default=100, maximum=500))],
    status: ReviewStatus | None = Query(ReviewStatus.PENDING),
    measure_id: str | None = Query(None, max_length=40),
) -> dict[str, Any]:
    """The queue, oldest first (`status=pending` unless asked otherwise)."""
    require_scope(staff, code, "municipality")
    rows, next_cursor = page.page(
        await reviews.review_queue(
            ctx, code, status=status, measure_id=measure_id, limit=page.fetch, offset=page.offset
        )
    )
    return {"items": [review_view(r) for r in rows], "next_cursor": next_cursor}


@router.post("/{review_id}/decision", response_model=ReviewOutcome)
async def decide_review(
    code: str, review_id: str, body: DecisionBody, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    require_scope(staff, code, "municipality")
    result = await reviews.decide(
        ctx, code, review_id, decision=body.decision, reason=body.reason, actor=staff.actor
    )
    return {
        "review_id": result.review_id,
        "status": result.status,
        "changed": result.changed,
        "grant": grant_brief(result.grant),
    }
