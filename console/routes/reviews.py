"""The review queue: late attendance reports and review-required applications, decided in one click.

With htmx a decision posts in the background; the answer replaces the row with what was decided
(`HX-Retarget`), or puts the refusal beside the buttons, and the pending count follows an
`HX-Trigger` event. Without script the same forms post and the queue comes back with a message.
"""

from __future__ import annotations

import json

from fastapi import Query, Request, Response
from pydantic import ValidationError

from api.deps import Context
from api.schemas.municipality import DecisionBody
from console.auth import CsrfChecked, StaffUser
from console.pages import is_htmx, redirect, render, translator
from domain.errors import RuleViolation
from domain.reviews import ReviewStatus
from services import measures, reviews

from . import console_router

router = console_router()
QUEUE_LIMIT = 200


@router.get("/reviews")
async def review_queue(
    request: Request,
    user: StaffUser,
    ctx: Context,
    measure_id: str | None = Query(None, max_length=40),
    status: ReviewStatus = Query(ReviewStatus.PENDING),
) -> Response:
    rows = await reviews.review_queue(
        ctx, user.code, status=status, measure_id=measure_id or None, limit=QUEUE_LIMIT
    )
    context = {
        "rows": rows,
        "status": status.value,
        "statuses": [s.value for s in ReviewStatus],
        "measure_id": measure_id or "",
        "measures": await measures.list_measures(ctx, user.code, limit=200),
        "now": ctx.clock(),
    }
    return render(request, "reviews/queue.html", context)


@router.post("/reviews/{review_id}/decision", dependencies=[CsrfChecked])
async def decide(request: Request, review_id: str, user: StaffUser, ctx: Context) -> Response:
    form = await request.form()
    t = translator(request)
    try:
        body = DecisionBody.model_validate(
            {"decision": form.get("decision"), "reason": form.get("reason") or None}
        )
        result = await reviews.decide(
            ctx, user.code, review_id, decision=body.decision, reason=body.reason, actor=user.actor
        )
    except ValidationError as invalid:
        codes = {str(e.get("type")) for e in invalid.errors()}
        code = "contains_my_number" if "contains_my_number" in codes else "validation_error"
        return _refused(request, t(f"errors.{code}"), 422)
    except RuleViolation as refused:
        if refused.status == 404 or not is_htmx(request):
            raise
        return _refused(request, t.error(refused.code, refused.detail), refused.status)
    points = result.grant.points if result.grant else None
    if not is_htmx(request):
        return redirect(request, "/console/reviews", f"flash.review_{result.status}")
    response = render(
        request,
        "partials/review_decided.html",
        {"review_id": review_id, "status": result.status, "points": points},
    )
    response.headers["hx-retarget"] = f"#review-{review_id}"
    response.headers["hx-reswap"] = "outerHTML"
    response.headers["hx-trigger"] = json.dumps({"review-decided": {"review_id": review_id}})
    return response


def _refused(request: Request, message: str, status: int) -> Response:
    if not is_htmx(request):
        return redirect(request, "/console/reviews", "flash.review_refused", reason=message)
    return render(request, "partials/message.html", {"message": message}, status=status)
