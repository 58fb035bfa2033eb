"""Municipality staff: the monthly settlement (精算) of their own municipality, month by month,
with the CSV for Excel in UTF-8 or Shift_JIS."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Query, Request, Response

from api.deps import Context
from console.auth import StaffUser
from console.pages import redirect, render
from domain.business_days import JST, next_month, previous_month
from services import settlement

from . import console_router

router = console_router()
CHARSETS = {"utf-8": "utf-8", "shift_jis": "Shift_JIS"}


@router.get("/settlements")
async def settlements_home(request: Request, _: StaffUser) -> Response:
    """The month just ended is the one staff settle."""
    this_month = datetime.now(UTC).astimezone(JST).strftime("%Y-%m")
    return redirect(request, f"/console/settlements/{previous_month(this_month)}")


@router.get("/settlements/{month}.csv")
async def settlement_csv(
    month: str,
    user: StaffUser,
    ctx: Context,
    encoding: str = Query("utf-8", pattern="^(utf-8|shift_jis)$"),
) -> Response:
    found = await settlement.month_report(ctx, user.code, month)
    return Response(
        found.csv(encoding),
        media_type=f"text/csv; charset={CHARSETS[encoding]}",
        headers={
            "content-disposition": (
                f'attachment; filename="settlement-{user.code}-{month}-{encoding}.csv"'
            )
        },
    )


@router.get("/settlements/{month}")
async def settlement_page(request: Request, month: str, user: StaffUser, ctx: Context) -> Response:
    found = await settlement.month_report(ctx, user.code, month)
    context = {
        "found": found,
        "previous": previous_month(month),
        "next": next_month(month),
    }
    return render(request, "settlements/month.html", context)
