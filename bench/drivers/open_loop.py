"""Residents' lifecycles started at a fixed rate: the `open-loop` scenario's load.

Lifecycle i (login, apply, registration at one of the payment services in turn, receipt
request: the same steps and retries as `bench/drivers/residents.py`) starts at
start + i / rate whether or not earlier ones have finished, so a slow answer cannot hold later
residents back (no coordinated omission). Each call's latency is its service time (sent →
answered), by call; a start later than due is reported as the driver's own lateness.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.cards import load_cards
from bench.drivers.residents import finish, lifecycle_of, outcome, shared_clients
from bench.machine import own_usage
from bench.timing import CallLog, summary
from simulators.resident_app import ResidentApp


async def main(plan: dict[str, Any]) -> dict[str, Any]:
    cards = load_cards(Path(plan["cards_file"]), plan["card_offset"], plan["residents"])
    calls = CallLog()
    rate = float(plan["rate"])
    clients = shared_clients(calls, plan, int(plan["connections"]))
    records: list[dict[str, Any]] = [{"index": i} for i in range(len(cards))]
    lateness: list[float] = []

    async def one(index: int) -> None:
        app = ResidentApp(clients[index % len(clients)], cards[index])
        await lifecycle_of(index, app, plan, records[index])

    usage_before = own_usage()
    first = time.time()
    started = time.perf_counter()
    tasks = []
    for index in range(len(cards)):
        due = started + index / rate
        pause = due - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        lateness.append(max(0.0, time.perf_counter() - due) * 1000)
        tasks.append(asyncio.create_task(one(index)))
    sending = time.perf_counter() - started
    await finish(clients, tasks)
    return {
        "first_request": first,
        "last_response": time.time(),
        "achieved_rate": round((len(cards) - 1) / sending, 2) if sending > 0 else None,
        "send_lateness_ms": summary(lateness),
        **outcome(records, calls, usage_before),
    }


if __name__ == "__main__":
    plan_file, out_file = sys.argv[1], sys.argv[2]
    result = asyncio.run(main(json.loads(Path(plan_file).read_text())))
    Path(out_file).write_text(json.dumps(result))
