"""`bulk-grant`: an auto-grant (一律付与) measure with a 100,000-resident target list, published.

Untimed: the MyKey IDs are inserted, the measure is created as a draft and its target list
uploaded through the API (`PUT …/targets`, its time reported on its own). Timed: from the publish
request until every target holds an `unreceived` grant (watched every 0.25 s, so the figure is
at most that much late); then the ledger must add up to exactly the points granted and the
budget used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench import checks
from bench.cards import CardDeck
from bench.machine import ProcessWatch
from bench.onboarding import create_measure, measure_body, publish_measure, upload_targets
from bench.scenarios.common import VariantResult, database
from bench.seeding import insert_mykeys
from bench.stack import Stack

POINTS = 1000


@dataclass
class BulkGrantParams:
    residents: int = 100_000
    timeout_s: float = 3600

    def cards_needed(self) -> int:
        return 0


async def run(
    stack: Stack, params: BulkGrantParams, deck: CardDeck, watch: ProcessWatch
) -> VariantResult:
    assert stack.catalog is not None
    catalog = stack.catalog
    n = params.residents
    result = VariantResult(stack.variant, parameters=vars(params).copy())
    body = measure_body(
        list(catalog.services.values()), "一律付与測定", target_list_only=True, auto_grant=True
    )
    async with database(stack) as engine, stack.http(timeout=600) as http:
        mykey_ids = await insert_mykeys(engine, n)
        measure_id = await create_measure(http, catalog, body, publish=False)
        started = time.perf_counter()
        uploaded = await upload_targets(http, catalog, measure_id, mykey_ids)
        upload_s = time.perf_counter() - started

        async def all_granted() -> bool:
            states = await checks.grant_states(engine, measure_id)
            return states.get("unreceived", 0) >= n

        watch.mark_start()
        published = time.time()
        await publish_measure(http, catalog, measure_id)
        try:
            done = await checks.wait_until(
                all_granted,
                timeout_s=params.timeout_s,
                what=f"{n} grants",
                alive=stack.children.check_alive,
                poll_s=0.25,
            )
        except TimeoutError as late:  # the rate of what was granted, and the failure
            result.failures.append(str(late))
            done = time.time()
        watch.mark_end()
        grants = await checks.grant_states(engine, measure_id)
        ledger = await checks.ledger(engine, measure_id)
    seconds = done - published
    granted = grants.get("unreceived", 0)
    result.figures = {
        "residents": n,
        "seconds": round(seconds, 2),
        "grants_per_s": round(granted / seconds, 1) if seconds > 0 else None,
        "target_upload_s": round(upload_s, 2),
    }
    result.checks = {"grants": grants, "ledger": ledger, "upload": uploaded}
    result.unit = ("grant", granted)
    result.expect(uploaded.get("total") == n, f"target list holds {uploaded.get('total')}")
    result.expect(grants == {"unreceived": n}, f"grants by state {grants}")
    result.expect(ledger["adds_up"], "the ledger does not add up")
    result.expect(ledger["balances"] == {"unreceived": n * POINTS}, f"ledger {ledger['balances']}")
    result.expect(ledger["budget_used"] == n * POINTS, f"budget used {ledger['budget_used']}")
    result.expect(ledger["applications"] == n, f"{ledger['applications']} applications")
    return result
