"""The benchmark harness at a small size: every scenario, on the hub, the baseline and the direct
variant (the same lifecycle without Temporal: `services/orchestration.py`), each on real
processes, and each run judged by the harness's own checks (every lifecycle completes, the
grants, receipts and ledger add up, every credit reached its provider exactly once). Speed is not
judged here; `mph bench` measures it.

The database is PostgreSQL when HUB_TEST_DATABASE_URL is set, SQLite otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bench import ceilings
from bench.cards import CardDeck, ensure_cards
from bench.machine import ProcessWatch
from bench.scenarios import api_read, bulk_grant, lifecycle, open_loop, receipt_wave, rush
from bench.scenarios.common import VariantResult
from bench.stack import StackOptions, open_stack

pytestmark = pytest.mark.integration

LIFECYCLES = 6
READERS = 4
BULK = {"hub": 300, "baseline": 30, "direct": 30}
WAVE = {"hub": 40, "baseline": 20, "direct": 20}
CLOSED, OPEN = 3, 6  # open-loop: the closed-loop measurement, then lifecycles at half its rate
RUSH, BUDGET = 12, 3  # rush: residents, grants the budget covers


def database() -> str:
    return os.environ.get("HUB_TEST_DATABASE_URL") or "sqlite"


@pytest.fixture(scope="module")
def deck(tmp_path_factory: pytest.TempPathFactory) -> CardDeck:
    cards = LIFECYCLES + READERS + CLOSED + OPEN + RUSH
    return ensure_cards(cards, tmp_path_factory.mktemp("cards") / "cards.jsonl")


def scenarios(variant: str) -> list[tuple[str, Any, Any]]:
    return [
        (
            "lifecycle",
            lifecycle.run,
            lifecycle.LifecycleParams(residents=LIFECYCLES, concurrency=LIFECYCLES, timeout_s=120),
        ),
        ("bulk-grant", bulk_grant.run, bulk_grant.BulkGrantParams(BULK[variant], timeout_s=120)),
        (
            "receipt-wave",
            receipt_wave.run,
            receipt_wave.ReceiptWaveParams(
                WAVE[variant], concurrency=20, timeout_s=180, hold=variant == "hub"
            ),
        ),
        (
            "api-read",
            api_read.run,
            api_read.ApiReadParams(
                residents=READERS, rate=10, duration_s=2, card_offset=LIFECYCLES, timeout_s=120
            ),
        ),
        (
            "open-loop",
            open_loop.run,
            open_loop.OpenLoopParams(
                lifecycles=OPEN,
                closed_residents=CLOSED,
                closed_concurrency=CLOSED,
                timeout_s=180,
                card_offset=LIFECYCLES + READERS,
            ),
        ),
        (
            "rush",
            rush.run,
            rush.RushParams(
                residents=RUSH,
                budget_grants=BUDGET,
                window_s=2,
                timeout_s=120,
                card_offset=LIFECYCLES + READERS + CLOSED + OPEN,
            ),
        ),
    ]


@pytest.mark.parametrize("variant", ["hub", "baseline", "direct"])
async def test_every_scenario_completes_and_adds_up(variant: str, deck: CardDeck) -> None:
    results: dict[str, VariantResult] = {}
    options = StackOptions(
        variant=variant,
        database=database(),
        provider_latency_ms=5,
        connection_wait_s=5,
        # as deployed: the hub's queue in one worker, providers' calls and dispatchers in another
        provider_workers=1 if variant == "hub" else 0,
    )
    async with open_stack(options, deck.ca_pem) as stack:
        for name, run, params in scenarios(variant):
            watch = ProcessWatch(stack.children.started).start()
            try:
                results[name] = await run(stack, params, deck, watch)
            finally:
                results.get(name, VariantResult(variant)).merge_processes(watch.stop())
            assert results[name].ok, (name, results[name].failures)
        started = [w.id async for w in stack.client.list_workflows()]
    if variant == "direct":  # the same lifecycles, and not one workflow
        assert started == []
    else:
        assert any(w.startswith("application-") for w in started)

    life = results["lifecycle"]
    assert life.figures["completed"] == LIFECYCLES
    assert life.latency_ms["whole_lifecycle"]["count"] == LIFECYCLES
    assert life.latency_ms["login"]["count"] == LIFECYCLES
    assert life.latency_ms["challenge"]["count"] == 3 * LIFECYCLES  # login and two card proofs
    per_provider = [p["credited"] for p in life.checks["simulator"].values()]
    assert per_provider == [LIFECYCLES // 3] * 3  # sync, webhook and batch file in turn
    assert {p["role"] for p in life.processes.values()} >= {"temporal", "api", "worker", "driver"}
    workers = [p for p in life.processes.values() if p["role"] == "worker"]
    assert len(workers) == (2 if variant == "hub" else 1)
    assert all(p["peak_rss_mib"] > 0 for p in life.processes.values())
    by_role = life.figures["cpu_ms_per_unit"]  # CPU per completed lifecycle, by role
    assert life.figures["cpu_units"] == LIFECYCLES
    assert {"api", "worker", "temporal", "simulator", "driver", "api+worker"} <= set(by_role)
    assert by_role["api+worker"] == pytest.approx(by_role["api"] + by_role["worker"], abs=0.2)
    assert by_role["api"] > 0
    if variant != "direct":  # the direct variant's dev server only idles
        assert by_role["temporal"] > 0

    bulk = results["bulk-grant"]
    assert bulk.checks["ledger"]["granted_points"] == BULK[variant] * 1000

    wave = results["receipt-wave"]
    assert wave.checks["grants"] == {"credited": WAVE[variant]}
    assert wave.figures["stuck_flagged"] == 0
    assert wave.figures["result_files"] >= 1
    assert wave.figures["final_after_last_file_s"] is not None
    assert 0 <= wave.figures["longest_inbox_wait_s"] <= wave.figures["slowest_file_final_s"]
    if variant == "hub":  # held: every lifecycle was open at once, then all were credited
        assert wave.figures["open_lifecycles_peak"] == WAVE[variant]
        # …and once the last file's rows were final, every application workflow ended.
        assert wave.figures["workflows_caught_up_after_final_s"] is not None
    else:
        assert wave.figures["open_lifecycles_peak"] <= WAVE[variant]

    reads = results["api-read"]
    assert reads.figures["requests"] == 20
    assert reads.figures["errors"] == 0

    steady = results["open-loop"]
    assert steady.figures["completed"] == OPEN and steady.figures["errors"] == 0
    closed_rate = steady.figures["closed_loop_lifecycles_per_s"]
    assert steady.figures["rate"] == pytest.approx(closed_rate / 2, abs=0.01)  # both rounded
    assert steady.latency_ms["challenge"]["count"] == 3 * OPEN
    for step in ("login", "apply", "registration_beyond_provider", "receipt_request"):
        assert steady.latency_ms[step]["count"] == OPEN, step
    for mode in ("sync", "webhook", "batch"):  # every grant credited after its request
        credited = steady.latency_ms[f"credited_after_request_{mode}"]
        assert credited["count"] == OPEN // 3 and credited["p50"] > 0, mode
    assert steady.figures["cpu_units"] == OPEN

    opening = results["rush"]  # first come, first served: the budget and no more
    assert opening.figures["granted"] == BUDGET
    assert opening.figures["refused_budget_exhausted"] == RUSH - BUDGET
    assert opening.checks["grants"] == {"unreceived": BUDGET}
    assert opening.figures["server_errors"] == 0 and opening.figures["hung_requests"] == 0
    assert opening.latency_ms["refusal_ms"]["count"] == RUSH - BUDGET


async def test_the_limits_are_measured(tmp_path: Path) -> None:
    noop = await ceilings.noop_workflows(workflows=40, concurrency=10)
    assert noop["workflows"] == 40 and noop["workflows_per_s"] > 0
    postgres = ceilings.postgres_commits(database(), seconds=1, clients=(1,))
    if database() == "sqlite":
        assert "skipped" in postgres
    else:
        assert postgres["commits_per_s"]["1"] > 0
