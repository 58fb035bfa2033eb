"""`open-loop`: answers under steady load. Lifecycles started at a fixed rate, below saturation.

First the closed-loop throughput is measured on the same stack (the `lifecycle` scenario with
`closed_residents`, on a measure of its own). The rate is then half of the hub's closed-loop
lifecycles per second from the same command (the baseline is driven at the hub's rate, so both
carry the same load), unless `rate` is given. Timed: `lifecycles` residents, each started at its
due time (`bench/drivers/open_loop.py`), on a second measure; the run ends when every grant is
credited. Reported per step, p50/p95/p99 of the service time: challenge, login, apply,
registration (also less the provider's own latency), receipt request; and the time from a receipt
request being sent to its grant being credited (the ledger's time), per provider style. Errors
are every answer that was not a success, and every resident who could not finish.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench import checks
from bench.cards import CardDeck
from bench.machine import ProcessWatch
from bench.scenarios import lifecycle
from bench.scenarios.common import VariantResult, database, run_driver
from bench.stack import Stack
from bench.timing import summary

POINTS = 1000
# the p99 bounds (ms) for the figures below
P99_TARGETS = {
    "challenge": 50.0,
    "login": 100.0,
    "apply": 200.0,
    "receipt_request": 200.0,
    "registration_beyond_provider": 150.0,
    "credited_after_request_sync": 1000.0,
}


@dataclass
class OpenLoopParams:
    lifecycles: int = 1000  # residents started at the fixed rate
    rate: float | None = None  # lifecycles/s; None: half the hub's closed-loop throughput
    closed_residents: int = 1000  # the closed-loop measurement first
    closed_concurrency: int = 128
    connections: int = 256  # the open-loop driver's connections
    timeout_s: float = 3600
    card_offset: int = 0

    @property
    def residents(self) -> int:  # what a run's status line and size checks read
        return self.lifecycles

    def cards_needed(self) -> int:
        return self.card_offset + self.closed_residents + self.lifecycles


def _less(entry: dict[str, Any], ms: float) -> dict[str, Any]:
    """A latency summary shifted by a constant (the provider's own latency taken out)."""
    return {k: (round(v - ms, 2) if k != "count" else v) for k, v in entry.items()}


def credited_after_request(
    completed: list[dict[str, Any]], credited_at: dict[str, datetime], services: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Milliseconds from each receipt request being sent to its grant's ledger line `credited`,
    by provider style (sync, webhook, batch)."""
    mode_of = {service: mode for mode, service in services.items()}
    found: dict[str, list[float]] = {mode: [] for mode in services}
    for record in completed:
        at = credited_at.get(record.get("grant_id", ""))
        if at is None or "receipt_sent" not in record:
            continue
        sent = datetime.fromtimestamp(record["receipt_sent"], UTC)
        found[mode_of[record["service"]]].append((at - sent).total_seconds() * 1000)
    return {mode: summary(values) for mode, values in found.items()}


async def run(
    stack: Stack, params: OpenLoopParams, deck: CardDeck, watch: ProcessWatch
) -> VariantResult:
    assert stack.catalog is not None
    catalog = stack.catalog
    result = VariantResult(stack.variant, parameters=vars(params).copy())
    closed = await lifecycle.run(
        stack,
        lifecycle.LifecycleParams(
            residents=params.closed_residents,
            concurrency=params.closed_concurrency,
            timeout_s=params.timeout_s,
            card_offset=params.card_offset,
        ),
        deck,
        watch,
    )
    result.expect(closed.ok, f"the closed-loop lifecycles failed: {closed.failures}")
    closed_rate = closed.figures.get("lifecycles_per_s")
    rate = params.rate or (closed_rate / 2 if closed_rate else None)
    if not rate:
        result.failures.append("no closed-loop throughput to set the rate from")
        return result
    offset = params.card_offset + params.closed_residents
    measure_id, plan = await lifecycle.measure_and_plan(
        stack, deck, "定常負荷測定", offset, params.lifecycles
    )
    plan.update(rate=rate, connections=params.connections, steps="lifecycle")
    watch.mark_start()
    driven = await run_driver(stack, "open-loop", "bench.drivers.open_loop", plan, params.timeout_s)
    completed = [r for r in driven["residents"] if "error" not in r]
    async with database(stack) as engine:
        await lifecycle.until_credited(
            stack, engine, measure_id, len(completed), params.timeout_s, result
        )
        watch.mark_end()
        credited_at = await checks.moved_at(engine, measure_id, "credited")
        grants = await checks.grant_states(engine, measure_id)
        ledger = await checks.ledger(engine, measure_id)
    calls: dict[str, dict[str, Any]] = driven["calls"]
    register = calls.get("register", {"count": 0})
    beyond = _less(register, float(stack.options.provider_latency_ms))
    credited = credited_after_request(completed, credited_at, catalog.services)
    steps = {
        "challenge": calls.get("challenge", {"count": 0}),
        "login": calls.get("login", {"count": 0}),
        "apply": calls.get("apply", {"count": 0}),
        "registration_beyond_provider": beyond,
        "receipt_request": calls.get("receipt_request", {"count": 0}),
        **{f"credited_after_request_{mode}": s for mode, s in credited.items()},
    }
    errors = driven["failed_calls"] + driven["failed_residents"]
    result.figures = {
        "residents": params.lifecycles,
        "closed_loop_lifecycles_per_s": closed_rate,
        "rate": round(rate, 2),
        "achieved_rate": driven["achieved_rate"],
        "completed": len(credited_at),
        "errors": errors,
        **{f"{step}_p99_ms": steps[step].get("p99") for step in P99_TARGETS},
    }
    result.latency_ms = {**steps, "register (with the provider)": register}
    result.drivers["open-loop"] = driven["usage"]
    result.unit = ("lifecycle", len(credited_at))
    result.checks = {
        "closed_loop": closed.figures,
        "grants": grants,
        "ledger": ledger,
        "failed_residents": driven["failed_residents"],
        "failed_calls": driven["failed_calls"],
        "retried_calls": driven.get("retries", 0),
        "failure_samples": driven["failures"][:5],
        "send_lateness_ms": driven["send_lateness_ms"],
    }
    n = params.lifecycles
    result.expect(driven["failed_residents"] == 0, f"{driven['failed_residents']} residents failed")
    result.expect(grants == {"credited": n}, f"grants by state {grants}, expected {n} credited")
    result.expect(ledger["adds_up"], "the ledger does not add up")
    result.expect(ledger["balances"] == {"credited": n * POINTS}, f"ledger {ledger['balances']}")
    return result
