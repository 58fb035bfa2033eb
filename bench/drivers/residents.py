"""Residents through the Mynapoint app's path (`simulators/resident_app.py`), many at once.

Each resident logs in with a virtual card, applies to the measure, and (steps `lifecycle`)
registers an account at one of the payment services in turn and requests receipt, two more card
reads. A fixed number of residents is in flight at any time (`concurrency`): as one finishes its
last request the next one starts. Crediting then happens in the hub; the orchestrator reads when
each grant was credited from the ledger.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.cards import load_cards
from bench.machine import own_usage, usage_since
from bench.timing import CallLog
from simulators.resident_app import ResidentApp


class Refused(Exception):
    pass


def _expect(response: httpx.Response, status: int, step: str) -> dict[str, Any]:
    if response.status_code != status:
        raise Refused(f"{step}: {response.status_code} {response.text[:200]}")
    body: dict[str, Any] = response.json()
    return body


RESIDENTS_PER_CLIENT = 8  # residents sharing one HTTP client (and its connection pool)
_RETRIED = {429, 503}  # what the app tries again, after Retry-After or a second
_TRIES = 3


async def retrying(
    record: dict[str, Any], call: Callable[[], Awaitable[httpx.Response]]
) -> httpx.Response:
    """A call that changes nothing when refused (login, registration), tried again as the app
    does when the hub or the provider is briefly unavailable; the retries are counted."""
    for _ in range(_TRIES - 1):
        response = await call()
        if response.status_code not in _RETRIED:
            return response
        record["retries"] = record.get("retries", 0) + 1
        await asyncio.sleep(float(response.headers.get("retry-after", "1") or 1))
    return await call()


async def _written(
    record: dict[str, Any],
    call: Callable[[], Awaitable[httpx.Response]],
    status: int,
    step: str,
    look: Callable[[], Awaitable[dict[str, Any] | None]],
) -> dict[str, Any]:
    """A write (application, receipt request) answered 503 may have been taken: like the app,
    look first, and send it again only if it was not; the time-outs are counted."""
    timed_out = False
    for _ in range(_TRIES):
        response = await call()
        if timed_out and response.status_code == 409:  # the timed-out one took it meanwhile
            taken = await look()
            if taken is not None:
                return taken
        if response.status_code != 503:
            return _expect(response, status, step)
        timed_out = True
        record["retries"] = record.get("retries", 0) + 1
        await asyncio.sleep(float(response.headers.get("retry-after", "1") or 1))
        taken = await look()
        if taken is not None:
            return taken
    return _expect(response, status, step)


async def resident(
    index: int, app: ResidentApp, plan: dict[str, Any], record: dict[str, Any]
) -> None:
    record["started"] = time.time()
    record["step"] = "login"
    _expect(await retrying(record, app.login), 201, "login")
    record["mykey_id"] = app.mykey_id
    record["step"] = "apply"

    async def granted() -> dict[str, Any] | None:
        response = await app.get("/v1/me/points")
        if response.status_code != 200:  # not known now (shed, busy): asked again
            return None
        mine = [g for g in response.json()["grants"] if g["measure_id"] == plan["measure_id"]]
        return {"grants": mine} if mine else None

    applied = await _written(record, lambda: app.apply(plan["measure_id"]), 201, "apply", granted)
    record["grant_id"] = applied["grants"][0]["grant_id"]
    if plan["steps"] == "lifecycle":
        services: list[str] = plan["services"]
        service = services[index % len(services)]
        record["service"] = service
        record["step"] = "register"
        account = f"acct-{plan['card_offset'] + index:07d}"
        registered = _expect(
            await retrying(record, lambda: app.register_service(service, account)),
            201,
            "register",
        )
        record["step"] = "receipt_request"
        record["receipt_sent"] = time.time()  # credited-after-request latency counts from here

        async def requested() -> dict[str, Any] | None:
            response = await app.get("/v1/me/receipts")
            if response.status_code != 200:  # not known now (shed, busy): asked again
                return None
            receipts = response.json()["items"]
            mine = [r for r in receipts if r["grant_id"] == record["grant_id"]]
            return {"receipts": mine} if mine else None

        await _written(
            record,
            lambda: app.request_receipt([record["grant_id"]], registered["registration_id"]),
            202,
            "receipt_request",
            requested,
        )
    record["finished"] = time.time()


async def lifecycle_of(
    index: int, app: ResidentApp, plan: dict[str, Any], record: dict[str, Any]
) -> None:
    """One resident's run; a refusal or an HTTP failure is recorded in `record`, not raised."""
    try:
        await resident(index, app, plan, record)
    except (Refused, httpx.HTTPError, KeyError, ValueError) as error:  # an unexpected answer
        record["error"] = f"{record.get('step')}: {type(error).__name__}: {error}"


def shared_clients(calls: CallLog, plan: dict[str, Any], in_flight: int) -> list[httpx.AsyncClient]:
    """Small pools: httpx looks over every connection and waiting request of its pool for each
    request, so one pool of `in_flight` connections cost the driver more CPU than the requests
    themselves once the API answered slowly."""
    shards = max(1, in_flight // RESIDENTS_PER_CLIENT)
    urls: list[str] = plan["api_urls"]
    return [calls.client(url, RESIDENTS_PER_CLIENT) for _ in range(shards) for url in urls]


async def finish(clients: list[httpx.AsyncClient], work: Sequence[Awaitable[None]]) -> None:
    """Every resident's run to its end, then the clients closed."""
    try:
        await asyncio.gather(*work)
    finally:
        for client in clients:
            await client.aclose()


def outcome(
    records: list[dict[str, Any]], calls: CallLog, usage_before: dict[str, float]
) -> dict[str, Any]:
    """What every residents' driver reports besides its timing; its CPU since `usage_before`."""
    return {
        "residents": records,
        "calls": calls.summaries(),
        "failures": calls.failures[:50],
        "failed_calls": len(calls.failures),
        "failed_residents": sum(1 for r in records if "error" in r),
        "retries": sum(r.get("retries", 0) for r in records),
        "usage": usage_since(usage_before),
    }


async def main(plan: dict[str, Any]) -> dict[str, Any]:
    cards = load_cards(Path(plan["cards_file"]), plan["card_offset"], plan["residents"])
    calls = CallLog()
    concurrency = int(plan["concurrency"])
    clients = shared_clients(calls, plan, concurrency)
    records: list[dict[str, Any]] = [{"index": i} for i in range(len(cards))]
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with gate:
            app = ResidentApp(clients[index % len(clients)], cards[index])
            await lifecycle_of(index, app, plan, records[index])

    usage_before = own_usage()
    first = time.time()
    await finish(clients, [one(i) for i in range(len(cards))])
    return {
        "first_request": first,
        "last_response": time.time(),
        **outcome(records, calls, usage_before),
    }


if __name__ == "__main__":
    plan_file, out_file = sys.argv[1], sys.argv[2]
    result = asyncio.run(main(json.loads(Path(plan_file).read_text())))
    Path(out_file).write_text(json.dumps(result))
