"""`rush`: the opening rush. N signed-in residents apply within a window to a measure whose
budget covers only some of them (SPEC §2: first come, first served).

Untimed: a published measure with a budget of `budget_grants` grants, and every resident logged
in by the driver (`bench/drivers/rush.py`). Timed: the applications, open-loop over `window_s`.
The checks: exactly `budget_grants` grants, every other applicant refused `budget_exhausted`,
no 5xx but 503 with `Retry-After` (counted; the driver retries those), no hung request, the
ledger adds up, and how many workflows the rush started (a refusal should start none). The
database is checked, and the measured phase ends, once no application or grant has changed for
5 s after the last answer: a request the driver gave up on may still be carried out.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import checks
from bench.cards import CardDeck
from bench.machine import ProcessWatch
from bench.scenarios.common import VariantResult, database, start_driver, workflow_count
from bench.scenarios.lifecycle import measure_and_plan
from bench.stack import Stack

POINTS = 1000


@dataclass
class RushParams:
    residents: int = 20_000
    budget_grants: int = 5_000
    window_s: float = 60.0
    client_timeout_s: float = 30.0  # silence on the socket that counts as a hung request
    connections: int = 1000  # the driver's connection pool
    timeout_s: float = 3600
    card_offset: int = 0

    def cards_needed(self) -> int:
        return self.card_offset + self.residents


async def settle(
    stack: Stack, measure_id: str, quiet_s: float = 5.0, limit_s: float = 300.0
) -> float:
    """Wait until the measure's applications and grants stop changing for `quiet_s` (a request
    the driver gave up on may still be carried out); returns the seconds waited."""
    started = time.monotonic()
    last: tuple[Any, ...] | None = None
    quiet_since = started
    async with database(stack) as engine:
        while time.monotonic() - started < limit_s:
            stack.children.check_alive()
            ledger = await checks.ledger(engine, measure_id)
            now = (ledger["applications"], ledger["granted_points"])
            if now != last:
                last, quiet_since = now, time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                break
            await asyncio.sleep(0.5)
    return round(time.monotonic() - started, 1)


async def _wait_ready(driver_out: Path, alive: Any, timeout_s: float) -> None:
    ready = Path(f"{driver_out}.ready")
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"the residents were not signed in within {timeout_s:.0f} s")
        await asyncio.sleep(0.25)


async def run(
    stack: Stack, params: RushParams, deck: CardDeck, watch: ProcessWatch
) -> VariantResult:
    result = VariantResult(stack.variant, parameters=vars(params).copy())
    terms = {"budget_points": params.budget_grants * POINTS}
    title, offset = "開幕ラッシュ測定", params.card_offset
    measure_id, plan = await measure_and_plan(stack, deck, title, offset, params.residents, **terms)
    plan.update(
        window_s=params.window_s,
        client_timeout_s=params.client_timeout_s,
        connections=params.connections,
    )
    driver = start_driver(stack, "rush", "bench.drivers.rush", plan, params.timeout_s)
    await _wait_ready(driver.out_file, driver.result, params.timeout_s)
    workflows_before = await workflow_count(stack)
    watch.mark_start()
    Path(f"{driver.out_file}.go").write_text("go")
    while True:
        driven = driver.result()
        if driven is not None:
            break
        await asyncio.sleep(0.25)
    settled_s = await settle(stack, measure_id)
    watch.mark_end()
    workflows_after = await workflow_count(stack)
    async with database(stack) as engine:
        grants = await checks.grant_states(engine, measure_id)
        ledger = await checks.ledger(engine, measure_id)
    n, budget = params.residents, params.budget_grants
    outcomes: dict[str, int] = driven["outcomes"]
    granted = outcomes.get("granted", 0)
    refused = outcomes.get("budget_exhausted", 0)
    started = (
        workflows_after - workflows_before
        if workflows_before is not None and workflows_after is not None
        else None
    )
    latency = driven["latency_ms"]
    result.figures = {
        "residents": n,
        "budget_grants": budget,
        "granted": granted,
        "refused_budget_exhausted": refused,
        "seconds": driven["elapsed_s"],
        "settled_after_s": settled_s,
        "applications_per_s": round(n / driven["elapsed_s"], 1) if driven["elapsed_s"] else None,
        "budget_gone_after_s": driven["budget_gone_after_s"],
        "refusal_p99_after_budget_gone_ms": latency["refusal_after_budget_gone_ms"].get("p99"),
        "shed_503": driven["shed_503"],
        "server_errors": driven["server_errors"],
        "hung_requests": driven["hung"],
        "errors": driven["errors"],
        "workflows_started": started,
        "workflows_started_beyond_grants": None if started is None else started - granted,
    }
    result.latency_ms = latency
    result.drivers["rush"] = driven["usage"]
    result.unit = ("application", sum(outcomes.values()))
    result.checks = {
        "outcomes": outcomes,
        "grants": grants,
        "ledger": ledger,
        "error_samples": driven["error_samples"][:5],
        "send_lateness_ms": driven["send_lateness_ms"],
        "login_ms": driven["login_ms"],
    }
    result.expect(grants == {"unreceived": budget}, f"grants by state {grants}, expected {budget}")
    result.expect(granted == budget, f"{granted} applications answered granted, budget {budget}")
    result.expect(refused == n - budget, f"{refused} refused budget_exhausted of {n - budget}")
    result.expect(driven["server_errors"] == 0, f"{driven['server_errors']} answers were 5xx")
    result.expect(driven["hung"] == 0, f"{driven['hung']} requests had no answer in time")
    samples = driven["error_samples"][:2]
    result.expect(driven["errors"] == 0, f"{driven['errors']} errors, first: {samples}")
    result.expect(ledger["adds_up"], "the ledger does not add up")
    result.expect(
        ledger["balances"] == {"unreceived": budget * POINTS}, f"ledger {ledger['balances']}"
    )
    result.expect(ledger["budget_used"] == budget * POINTS, f"budget used {ledger['budget_used']}")
    return result
