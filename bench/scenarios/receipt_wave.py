"""`receipt-wave`: 100,000 receipts through the batch-file provider, until every one is credited.

Untimed (`bench/seeding.py`): 100,000 MyKey IDs, an auto-grant measure offering only the batch
provider's service, its target list uploaded through the API, published and granted by the
measure workflow's own batch step, and one registration per resident at that service. Timed:
a driver process requests receipt for every grant through `services.receipts.request_receipts`
(the code behind `POST /v1/me/receipts` after the card proof), a fixed number at a time, from
its first request until the ledger shows the last grant credited. The batch provider answers
each request file with a result file; the hub's dispatcher ingests them and signals each
application workflow.

With `hold`, the batch provider's job fails (its `error_rate` set to 1 through the simulator's
admin API) until every receipt has been requested, so every lifecycle is open at once: the run
then shows the worker's memory with that many open lifecycles. The job then runs again and every
receipt is credited as usual; the credit rate of such a run is not a throughput figure.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import checks
from bench.cards import CardDeck
from bench.machine import ProcessWatch
from bench.onboarding import create_measure, measure_body, upload_targets
from bench.scenarios.common import Driver, VariantResult, database, start_driver, workflow_count
from bench.seeding import insert_mykeys, insert_registrations, publish_and_grant
from bench.stack import Stack
from hub.settings import Settings

POINTS = 1000


@dataclass
class ReceiptWaveParams:
    residents: int = 100_000
    concurrency: int = 200
    timeout_s: float = 7200
    hold: bool = False  # every lifecycle open at once before any is credited

    def cards_needed(self) -> int:
        return 0


async def run(
    stack: Stack, params: ReceiptWaveParams, deck: CardDeck, watch: ProcessWatch
) -> VariantResult:
    assert stack.catalog is not None
    catalog = stack.catalog
    n = params.residents
    service = catalog.services["batch"]
    result = VariantResult(stack.variant, parameters=vars(params).copy())
    body = measure_body([service], "受取集中測定", target_list_only=True, auto_grant=True)
    async with database(stack) as engine:
        mykey_ids = await insert_mykeys(engine, n)
        async with stack.http(timeout=600) as http:
            measure_id = await create_measure(http, catalog, body, publish=False)
            await upload_targets(http, catalog, measure_id, mykey_ids)
        settings = Settings(
            database_url=stack.database_url, temporal_address=stack.temporal_address
        )
        granted = await publish_and_grant(settings, catalog.municipality_code, measure_id)
        await insert_registrations(engine, mykey_ids, service)
        plan: dict[str, Any] = {"measure_id": measure_id, "concurrency": params.concurrency}
        batch_job = BatchJob(stack.sim_url, catalog.providers["batch"])
        if params.hold:
            await batch_job.hold()
        watch.mark_start()
        wave_started = time.time()
        limit = params.timeout_s + 60  # the run's own deadline comes first
        driver = start_driver(stack, "receipts", "bench.drivers.receipts", plan, limit)
        release = batch_job.release if params.hold else None
        driven, open_peak = await _drive(engine, measure_id, n, driver, params.timeout_s, release)
        all_final = datetime.now(UTC)  # seen by `_drive`'s last poll (every second)
        watch.mark_end()
        last = await checks.last_move(engine, measure_id, "credited")
        landed = await _files_landed(
            engine, catalog.providers["batch"], datetime.fromtimestamp(wave_started, UTC)
        )
        # The baseline's workflows wait for their receipt deadline; the direct variant has none.
        caught_up_s = await _workflows_caught_up(stack) if stack.variant == "hub" else None
        stuck = await checks.stuck_receipts(engine, measure_id)
        grants = await checks.grant_states(engine, measure_id)
        receipts = await checks.receipt_states(engine, measure_id)
        ledger = await checks.ledger(engine, measure_id)
        receipt_ids = await checks.receipt_ids(engine, measure_id)
    sims = await checks.simulator_ledgers(stack.sim_url, [catalog.providers["batch"]], receipt_ids)
    if driven is None:  # out of time: the figures of what was credited, from the database
        result.failures.append(f"not finished after {params.timeout_s:.0f} s; driver stopped")
        driven = {"first_request": wave_started, "errors": 0, "error_samples": []}
    first = datetime.fromtimestamp(driven["first_request"], UTC)
    seconds = ((last or datetime.now(UTC)) - first).total_seconds()
    accepted = driven.get("last_accepted")
    result.figures = {
        "residents": n,
        "seconds": round(seconds, 2),
        "credits_per_s": round(grants.get("credited", 0) / seconds, 1) if seconds > 0 else None,
        "requests_seconds": round(accepted - driven["first_request"], 2) if accepted else None,
        "open_lifecycles_peak": open_peak,
        "request_timeouts": driven.get("timeouts", 0),
        # Issue 19, target 5: the pages read the database, final once a file's rows are applied;
        # the workflows hear of it by signal and finish after.
        "result_files": len(landed),
        # Wall time, by the files' landing in the inbox and the database's polls.
        "final_after_first_file_s": _seconds(min(f[0] for f in landed), all_final)
        if landed
        else None,
        "final_after_last_file_s": _seconds(max(f[0] for f in landed), all_final)
        if landed
        else None,
        "slowest_file_final_s": _slowest_file(landed, all_final),
        "longest_inbox_wait_s": max(_seconds(*f) for f in landed) if landed else None,
        "workflows_caught_up_after_final_s": caught_up_s,
        "stuck_flagged": stuck,
    }
    if "latency_ms" in driven:
        result.latency_ms = {"receipt_request": driven["latency_ms"]}
        result.drivers["receipts"] = driven["usage"]
    result.unit = ("receipt", grants.get("credited", 0))
    result.checks = {
        "granted_in_setup": granted,
        "grants": grants,
        "receipts": receipts,
        "ledger": ledger,
        "simulator": sims,
        "request_errors": driven["errors"],
        "error_samples": driven["error_samples"][:5],
    }
    result.expect(granted == n, f"set-up granted {granted} of {n}")
    result.expect(
        driven["errors"] == 0,
        f"{driven['errors']} receipt requests failed, first: {driven['error_samples'][:1]}",
    )
    result.expect(grants == {"credited": n}, f"grants by state {grants}")
    result.expect(receipts == {"credited": n}, f"receipts by state {receipts}")
    result.expect(stuck == 0, f"{stuck} receipts flagged stuck")
    result.expect(ledger["adds_up"], "the ledger does not add up")
    result.expect(ledger["balances"] == {"credited": n * POINTS}, f"ledger {ledger['balances']}")
    batch = sims[catalog.providers["batch"]]
    result.expect(batch["credited"] == n, f"the batch provider credited {batch['credited']}")
    result.expect(not batch["not_exactly_once"], "a credit not applied exactly once")
    return result


async def _files_landed(
    engine: AsyncEngine, provider_id: str, since: datetime, limit_s: float = 15.0
) -> list[tuple[datetime, datetime]]:
    """When each result file landed and when the hub took it in. A file's record is committed
    after its rows are applied, so the last one may lag the last grant made final: read until
    two reads a second apart agree (and found one), at most `limit_s`."""
    deadline = time.monotonic() + limit_s
    landed = await checks.result_files_landed(engine, provider_id, since)
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        again = await checks.result_files_landed(engine, provider_id, since)
        if again == landed and landed:
            break
        landed = again
    return landed


def _slowest_file(landed: list[tuple[datetime, datetime]], all_final: datetime) -> float | None:
    """Target 5 per file: the longest any file's rows took to be final on the pages after the
    file landed. The files read together are taken in at one time and recorded before the next
    are read, so a file is final by the next time a file is taken in, the last ones by
    `all_final`: an upper bound."""
    if not landed:
        return None
    taken = sorted({received for _, received in landed})

    def final_by(received: datetime) -> datetime:
        later = bisect.bisect_right(taken, received)
        return taken[later] if later < len(taken) else all_final

    return max(_seconds(arrived, final_by(received)) for arrived, received in landed)


def _seconds(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds(), 2)


async def _workflows_caught_up(stack: Stack, limit_s: float = 300.0) -> float | None:
    """Seconds until no application workflow runs any more, counted from now (every grant
    final): each ends once its grants are. None if the server cannot count them (visibility
    unavailable) or some still run after `limit_s`."""
    started = time.monotonic()
    query = "WorkflowType = 'Application' AND ExecutionStatus = 'Running'"
    while time.monotonic() - started < limit_s:
        running = await workflow_count(stack, query)
        if running is None:
            return None
        if running == 0:
            return round(time.monotonic() - started, 2)
        await asyncio.sleep(0.5)
    return None


class BatchJob:
    """The simulated batch provider's job, failing or running (`/admin/faults`)."""

    def __init__(self, sim_url: str, provider_id: str) -> None:
        self.url = f"{sim_url}/p/{provider_id}/admin/faults"

    async def hold(self) -> None:
        await self._error_rate(1.0)

    async def release(self) -> None:
        await self._error_rate(0.0)

    async def _error_rate(self, rate: float) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.patch(self.url, json={"error_rate": rate})
            response.raise_for_status()


async def _drive(
    engine: AsyncEngine,
    measure_id: str,
    n: int,
    driver: Driver,
    timeout_s: float,
    release: Callable[[], Awaitable[None]] | None = None,
) -> tuple[dict[str, Any] | None, int]:
    """Wait for the driver to end and every accepted request to be credited, once a second
    noting how many lifecycles are open (a receipt requested, not yet credited). With
    `release`, the batch job is held failing until every accepted request is open. Out of
    time, the driver is stopped and None comes back instead of its result."""
    deadline = time.monotonic() + timeout_s
    driven: dict[str, Any] | None = None
    open_peak = 0
    while True:
        driven = driven or driver.result()
        states = await checks.grant_states(engine, measure_id)
        credited = states.get("credited", 0)
        open_now = n - states.get("unreceived", 0) - credited
        open_peak = max(open_peak, open_now)
        if release is not None and driven is not None and open_now >= driven["accepted"]:
            await release()
            release = None
        if driven is not None and credited >= driven["accepted"]:
            return driven, open_peak
        if time.monotonic() > deadline:
            if driver.child.alive():
                driver.child.popen.kill()
            return driven, open_peak
        await asyncio.sleep(1.0)
