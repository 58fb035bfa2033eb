"""Latencies: recorded per API call by an httpx event hook, summarised as percentiles."""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import httpx

# (method, path pattern) → the name a call is reported under
CALLS: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/v1/auth/challenges$"), "challenge"),
    ("POST", re.compile(r"^/v1/auth/sessions$"), "login"),
    ("POST", re.compile(r"^/v1/measures/[^/]+/applications$"), "apply"),
    ("POST", re.compile(r"^/v1/me/payment-services$"), "register"),
    ("POST", re.compile(r"^/v1/me/receipts$"), "receipt_request"),
    ("GET", re.compile(r"^/v1/me/points$"), "me_points"),
    ("GET", re.compile(r"^/v1/measures$"), "measures"),
]


def call_name(method: str, path: str) -> str:
    for call_method, pattern, name in CALLS:
        if method == call_method and pattern.match(path):
            return name
    return f"{method} {path}"


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(values: Sequence[float]) -> dict[str, Any]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0}
    return {
        "count": len(ordered),
        "p50": round(percentile(ordered, 0.50), 2),
        "p95": round(percentile(ordered, 0.95), 2),
        "p99": round(percentile(ordered, 0.99), 2),
        "max": round(ordered[-1], 2),
        "mean": round(sum(ordered) / len(ordered), 2),
    }


class CallLog:
    """Every response's latency in milliseconds (request sent → body read), by call name; and
    every response that was not a success."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.failures: list[dict[str, Any]] = []

    async def _on_request(self, request: httpx.Request) -> None:
        request.extensions["bench_started"] = time.perf_counter()

    async def _on_response(self, response: httpx.Response) -> None:
        await response.aread()
        started = response.request.extensions.get("bench_started")
        name = call_name(response.request.method, response.request.url.path)
        if started is not None:
            self.latencies[name].append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            self.failures.append(
                {"call": name, "status": response.status_code, "body": response.text[:300]}
            )

    def client(self, base_url: str, connections: int, timeout: float = 120) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            # Idle connections are dropped before uvicorn's 5 s keep-alive ends, so a request
            # never goes out on a connection the server is closing at that moment.
            limits=httpx.Limits(
                max_connections=connections,
                max_keepalive_connections=connections,
                keepalive_expiry=2.0,
            ),
            event_hooks={"request": [self._on_request], "response": [self._on_response]},
        )

    def summaries(self) -> dict[str, dict[str, Any]]:
        return {name: summary(values) for name, values in sorted(self.latencies.items())}
