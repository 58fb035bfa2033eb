"""A measure's figures and its grant export, as municipality staff read them."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

from domain.points import GrantState
from domain.receipts import ReceiptState
from services.context import HubContext
from services.measures import owned_measure
from storage.catalog import get_measure
from storage.stats import GrantLine, grant_lines, measure_figures

BOM = "\ufeff"  # Excel in Japan reads a CSV as Shift_JIS unless it starts with a BOM
CSV_COLUMNS = [
    "grant_id",
    "application_id",
    "mykey_id",
    "event_id",
    "points",
    "state",
    "created_at",
    "updated_at",
    "receipt_id",
    "payment_service_id",
    "provider_id",
]
APPLICATION_STATES = ("granted", "registered", "pending_review", "rejected")


async def measure_stats(ctx: HubContext, municipality_code: str, measure_id: str) -> dict[str, Any]:
    """Every state is listed, zero or not, so a dashboard need not know which ones exist."""
    await owned_measure(ctx, municipality_code, measure_id)
    async with ctx.sessions() as session:
        figures = await measure_figures(session, measure_id)
        # Read after the figures, in the same session: the budget is never behind the grants.
        measure = await get_measure(session, measure_id)
    applications = dict.fromkeys(APPLICATION_STATES, 0) | figures.applications
    grants = {state.value: figures.grants.get(state.value) for state in GrantState}
    points = {state: (f.points if f else 0) for state, f in grants.items()}
    receipts = {
        provider_id: {
            state.value: {
                "count": by_state[state.value].count if state.value in by_state else 0,
                "points": by_state[state.value].points if state.value in by_state else 0,
            }
            for state in ReceiptState
        }
        for provider_id, by_state in sorted(figures.receipts.items())
    }
    budget_left = None
    if measure.budget_points is not None:
        budget_left = max(measure.budget_points - measure.budget_used, 0)
    return {
        "measure_id": measure.id,
        "state": measure.state,
        "applications": {"total": sum(applications.values()), "by_state": applications},
        "grants": {state: (f.count if f else 0) for state, f in grants.items()},
        "points": {"granted": sum(points.values()), "by_state": points},
        "budget": {
            "budget_points": measure.budget_points,
            "budget_used": measure.budget_used,
            "budget_left": budget_left,
        },
        "receipts": {"by_provider": receipts},
    }


def _csv_line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()


def _row(line: GrantLine) -> list[Any]:
    return [
        line.grant_id,
        line.application_id,
        line.mykey_id,
        line.event_id or "",
        line.points,
        line.state,
        line.created_at.isoformat(),
        line.updated_at.isoformat(),
        line.receipt_id or "",
        line.payment_service_id or "",
        line.provider_id or "",
    ]


async def grants_csv(
    ctx: HubContext, municipality_code: str, measure_id: str
) -> AsyncIterator[bytes]:
    """The export, streamed: UTF-8 with a BOM, CRLF line ends, one grant a row."""
    await owned_measure(ctx, municipality_code, measure_id)

    async def body() -> AsyncIterator[bytes]:
        yield (BOM + _csv_line(CSV_COLUMNS)).encode()
        async with ctx.sessions() as session:
            chunk: list[str] = []
            async for line in grant_lines(session, measure_id):
                chunk.append(_csv_line(_row(line)))
                if len(chunk) >= 1000:
                    yield "".join(chunk).encode()
                    chunk = []
            if chunk:
                yield "".join(chunk).encode()

    return body()
