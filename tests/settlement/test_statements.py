"""Statements in (SPEC §7): taken whole or refused whole, idempotent by content, replaced by a
correction; and the hub's own record of a provider's credits for the provider to compare."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from domain.business_days import next_business_day
from storage.models.settlement import Statement, StatementLine
from tests.api.roles import api_key
from tests.settlement.support import (
    Line,
    breaks_of,
    credited,
    line_for,
    send,
    statement,
    sync_provider,
    today,
)
from tests.support.stack import Hub


async def stored(hub: Hub, provider_id: str) -> tuple[int, int]:
    """(statements, lines) kept for a provider."""
    async with hub.ctx.sessions() as session:
        statements = await session.scalar(
            select(func.count()).select_from(Statement).where(Statement.provider_id == provider_id)
        )
        lines = await session.scalar(
            select(func.count())
            .select_from(StatementLine)
            .join(Statement, Statement.id == StatementLine.statement_id)
            .where(Statement.provider_id == provider_id)
        )
    return int(statements or 0), int(lines or 0)


async def test_a_matching_statement_is_taken_once_and_corrected_by_a_later_one(hub: Hub) -> None:
    provider = await sync_provider(hub)
    first, second = await credited(hub, provider, 2)
    body = statement([line_for(first), line_for(second)])

    taken = await send(hub, provider, today(), body)
    assert taken.status_code == 200, taken.text
    result = taken.json()
    assert result["records"] == 2 and result["total_points"] == 2000
    assert result["matched"] == 2 and result["breaks"] == 0
    assert result["outcome"] == "accepted"

    again = await send(hub, provider, today(), body)
    assert again.status_code == 200
    assert again.json()["outcome"] == "unchanged"
    assert again.json()["statement_id"] == result["statement_id"]
    assert await stored(hub, provider.provider_id) == (1, 2)

    corrected = await send(hub, provider, today(), statement([line_for(first)]))
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["outcome"] == "replaced"
    assert corrected.json()["matched"] == 1 and corrected.json()["breaks"] == 1
    assert await stored(hub, provider.provider_id) == (2, 1)  # the replaced one keeps no lines
    [missing] = await breaks_of(hub, provider.provider_id)
    assert missing.kind == "missing_at_provider" and missing.receipt_id == second.receipt_id

    restored = await send(hub, provider, today(), body)
    assert restored.json()["breaks"] == 0
    [cleared] = await breaks_of(hub, provider.provider_id)
    assert (cleared.status, cleared.resolution) == ("resolved", "cleared")


async def test_declared_totals_that_differ_refuse_the_statement_whole(hub: Hub) -> None:
    provider = await sync_provider(hub)
    [one] = await credited(hub, provider, 1)
    body = statement([line_for(one)])
    for records, points in ((2, 1000), (1, 999)):
        refused = await send(hub, provider, today(), body, records=records, points=points)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "statement_totals_mismatch"
        assert refused.json()["found"] == {"records": 1, "total_points": 1000}
    missing = await hub.http.put(
        f"/v1/providers/{provider.provider_id}/statements/{today()}",
        content=body,
        headers={**provider.headers, "content-type": "text/csv"},
    )
    assert missing.status_code == 422 and missing.json()["code"] == "statement_totals_missing"
    assert await stored(hub, provider.provider_id) == (0, 0)


async def test_bad_rows_are_reported_by_line_and_nothing_is_stored(hub: Hub) -> None:
    provider = await sync_provider(hub)
    [one] = await credited(hub, provider, 1)
    good = line_for(one)
    body = (
        "receipt_id,points,credited_at,provider_reference\n"
        f"{good.receipt_id},1000,{good.credited_at.isoformat()},ref-1\n"
        "r-two,-5,2026-12-01T10:00:00+09:00,ref-2\n"
        "r-three,100,yesterday,ref-3\n"
        "r-four,100,2026-12-01T10:00:00,ref-4\n"
        "r-five,100\n"
        f"{good.receipt_id},1000,{good.credited_at.isoformat()},again\n"
    ).encode()
    refused = await send(hub, provider, today(), body, records=6, points=0)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["code"] == "invalid_statement"
    assert [(e["line"], e["field"]) for e in problem["errors"]] == [
        (3, "points"),
        (4, "credited_at"),
        (5, "credited_at"),
        (6, "row"),
    ]
    assert problem["error_count"] == 4
    assert await stored(hub, provider.provider_id) == (0, 0)

    twice = statement([good, good])
    refused = await send(hub, provider, today(), twice)
    assert refused.json()["code"] == "invalid_statement"
    assert refused.json()["errors"] == [
        {
            "line": 3,
            "field": "receipt_id",
            "message": f"{good.receipt_id} is listed on line 2 already",
        }
    ]
    header = await send(hub, provider, today(), b"receipt,points\n", records=0, points=0)
    assert header.json()["errors"][0] == {
        "line": 1,
        "field": "header",
        "message": "the header row must be receipt_id,points,credited_at,provider_reference",
    }
    latin = await send(
        hub, provider, today(), statement([good]).replace(b"ref-", b"\xff"), records=1, points=1000
    )
    assert latin.json()["errors"][0]["field"] == "encoding"
    assert await stored(hub, provider.provider_id) == (0, 0)


async def test_another_providers_receipts_refuse_the_statement(hub: Hub) -> None:
    mine, theirs = await sync_provider(hub), await sync_provider(hub)
    [own] = await credited(hub, mine, 1)
    [other] = await credited(hub, theirs, 1)
    refused = await send(hub, mine, today(), statement([line_for(own), line_for(other)]))
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "line": 3,
            "field": "receipt_id",
            "message": f"{other.receipt_id} is not a receipt of this provider",
        }
    ]
    assert await stored(hub, mine.provider_id) == (0, 0)
    # Their key on this provider's path finds nothing.
    foreign = await send(hub, mine, today(), statement([line_for(own)]), headers=theirs.headers)
    assert foreign.status_code == 404


async def test_days_that_are_not_business_days_or_have_not_begun_are_refused(hub: Hub) -> None:
    provider = await sync_provider(hub)
    day = today()
    saturday = day + timedelta(days=(5 - day.weekday()) % 7 or 7)
    for when in (saturday, next_business_day(day), date(2026, 1, 1)):
        refused = await send(hub, provider, when, statement([]))
        assert refused.status_code == 422, (when, refused.text)
        assert refused.json()["code"] == "invalid_business_date"


async def test_a_statement_sent_in_small_pieces_is_taken_whole(hub: Hub) -> None:
    """Several thousand rows arrive in many small pieces and are taken in one go."""
    provider = await sync_provider(hub)
    rows = [Line(f"unknown-{n:06d}", 1 + n % 7, today_noon(), None) for n in range(5000)]
    body = statement(rows)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 777):
            yield body[start : start + 777]

    response = await hub.http.put(
        f"/v1/providers/{provider.provider_id}/statements/{today()}",
        content=pieces(),
        headers={
            **provider.headers,
            "content-type": "text/csv",
            "Statement-Records": "5000",
            "Statement-Total-Points": str(sum(r.points for r in rows)),
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["breaks"] == 5000  # none of them is the hub's
    assert await stored(hub, provider.provider_id) == (1, 5000)


def today_noon() -> datetime:
    from tests.settlement.support import jst

    return jst(today(), 12)


async def test_providers_read_the_hubs_credits_of_a_day(hub: Hub) -> None:
    provider = await sync_provider(hub)
    received = await credited(hub, provider, 2)
    response = await hub.http.get(
        f"/v1/providers/{provider.provider_id}/credits.csv",
        params={"date": today().isoformat()},
        headers=provider.headers,
    )
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["receipt_id"] for r in rows) == sorted(str(r.receipt_id) for r in received)
    assert {r["points"] for r in rows} == {"1000"}
    assert all(r["credited_at"].endswith("+09:00") and r["provider_reference"] for r in rows)
    assert {r["measure_id"] for r in rows} == {provider.measure_id}
    other = await api_key(hub, "provider", (await sync_provider(hub)).provider_id)
    refused = await hub.http.get(
        f"/v1/providers/{provider.provider_id}/credits.csv",
        params={"date": today().isoformat()},
        headers=other,
    )
    assert refused.status_code == 404
