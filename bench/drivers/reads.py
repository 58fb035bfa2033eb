"""Resident reads at a fixed request rate: `GET /v1/me/points` and `GET /v1/measures`, in turn,
each by a resident picked at random among those logged in.

The load is open-loop: request i is due at start + i / rate whether or not earlier ones have
answered, so a slow answer cannot hide later ones (no coordinated omission). Latency is counted
from when a request was due; the service time (sent → answered) is reported beside it.

The timed reads go out through aiohttp, whose connection pool costs the same per request however
many requests wait: httpx's scans every connection for each one, which at 200 requests per
second made the driver, not the API, the busiest process on the machine.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import uvloop

from bench.cards import load_cards
from bench.drivers.residents import retrying
from bench.machine import own_usage
from bench.timing import CallLog, summary
from simulators.resident_app import ResidentApp


async def login_all(plan: dict[str, Any], clients: list[httpx.AsyncClient]) -> list[ResidentApp]:
    cards = load_cards(Path(plan["cards_file"]), plan["card_offset"], plan["residents"])
    apps = [ResidentApp(clients[i % len(clients)], card) for i, card in enumerate(cards)]
    gate = asyncio.Semaphore(16)

    async def one(app: ResidentApp) -> None:
        async with gate:
            response = await retrying({}, app.login)  # 503/429: after Retry-After, as the app
            if response.status_code != 201:
                raise RuntimeError(f"login refused: {response.status_code} {response.text[:200]}")

    await asyncio.gather(*(one(app) for app in apps))
    return apps


async def main(plan: dict[str, Any]) -> dict[str, Any]:
    setup = CallLog()
    setup_clients = [setup.client(url, 16) for url in plan["api_urls"]]
    apps = await login_all(plan, setup_clients)
    rate, duration = float(plan["rate"]), float(plan["duration_s"])
    paths: list[str] = plan["paths"]
    total = int(rate * duration)
    rng = random.Random(7)
    from_due: dict[str, list[float]] = {p: [] for p in paths}
    served: dict[str, list[float]] = {p: [] for p in paths}
    errors: list[dict[str, Any]] = []
    lateness: list[float] = []
    connector = aiohttp.TCPConnector(limit=int(plan["connections"]), keepalive_timeout=2.0)
    timeout = aiohttp.ClientTimeout(total=120)
    reader = aiohttp.ClientSession(connector=connector, timeout=timeout)
    urls = plan["api_urls"]

    async def one(index: int, due: float) -> None:
        path = paths[index % len(paths)]
        app = apps[rng.randrange(len(apps))]
        url = urls[(index // len(paths)) % len(urls)] + path  # each API gets every path
        sent = time.perf_counter()
        try:
            async with reader.get(url, headers=app.auth) as response:
                status, body = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            status, body = 0, b""
            errors.append({"path": path, "error": type(error).__name__})
        answered = time.perf_counter()
        from_due[path].append((answered - due) * 1000)
        served[path].append((answered - sent) * 1000)
        if status not in (0, 200):
            errors.append(
                {"path": path, "status": status, "body": body[:200].decode(errors="replace")}
            )

    started = time.perf_counter()
    tasks = []
    for index in range(total):
        due = started + index / rate
        pause = due - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        lateness.append(max(0.0, time.perf_counter() - due) * 1000)
        tasks.append(asyncio.create_task(one(index, due)))
    sending = time.perf_counter() - started  # the first to the last request sent
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    await reader.close()
    for client in setup_clients:
        await client.aclose()
    every = [v for values in from_due.values() for v in values]
    return {
        "requests": total,
        "elapsed_s": round(elapsed, 2),
        "achieved_rate": round((total - 1) / sending, 1) if sending > 0 else None,
        "latency_ms": {"all": summary(every), **{p: summary(v) for p, v in from_due.items()}},
        "service_time_ms": {p: summary(v) for p, v in served.items()},
        "send_lateness_ms": summary(lateness),
        "errors": len(errors),
        "error_samples": errors[:20],
        "residents": len(apps),
        "usage": own_usage(),
    }


if __name__ == "__main__":
    plan_file, out_file = sys.argv[1], sys.argv[2]
    result = uvloop.run(main(json.loads(Path(plan_file).read_text())))
    Path(out_file).write_text(json.dumps(result))
