"""A wave of receipt requests through the API's own code path, without HTTP and card reads.

For every unreceived grant of the measure whose resident has a registration, this process calls
`services.receipts.request_receipts` exactly as `POST /v1/me/receipts` does once the card proof
is checked: the rules are read from the database, then each application's workflow gets the
`request_receipt` update (update-with-start, since bulk-granted applications have no workflow
yet). A fixed number of requests is in flight at a time. A request the workflow service did
not answer in time, or that found no free database connection in time (either is the API's
503), is handled as the resident's app would: look whether it was taken, and ask again if not;
such time-outs are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import TimeoutError as NoFreeConnection
from temporalio.client import RPCTimeoutOrCancelledError

from api.app import build_context
from bench.machine import own_usage
from bench.timing import summary
from domain.errors import RuleViolation
from hub.exit import exit_process
from hub.settings import get_settings
from hub.temporal import connect
from services import receipts
from services.context import HubContext
from services.identity import Along
from storage.models import Grant, MyKey, PaymentServiceRegistration

ASKS = 5  # requests per resident when the workflow service does not answer in time


async def pending(ctx: Any, measure_id: str) -> list[tuple[str, str, str]]:
    """(MyKey ID, grant ID, registration ID) of every grant still to be requested."""
    query = (
        select(Grant.mykey_id, Grant.id, PaymentServiceRegistration.id)
        .join(PaymentServiceRegistration, PaymentServiceRegistration.mykey_id == Grant.mykey_id)
        .where(Grant.measure_id == measure_id, Grant.state == "unreceived")
        .order_by(Grant.id)
    )
    async with ctx.sessions() as session:
        return [(m, g, r) for m, g, r in (await session.execute(query)).all()]


async def taken(ctx: Any, grant_id: str) -> bool:
    """Whether the grant's receipt request was taken (it is no longer unreceived)."""
    async with ctx.sessions() as session:
        state = await session.scalar(select(Grant.state).where(Grant.id == grant_id))
    return state != "unreceived"


def signed_in(ctx: HubContext, mykey_id: str) -> receipts.ProofWith:
    """The resident as the wave's driver knows them (no card in this scenario): the claim runs
    in a transaction of its own, as it would in the card proof's."""

    async def proof_with(along: Along) -> MyKey:
        async with ctx.sessions.begin() as session:
            resident = await session.get(MyKey, mykey_id)
            assert resident is not None
            await along(session, resident)
        return resident

    return proof_with


async def main(plan: dict[str, Any]) -> dict[str, Any]:
    # Its requests share one pool, as many API processes' would not: they wait on it as long as
    # a worker's do, instead of the API's `HUB_API_DATABASE_WAIT_S` (still retried if they don't).
    settings = get_settings().model_copy(update={"api_database_wait_s": 30.0})
    ctx = build_context(settings)
    ctx.temporal = await connect(settings)
    work = await pending(ctx, plan["measure_id"])
    gate = asyncio.Semaphore(int(plan["concurrency"]))
    latencies: list[float] = []
    errors: list[str] = []

    timeouts: list[str] = []

    async def one(mykey_id: str, grant_id: str, registration_id: str) -> None:
        async with gate:
            started = time.perf_counter()
            for asked in range(ASKS):
                try:
                    await receipts.request_receipts(
                        ctx,
                        signed_in(ctx, mykey_id),
                        grant_ids=[grant_id],
                        registration_id=registration_id,
                    )
                except (RPCTimeoutOrCancelledError, NoFreeConnection):
                    # The API's 503 (`temporal_unavailable`, or `overloaded` when no database
                    # connection was free within HUB_API_DATABASE_WAIT_S): like the app, look
                    # whether the request was taken before asking again.
                    timeouts.append(grant_id)
                    await asyncio.sleep(1)  # the 503's Retry-After
                    with contextlib.suppress(NoFreeConnection):  # then asked again
                        if await taken(ctx, grant_id):
                            break
                    continue
                except RuleViolation as refused:
                    # Asked again while the timed-out request was still being carried out:
                    # refused because that one took the grant.
                    if (
                        asked
                        and refused.code == "grant_not_unreceived"
                        and await taken(ctx, grant_id)
                    ):
                        break
                    errors.append(f"{grant_id}: {refused}")
                    return
                except Exception as error:  # counted and reported, the wave goes on
                    errors.append(f"{grant_id}: {type(error).__name__}: {error}")
                    return
                break
            else:
                errors.append(f"{grant_id}: no answer after {ASKS} requests")
                return
            latencies.append((time.perf_counter() - started) * 1000)

    first = time.time()
    try:
        await asyncio.gather(*(one(*item) for item in work))
    finally:
        await ctx.engine.dispose()
    return {
        "requested": len(work),
        "accepted": len(latencies),
        "first_request": first,
        "last_accepted": time.time(),
        "latency_ms": summary(latencies),
        "errors": len(errors),
        "timeouts": len(timeouts),
        "error_samples": errors[:20],
        "usage": own_usage(),
    }


if __name__ == "__main__":
    plan_file, out_file = sys.argv[1], sys.argv[2]
    result = asyncio.run(main(json.loads(Path(plan_file).read_text())))
    Path(out_file).write_text(json.dumps(result))
    exit_process(0)
