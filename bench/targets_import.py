"""Import a 100,000-row target list through the HTTP API and print how long it takes.

    .venv/bin/python bench/targets_import.py [--rows 100000] [--postgres URL] [--grant]

The hub's API is served by uvicorn on a free loopback port against a fresh, migrated database
(SQLite by default; with --postgres, a new database on that server, dropped afterwards). The
MyKey IDs are issued in the database first (not timed); then the CSV is uploaded with
`PUT /v1/municipalities/{code}/measures/{id}/targets`, the same request `mph targets import`
sends, once as a new list and once again unchanged (idempotent: nothing added).

With --grant the measure is an auto-grant one (一律付与): after the import it is published and
the whole list is granted by the measure workflow's batch step (`grant_targets`, 1,000 targets
a batch, called in a loop here exactly as the workflow calls it, without Temporal).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import uvicorn
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from activities.measures import MeasureActivities, MeasureBatchInput
from api.app import build_context, create_app
from domain.identifiers import new_mykey_id
from domain.measures import MeasureState, ServiceOffer
from hub.settings import Environment, Settings
from services import measures, operator
from services.context import HubContext
from storage.keys import Role
from storage.migrate import upgrade
from storage.models import MyKey
from workflows.measure import BATCH_SIZE

CODE = "131016"


@contextlib.contextmanager
def database(postgres: str | None) -> Iterator[str]:
    if not postgres:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            upgrade(url)
            yield url
        return
    admin = make_url(postgres).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"hub_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = (
        make_url(postgres)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(settings: Settings, ctx: HubContext) -> AsyncIterator[str]:
    """The API on a real socket. Importing targets needs no Temporal (the measure is a draft),
    so the lifespan that connects to Temporal is off and the context is set directly."""
    app = create_app(settings)
    app.state.hub = ctx
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the API stopped before it started")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def seed(ctx: HubContext, rows: int, auto_grant: bool) -> tuple[str, str, list[str]]:
    await operator.create_municipality(ctx, CODE, "千代田区")
    await operator.create_provider(
        ctx, "bench", "Bench", "hub_rest", {"base_url": "http://127.0.0.1:9", "signing_secret": "x"}
    )
    await operator.create_payment_service(ctx, "bench-pay", "Bench Pay", "bench")
    _, key = await operator.create_api_key(ctx, Role.MUNICIPALITY, CODE)
    now = datetime.now(UTC)
    draft = measures.MeasureDraft(
        title="ベンチマーク施策",
        description="",
        kind="application",
        points_per_grant=1000,
        per_person_cap=1000,
        budget_points=None,
        opens_at=now,
        closes_at=now + timedelta(days=30),
        receipt_deadline=now + timedelta(days=60),
        target_list_only=True,
        auto_grant=auto_grant,
        review_required=False,
        late_report_days=0,
        payment_services=[ServiceOffer("bench-pay", now)],
    )
    measure = await measures.create(ctx, CODE, draft)
    mykey_ids = list({new_mykey_id() for _ in range(rows * 2)})[:rows]
    async with ctx.sessions.begin() as session:
        for start in range(0, rows, 10_000):
            await session.execute(
                insert(MyKey),
                [
                    {"mykey_id": m, "status": "active", "issued_at": now, "status_changed_at": None}
                    for m in mykey_ids[start : start + 10_000]
                ],
            )
    return measure.id, key, mykey_ids


async def upload(api_url: str, key: str, measure_id: str, body: bytes) -> tuple[float, dict]:
    async with httpx.AsyncClient(base_url=api_url, timeout=600) as http:
        started = time.perf_counter()
        response = await http.put(
            f"/v1/municipalities/{CODE}/measures/{measure_id}/targets",
            content=body,
            headers={"authorization": f"Bearer {key}", "content-type": "text/csv"},
        )
        elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


async def grant_all(ctx: HubContext, measure_id: str) -> tuple[float, int, int]:
    """Publish and grant the whole list, batch after batch; (seconds, grants, batches)."""
    await measures.transition(ctx, CODE, measure_id, MeasureState.PUBLISHED)
    activities = MeasureActivities(ctx.sessions, ctx.id_secret)
    granted = calls = 0
    cursor = ""
    started = time.perf_counter()
    while True:
        batch = MeasureBatchInput(measure_id, BATCH_SIZE, after=cursor)
        result = await activities.grant_targets(batch)
        granted, calls, cursor = granted + result.count, calls + 1, result.cursor
        if not result.more:
            return time.perf_counter() - started, granted, calls


async def main(rows: int, postgres: str | None, grant: bool) -> None:
    with database(postgres) as url:
        settings = Settings(env=Environment.TEST, database_url=url, temporal_address="127.0.0.1:1")
        ctx = build_context(settings)
        try:
            measure_id, key, mykey_ids = await seed(ctx, rows, grant)
            body = ("mykey_id\r\n" + "".join(f"{m}\r\n" for m in mykey_ids)).encode()
            async with serve(settings, ctx) as api_url:
                first, result = await upload(api_url, key, measure_id, body)
                assert result["added"] == rows and result["total"] == rows, result
                again, result = await upload(api_url, key, measure_id, body)
                assert result["added"] == 0 and result["total"] == rows, result
            if grant:
                granting, granted, calls = await grant_all(ctx, measure_id)
                assert granted == rows, granted
        finally:
            await ctx.engine.dispose()
    backend = make_url(url).get_backend_name()
    print(f"targets_import backend={backend} rows={rows} bytes={len(body)}")
    print(f"  new list:   {first:.2f} s ({rows / first:,.0f} rows/s)")
    print(f"  re-upload:  {again:.2f} s (0 added, idempotent)")
    if grant:
        print(f"  auto-grant: {granting:.2f} s ({granted} grants in {calls} batches)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", default="", help="PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--grant", action="store_true", help="also auto-grant the whole list")
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.postgres or None, args.grant))
