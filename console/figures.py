"""Applications per day (JST) of one measure, for the dashboard chart.

The statistics service gives counts by state; the chart needs them over time, grouped by the
database in one query over the measure's applications (a measure may have 100,000), by the
calendar day in Japan: SQLite keeps naive UTC text, PostgreSQL a timestamptz.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select

from services.context import HubContext
from services.measures import owned_measure
from storage.models import Application


def _jst_day(dialect: str) -> Any:
    if dialect == "sqlite":
        return func.date(Application.created_at, "+9 hours")
    return func.date(func.timezone("Asia/Tokyo", Application.created_at))


async def applications_per_day(
    ctx: HubContext, municipality_code: str, measure_id: str
) -> list[tuple[date, int]]:
    await owned_measure(ctx, municipality_code, measure_id)
    day = _jst_day(ctx.engine.dialect.name).label("day")
    query = (
        select(day, func.count())
        .where(Application.measure_id == measure_id)
        .group_by(day)
        .order_by(day)
    )
    async with ctx.sessions() as session:
        rows = (await session.execute(query)).all()
    return [
        (value if isinstance(value, date) else date.fromisoformat(str(value)), int(count))
        for value, count in rows
    ]
