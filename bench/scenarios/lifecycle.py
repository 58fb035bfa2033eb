"""`lifecycle`: N residents, each from card login to points credited at one of three providers.

Every resident logs in, applies (granted at once), registers an account at the sync, webhook or
batch-file provider in turn and requests receipt: the driver process does that with a fixed
number of residents in flight. The run ends when every grant is `credited`; the ledger tells when
each one was. Throughput is completed lifecycles per second from the first request to the last
acknowledgement; a lifecycle's latency is from its first request to its grant being credited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bench import checks
from bench.cards import CardDeck
from bench.machine import ProcessWatch
from bench.onboarding import create_measure, measure_body
from bench.scenarios.common import VariantResult, database, run_driver
from bench.stack import SIM_MODES, Stack
from bench.timing import summary

POINTS = 1000


@dataclass
class LifecycleParams:
    residents: int = 2000
    concurrency: int = 128
    timeout_s: float = 3600
    card_offset: int = 0  # which cached cards the residents use

    def cards_needed(self) -> int:
        return self.card_offset + self.residents


async def until_credited(
    stack: Stack,
    engine: AsyncEngine,
    measure_id: str,
    count: int,
    timeout_s: float,
    result: VariantResult,
) -> None:
    """Wait until `count` grants of the measure are credited; out of time, the run is failed
    and its figures are those of what was credited."""

    async def all_credited() -> bool:
        states = await checks.grant_states(engine, measure_id)
        return states.get("credited", 0) >= count

    try:
        await checks.wait_until(
            all_credited,
            timeout_s=timeout_s,
            what=f"{count} grants credited",
            alive=stack.children.check_alive,
        )
    except TimeoutError as late:
        result.failures.append(str(late))


async def measure_and_plan(
    stack: Stack,
    deck: CardDeck,
    title: str,
    card_offset: int,
    residents: int,
    **measure: Any,
) -> tuple[str, dict[str, Any]]:
    """A published measure offering the sync, webhook and batch-file providers' services (with
    `measure`'s extra terms), and the part of a resident driver's plan every scenario of
    residents shares: (measure ID, plan)."""
    assert stack.catalog is not None
    services = [stack.catalog.services[mode] for mode in SIM_MODES]
    async with stack.http() as http:
        measure_id = await create_measure(
            http, stack.catalog, measure_body(services, title, **measure), publish=True
        )
    plan: dict[str, Any] = {
        "api_urls": stack.api_urls,
        "measure_id": measure_id,
        "services": services,
        "cards_file": str(deck.path),
        "card_offset": card_offset,
        "residents": residents,
    }
    return measure_id, plan


async def run(
    stack: Stack, params: LifecycleParams, deck: CardDeck, watch: ProcessWatch
) -> VariantResult:
    assert stack.catalog is not None
    catalog = stack.catalog
    result = VariantResult(stack.variant, parameters=vars(params).copy())
    title, offset = "ライフサイクル測定", params.card_offset
    measure_id, plan = await measure_and_plan(stack, deck, title, offset, params.residents)
    plan.update(concurrency=params.concurrency, steps="lifecycle")
    watch.mark_start()
    driven = await run_driver(stack, "residents", "bench.drivers.residents", plan, params.timeout_s)
    completed = [r for r in driven["residents"] if "error" not in r]
    async with database(stack) as engine:
        await until_credited(stack, engine, measure_id, len(completed), params.timeout_s, result)
        watch.mark_end()
        credited_at = await checks.moved_at(engine, measure_id, "credited")
        grants = await checks.grant_states(engine, measure_id)
        receipts = await checks.receipt_states(engine, measure_id)
        ledger = await checks.ledger(engine, measure_id)
        receipt_ids = await checks.receipt_ids(engine, measure_id)
    providers = list(catalog.providers.values())
    sims = await checks.simulator_ledgers(stack.sim_url, providers, receipt_ids)
    first = datetime.fromtimestamp(driven["first_request"], UTC)
    last = max(credited_at.values()) if credited_at else first
    span_s = (last - first).total_seconds()
    lifecycles = [
        (credited_at[r["grant_id"]] - datetime.fromtimestamp(r["started"], UTC)).total_seconds()
        * 1000
        for r in completed
        if r.get("grant_id") in credited_at
    ]
    requests_done = max((r["finished"] for r in completed), default=driven["first_request"])
    result.figures = {
        "residents": params.residents,
        "completed": len(credited_at),
        "seconds": round(span_s, 2),
        "lifecycles_per_s": round(len(credited_at) / span_s, 2) if span_s > 0 else None,
        "requests_seconds": round(requests_done - driven["first_request"], 2),
    }
    result.latency_ms = {**driven["calls"], "whole_lifecycle": summary(lifecycles)}
    result.drivers["residents"] = driven["usage"]
    result.unit = ("lifecycle", len(credited_at))
    result.checks = {
        "grants": grants,
        "receipts": receipts,
        "ledger": ledger,
        "simulator": sims,
        "failed_residents": driven["failed_residents"],
        "retried_calls": driven.get("retries", 0),  # 503/429 at login or registration
        "failure_samples": driven["failures"][:5],
    }
    n = params.residents
    failed = [r["error"] for r in driven["residents"] if "error" in r]
    result.expect(not failed, f"{len(failed)} residents failed, first: {failed[:1]}")
    result.expect(grants == {"credited": n}, f"grants by state {grants}, expected {n} credited")
    result.expect(receipts == {"credited": n}, f"receipts by state {receipts}")
    result.expect(ledger["adds_up"], "the ledger does not add up")
    result.expect(ledger["balances"] == {"credited": n * POINTS}, f"ledger {ledger['balances']}")
    result.expect(sum(p["credited"] for p in sims.values()) == n, f"simulator credits {sims}")
    result.expect(
        not any(p["not_exactly_once"] for p in sims.values()), "a credit not applied exactly once"
    )
    return result
