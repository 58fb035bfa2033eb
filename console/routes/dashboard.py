"""A measure's dashboard: budget used, points by state, receipts by provider and state, and
applications per day as a chart drawn on the server; and the grants export."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from api.deps import Context
from console.auth import StaffUser
from console.charts import daily_bars, fill_days
from console.figures import applications_per_day
from console.i18n import JST
from console.pages import render, translator
from services import measures, stats

from . import console_router

router = console_router()


@router.get("/measures/{measure_id}/dashboard")
async def dashboard(request: Request, measure_id: str, user: StaffUser, ctx: Context) -> Response:
    measure = await measures.owned_measure(ctx, user.code, measure_id)
    figures = await stats.measure_stats(ctx, user.code, measure_id)
    today = ctx.clock().astimezone(JST).date()
    days = fill_days(
        await applications_per_day(ctx, user.code, measure_id),
        start=measure.opens_at.astimezone(JST).date(),
        end=min(today, measure.closes_at.astimezone(JST).date()),
    )
    t = translator(request)
    chart = None
    if days:
        chart = daily_bars(
            days,
            title=t("dashboard.chart_title", title=measure.title),
            description=t(
                "dashboard.chart_desc",
                first=f"{days[0][0]:%Y/%m/%d}",
                last=f"{days[-1][0]:%Y/%m/%d}",
                total=f"{sum(n for _, n in days):,}",
            ),
            unit=t("units.applications"),
        )
    budget = figures["budget"]
    used_percent = None
    if budget["budget_points"]:
        used_percent = round(100 * budget["budget_used"] / budget["budget_points"], 1)
    context = {
        "measure": measure,
        "figures": figures,
        "days": days,
        "chart": chart,
        "used_percent": used_percent,
    }
    return render(request, "measures/dashboard.html", context)


@router.get("/measures/{measure_id}/grants.csv")
async def grants_csv(measure_id: str, user: StaffUser, ctx: Context) -> Response:
    body = await stats.grants_csv(ctx, user.code, measure_id)
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="grants-{measure_id}.csv"'},
    )
