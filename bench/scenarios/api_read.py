"""`api-read`: resident reads at a fixed rate from a separate process.

Untimed: twenty published measures (so the list has something to page), and residents who each
went through a whole lifecycle (their points are credited, so `/v1/me/points` reads real rows).
Timed: `GET /v1/me/points` and `GET /v1/measures` in turn at `rate` requests per second for
`duration_s`, open-loop, each as a resident picked at random; latency percentiles and errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.cards import CardDeck
from bench.machine import ProcessWatch
from bench.onboarding import create_measure, measure_body
from bench.scenarios import lifecycle
from bench.scenarios.common import VariantResult, run_driver
from bench.stack import Stack

OTHER_MEASURES = 19
PATHS = ["/v1/me/points", "/v1/measures"]


@dataclass
class ApiReadParams:
    residents: int = 200
    rate: float = 200.0
    duration_s: float = 30.0
    connections: int = 64
    timeout_s: float = 1800
    card_offset: int = 0  # which cached cards the readers use

    def cards_needed(self) -> int:
        return self.card_offset + self.residents


async def run(
    stack: Stack, params: ApiReadParams, deck: CardDeck, watch: ProcessWatch
) -> VariantResult:
    assert stack.catalog is not None
    catalog = stack.catalog
    result = VariantResult(stack.variant, parameters=vars(params).copy())
    async with stack.http() as http:
        for index in range(OTHER_MEASURES):
            title = f"地域応援ポイント 第{index + 1}弾"
            await create_measure(
                http, catalog, measure_body(list(catalog.services.values()), title), publish=True
            )
    setup = await lifecycle.run(
        stack,
        lifecycle.LifecycleParams(
            residents=params.residents, concurrency=32, card_offset=params.card_offset
        ),
        deck,
        watch,
    )
    result.expect(setup.ok, f"set-up lifecycles failed: {setup.failures}")
    plan: dict[str, Any] = {
        "api_urls": stack.api_urls,
        "cards_file": str(deck.path),
        "card_offset": params.card_offset,
        "residents": params.residents,
        "rate": params.rate,
        "duration_s": params.duration_s,
        "connections": params.connections,
        "paths": PATHS,
    }
    watch.mark_start()
    driven = await run_driver(stack, "reads", "bench.drivers.reads", plan, params.timeout_s)
    watch.mark_end()
    overall = driven["latency_ms"]["all"]
    result.figures = {
        "rate": params.rate,
        "achieved_rate": driven["achieved_rate"],
        "requests": driven["requests"],
        "p50_ms": overall.get("p50"),
        "p95_ms": overall.get("p95"),
        "p99_ms": overall.get("p99"),
        "errors": driven["errors"],
    }
    result.latency_ms = {
        **{f"{p} (from due time)": s for p, s in driven["latency_ms"].items() if p != "all"},
        **{f"{name} (service time)": s for name, s in driven["service_time_ms"].items()},
    }
    # only the timed reads' driver: the set-up lifecycles' ran before the measured phase
    result.drivers = {"reads": driven["usage"]}
    result.unit = ("read", int(driven["requests"]))
    result.checks = {
        "setup_lifecycles": setup.figures,
        "error_samples": driven["error_samples"][:5],
        "send_lateness_ms": driven["send_lateness_ms"],
    }
    result.expect(driven["errors"] == 0, f"{driven['errors']} reads failed")
    result.expect(
        driven["achieved_rate"] >= params.rate * 0.95,
        f"the driver reached {driven['achieved_rate']} requests/s of {params.rate}",
    )
    return result
