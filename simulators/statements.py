"""The simulated providers' statements (SPEC §7), written from each provider's own ledger, with
knobs that make them disagree with the hub the ways real ones do:

- `drop`: receipt IDs left off (the hub sees `missing_at_provider`);
- `add`: rows for credits the hub never asked for (`missing_at_hub`), `{receipt_id, points,
  date?}` (on today's statement unless `date` says otherwise);
- `change`: `{receipt_id: points}` listed with other points (`points_mismatch`);
- `shift`: `{receipt_id: "next" | "previous"}` booked on the neighbouring business day, a
  minute across midnight (a match, not a break);
- `skip`: business days for which no statement is sent (`statement_missing` after the deadline).

The simulator reckons business days itself, from the same public calendar (the `holidays`
package's Japanese national and bank holidays), as a provider's own back office would.
`GET /p/{id}/admin/statements/{date}` shows a statement; `POST …/send` sends it: through the
hub's provider API (`hub_api_url`, `hub_api_key`), or for a batch provider as a file and manifest
in its statements directory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import holidays
import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from adapters.providers.batch_files import write_atomically
from simulators.providers import SimProvider

JST = timezone(timedelta(hours=9))
KNOBS = frozenset({"drop", "add", "change", "shift", "skip"})


@lru_cache(maxsize=32)
def _closed_days(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("JP", years=year, categories=("public", "bank")))


def open_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _closed_days(day.year)


def booked_on(moment: datetime) -> date:
    """The business day the provider books a credit on: its JST date, or the next business day."""
    day = moment.astimezone(JST).date()
    while not open_day(day):
        day += timedelta(days=1)
    return day


def _neighbour(day: date, step: int) -> date:
    day += timedelta(days=step)
    while not open_day(day):
        day += timedelta(days=step)
    return day


def statement_rows(provider: SimProvider, day: date) -> list[tuple[str, int, str, str]]:
    """(receipt_id, points, credited_at, provider_reference) of the day, knobs applied."""
    knobs = provider.statement_knobs
    drop = set(knobs.get("drop", []))
    change = dict(knobs.get("change", {}))
    shift = dict(knobs.get("shift", {}))
    rows = []
    for credit in provider.credits.values():
        if credit.status != "credited" or credit.receipt_id in drop:
            continue
        at = datetime.fromisoformat(credit.at)
        booked = booked_on(at)
        direction = shift.get(credit.receipt_id)
        if direction in ("next", "previous"):
            booked = _neighbour(booked, 1 if direction == "next" else -1)
            edge = datetime.combine(
                booked if direction == "next" else booked + timedelta(days=1),
                datetime.min.time(),
                JST,
            )
            at = edge + (timedelta(minutes=1) if direction == "next" else -timedelta(minutes=1))
        if booked != day:
            continue
        rows.append(
            (
                credit.receipt_id,
                int(change.get(credit.receipt_id, credit.points)),
                at.astimezone(JST).isoformat(),
                credit.provider_reference or "",
            )
        )
    for extra in knobs.get("add", []):
        if extra.get("date", booked_on(datetime.now(UTC)).isoformat()) == day.isoformat():
            rows.append(
                (
                    str(extra["receipt_id"]),
                    int(extra["points"]),
                    str(extra.get("credited_at") or datetime.now(JST).isoformat()),
                    str(extra.get("provider_reference") or f"{provider.config.provider_id}-extra"),
                )
            )
    return sorted(rows, key=lambda r: (r[2], r[0]))


def render(rows: list[tuple[str, int, str, str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("receipt_id", "points", "credited_at", "provider_reference"))
    writer.writerows(rows)
    return buffer.getvalue().encode()


def statements_directory(provider: SimProvider) -> Path:
    return Path(provider.config.inbox_dir) / "statements"


def write_statement_file(
    provider: SimProvider, day: date, data: bytes, records: int, points: int
) -> str:
    """A batch provider's statement: the CSV, then its manifest, each atomically."""
    directory = statements_directory(provider)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"statement-{day.isoformat()}-{datetime.now(UTC).strftime('%H%M%S%f')}"
    write_atomically(directory / f"{stem}.csv", data)
    manifest = {
        "file_name": f"{stem}.csv",
        "record_count": records,
        "total_points": points,
        "sha256": hashlib.sha256(data).hexdigest(),
        "business_date": day.isoformat(),
    }
    write_atomically(directory / f"{stem}.manifest.json", json.dumps(manifest).encode())
    return stem


def statement_routes(providers: dict[str, SimProvider]) -> APIRouter:
    router = APIRouter()

    def found(provider_id: str) -> SimProvider | JSONResponse:
        provider = providers.get(provider_id)
        if provider is None:
            return JSONResponse({"error": "unknown provider"}, status_code=404)
        return provider

    @router.put("/p/{provider_id}/admin/statement-knobs")
    async def set_knobs(provider_id: str, request: Request) -> Any:
        provider = found(provider_id)
        if isinstance(provider, JSONResponse):
            return provider
        data = await request.json()
        if not isinstance(data, dict) or not set(data) <= KNOBS:
            return JSONResponse({"error": f"knobs are {sorted(KNOBS)}"}, status_code=422)
        provider.statement_knobs = data
        return data

    @router.get("/p/{provider_id}/admin/statements/{day}")
    async def show(provider_id: str, day: date) -> Any:
        provider = found(provider_id)
        if isinstance(provider, JSONResponse):
            return provider
        rows = statement_rows(provider, day)
        return Response(
            render(rows),
            media_type="text/csv",
            headers={
                "Statement-Records": str(len(rows)),
                "Statement-Total-Points": str(sum(r[1] for r in rows)),
            },
        )

    @router.post("/p/{provider_id}/admin/statements/{day}/send")
    async def send(provider_id: str, day: date) -> Any:
        provider = found(provider_id)
        if isinstance(provider, JSONResponse):
            return provider
        if day.isoformat() in provider.statement_knobs.get("skip", []):
            return {"sent": False, "reason": "skipped"}
        rows = statement_rows(provider, day)
        data = render(rows)
        points = sum(r[1] for r in rows)
        config = provider.config
        if config.mode == "batch":
            stem = write_statement_file(provider, day, data, len(rows), points)
            return {"sent": True, "file": stem, "records": len(rows), "total_points": points}
        if not config.hub_api_url or not config.hub_api_key:
            return JSONResponse({"error": "set hub_api_url and hub_api_key"}, status_code=409)
        async with httpx.AsyncClient(base_url=config.hub_api_url, timeout=120) as hub:
            answer = await hub.put(
                f"/v1/providers/{provider_id}/statements/{day.isoformat()}",
                content=data,
                headers={
                    "authorization": f"Bearer {config.hub_api_key}",
                    "content-type": "text/csv",
                    "Statement-Records": str(len(rows)),
                    "Statement-Total-Points": str(points),
                },
            )
        return JSONResponse(
            {"sent": True, "status": answer.status_code, "hub": answer.json()},
            status_code=200,
        )

    return router
