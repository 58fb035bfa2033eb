"""Running one scenario: each variant on a stack of its own, one after the other (never both at
once: they would share two cores), then the limits, then the report."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import ceilings, report
from bench.cards import CardDeck, ensure_cards
from bench.databases import server_version
from bench.machine import ProcessWatch, code_identity, machine, versions
from bench.processes import CODE_DIR
from bench.scenarios import api_read, bulk_grant, lifecycle, open_loop, receipt_wave, rush
from bench.scenarios.common import VariantResult
from bench.stack import Stack, StackOptions, open_stack
from hub.devserver import temporal_cli

Runner = Callable[[Stack, Any, CardDeck, ProcessWatch], Awaitable[VariantResult]]
SCENARIOS: dict[str, Runner] = {
    "lifecycle": lifecycle.run,
    "bulk-grant": bulk_grant.run,
    "receipt-wave": receipt_wave.run,
    "api-read": api_read.run,
    "rush": rush.run,
    "open-loop": open_loop.run,
}
RESULTS_DIR = CODE_DIR / "bench" / "results"


@dataclass
class RunOptions:
    variants: list[str]
    stack: StackOptions
    limits: bool = True
    noop_workflows: int = 2000
    postgres_seconds: int = 10
    baseline_residents: int | None = None  # a smaller baseline run where it would take hours
    results_dir: Path | None = RESULTS_DIR
    extra: dict[str, Any] = field(default_factory=dict)


TYPED_COMMAND = "HUB_BENCH_COMMAND"  # set by `--committed` (`bench/commands.py`)


def typed_command(scenario: str) -> str:
    """The command as it was typed (a `--committed` run re-invokes itself with other arguments)."""
    typed = os.environ.get(TYPED_COMMAND)
    if typed:
        return typed
    if scenario in sys.argv:
        return " ".join(["mph", "bench", *sys.argv[sys.argv.index(scenario) :]])
    return f"mph bench {scenario}"


def _params_for(
    variant: str, params: Any, options: RunOptions, earlier: dict[str, VariantResult]
) -> Any:
    if isinstance(params, open_loop.OpenLoopParams) and params.rate is None and "hub" in earlier:
        # the baseline carries the hub's load: half the hub's closed-loop throughput
        rate = earlier["hub"].figures.get("rate")
        return replace(params, rate=rate) if rate else params
    if variant == "baseline" and options.baseline_residents is not None:
        return replace(params, residents=min(params.residents, options.baseline_residents))
    return params


async def run_variant(
    scenario: str, variant: str, params: Any, options: RunOptions, deck: CardDeck
) -> VariantResult:
    stack_options = replace(options.stack, variant=variant)
    try:
        async with open_stack(stack_options, deck.ca_pem) as stack:
            watch = ProcessWatch(stack.children.started, database_url=stack.database_url)
            watch.start()
            try:
                result = await SCENARIOS[scenario](stack, params, deck, watch)
            finally:
                sampled = watch.stop()
            result.merge_processes(sampled)
            result.figures["database_connections_peak"] = watch.peak_connections
            result.notes.extend(stack.notes)
            return result
    except Exception as error:  # one variant failing still reports the other
        failed = VariantResult(variant, parameters=vars(params).copy())
        failed.failures.append(f"{type(error).__name__}: {error}")
        return failed


async def run_scenario(
    scenario: str, params: Any, options: RunOptions, console: Console
) -> tuple[dict[str, Any], Path | None]:
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    started = time.time()
    document: dict[str, Any] = {
        "scenario": scenario,
        "run_id": run_id,
        "command": typed_command(scenario),
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
        "machine": machine(),
        "versions": versions(temporal_cli(), server_version(options.stack.database)),
        "code": code_identity(),
        "stack": {
            "database": "sqlite" if options.stack.database.startswith("sqlite") else "postgresql",
            "provider_latency_ms": options.stack.provider_latency_ms,
            "hub_workers": options.stack.hub_workers,
            "provider_workers": options.stack.provider_workers,
            "worker_args": list(options.stack.worker_args),
            "apis": options.stack.apis,
        },
        "parameters": {**vars(params), **options.extra},
    }
    with console.status("virtual cards (generated once, then cached)"):
        needed = max(params.cards_needed(), 1)
        deck = await asyncio.to_thread(ensure_cards, needed)
    variants: dict[str, VariantResult] = {}
    for variant in options.variants:
        variant_params = _params_for(variant, params, options, variants)
        with console.status(f"{scenario}: {variant} ({variant_params.residents:,} residents)"):
            variants[variant] = await run_variant(scenario, variant, variant_params, options, deck)
        state = "ok" if variants[variant].ok else f"FAILED: {variants[variant].failures}"
        console.print(f"{scenario} · {variant}: {variants[variant].figures} {state}")
    found_limits: dict[str, Any] = {}
    if options.limits:
        with console.status("limits: no-op workflows on a fresh dev server"):
            found_limits["noop_workflows"] = await ceilings.noop_workflows(options.noop_workflows)
        with console.status("limits: PostgreSQL single-row commits"):
            found_limits["postgres"] = await asyncio.to_thread(
                ceilings.postgres_commits, options.stack.database, options.postgres_seconds
            )
    report.ceiling_shares(scenario, variants, found_limits)
    found_ratios = report.ratios(scenario, variants)
    document.update(
        finished_at=datetime.now(UTC).isoformat(),
        load_average_after=[round(x, 2) for x in os.getloadavg()],
        variants={name: result.as_dict() for name, result in variants.items()},
        ratios=found_ratios,
        ratios_direct=report.ratios(scenario, variants, "direct"),
        limits=found_limits,
        targets=report.judge(scenario, variants, found_ratios),
        ok=all(result.ok for result in variants.values()),
    )
    path = report.write(document, options.results_dir) if options.results_dir else None
    return document, path
