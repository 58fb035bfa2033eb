"""`mph bench <scenario>`: run a benchmark scenario, print its tables, write its JSON results.

Each scenario runs the hub, the naive baseline and the direct floor (`--variant` for fewer), each
on a stack of its own, then measures the machine's limits. `--committed` runs the code of the last
commit (exported to a temporary directory), whatever the working tree holds.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer
from rich.console import Console

from bench.processes import CODE_DIR

app = typer.Typer(
    help="Benchmarks: the hub beside a naive baseline, the direct floor and the machine's limits."
)
console = Console()

Variant = Annotated[
    str,
    typer.Option(
        help="all (hub, baseline, direct) | both (hub, baseline) | hub | baseline | direct"
    ),
]
Database = Annotated[
    str,
    typer.Option(help="PostgreSQL server URL, or 'sqlite' (default: HUB_BENCH_DATABASE_URL)"),
]
LatencyMs = Annotated[int, typer.Option(help="latency of every simulated provider call")]
HubWorkers = Annotated[int, typer.Option(help="`mph worker` processes of the hub")]
ProviderWorkers = Annotated[
    int,
    typer.Option(
        help="`mph worker --queues provider-*` processes (their providers' calls and batch "
        "dispatchers), the hub's workers then serving only the hub queue, as deployed; "
        "0: every worker serves every queue"
    ),
]
WorkerArg = Annotated[list[str] | None, typer.Option(help="extra `mph worker` option (repeat)")]
Apis = Annotated[int, typer.Option(help="`mph api` processes")]
Limits = Annotated[bool, typer.Option(help="also measure no-op workflows and PostgreSQL commits")]
Keep = Annotated[bool, typer.Option(help="keep each run's directory (logs, databases)")]
ResultsDir = Annotated[str, typer.Option(help="where the JSON result goes ('' for nowhere)")]
Committed = Annotated[bool, typer.Option(help="run the last commit's code, exported")]
Timeout = Annotated[
    float, typer.Option(help="seconds before a run is stopped and reported unfinished")
]
BaselineResidents = Annotated[
    int | None, typer.Option(help="a smaller baseline run (its rate is compared)")
]


def _absolute_results_dir(args: list[str]) -> list[str]:
    """The exported code runs elsewhere: a relative results directory means the one here."""
    for index, arg in enumerate(args):
        if arg.startswith("--results-dir="):
            value = arg.partition("=")[2]
            if value:
                args[index] = f"--results-dir={Path(value).resolve()}"
            return args
        if arg == "--results-dir" and index + 1 < len(args):
            if args[index + 1]:
                args[index + 1] = str(Path(args[index + 1]).resolve())
            return args
    return [*args, "--results-dir", str(CODE_DIR / "bench" / "results")]


def _committed_rerun() -> None:
    """Export HEAD to a temporary directory and run the same command there."""
    commit = subprocess.run(
        ["git", "-C", str(CODE_DIR), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    directory = Path(tempfile.mkdtemp(prefix="mph-bench-code-"))
    try:
        archive = subprocess.run(
            ["git", "-C", str(CODE_DIR), "archive", "--format=tar", commit],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(directory, filter="data")
        args = sys.argv[sys.argv.index("bench") + 1 :]
        args = _absolute_results_dir([a for a in args if a != "--committed"])
        typed = " ".join(["mph", "bench", *sys.argv[sys.argv.index("bench") + 1 :]])
        env = {**os.environ, "HUB_BENCH_COMMIT": commit, "HUB_BENCH_COMMAND": typed}
        console.print(f"running commit {commit[:12]} from {directory}")
        done = subprocess.run([sys.executable, "-m", "cli", "bench", *args], cwd=directory, env=env)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    raise typer.Exit(done.returncode)


def _run(scenario: str, params: Any, common: Common) -> None:
    from bench.databases import default_server
    from bench.run import RunOptions, run_scenario
    from bench.stack import VARIANTS, StackOptions

    if common.committed:
        _committed_rerun()
    variant = common.variant
    chosen = {"all": list(VARIANTS), "both": ["hub", "baseline"]}.get(variant, [variant])
    if not set(chosen) <= set(VARIANTS):
        raise typer.BadParameter("--variant is all, both, hub, baseline or direct")
    options = RunOptions(
        variants=chosen,
        stack=StackOptions(
            database=common.database or default_server(),
            provider_latency_ms=common.latency_ms,
            hub_workers=common.hub_workers,
            provider_workers=common.provider_workers,
            worker_args=tuple(common.worker_arg or ()),
            apis=common.apis,
            keep=common.keep,
        ),
        limits=common.limits,
        baseline_residents=common.baseline_residents,
        results_dir=Path(common.results_dir) if common.results_dir else None,
    )
    from bench.report import print_report

    document, path = asyncio.run(run_scenario(scenario, params, options, console))
    print_report(document, console)
    if path is not None:
        console.print(f"results: {path}")
    if not document["ok"]:
        raise typer.Exit(1)


DEFAULT_RESULTS = str(CODE_DIR / "bench" / "results")


@dataclass
class Common:
    """The options every scenario command shares (`scenario_command` adds them)."""

    variant: str = "all"
    database: str = ""
    latency_ms: int = 50
    hub_workers: int = 1
    provider_workers: int = 0
    worker_arg: list[str] | None = None
    apis: int = 1
    limits: bool = True
    keep: bool = False
    results_dir: str = DEFAULT_RESULTS
    committed: bool = False
    baseline_residents: int | None = None


_SHARED: dict[str, Any] = {
    "variant": Variant,
    "database": Database,
    "latency_ms": LatencyMs,
    "hub_workers": HubWorkers,
    "provider_workers": ProviderWorkers,
    "worker_arg": WorkerArg,
    "apis": Apis,
    "limits": Limits,
    "keep": Keep,
    "results_dir": ResultsDir,
    "committed": Committed,
}


def scenario_command(
    name: str, *, baseline_residents: int | None = None
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a scenario command: its own options, then the shared ones (`Common`), which the
    function receives together as `common`; `baseline_residents` adds that option too."""

    def register(function: Callable[..., None]) -> Callable[..., None]:
        hints = get_type_hints(function, include_extras=True)
        own = [
            p.replace(annotation=hints[p.name])
            for p in inspect.signature(function).parameters.values()
            if p.name != "common"
        ]
        shared = dict(_SHARED)
        defaults = {f.name: f.default for f in fields(Common)}
        if baseline_residents is not None:
            shared["baseline_residents"] = BaselineResidents
            defaults["baseline_residents"] = baseline_residents
        keyword = inspect.Parameter.KEYWORD_ONLY
        added = [
            inspect.Parameter(n, keyword, default=defaults[n], annotation=t)
            for n, t in shared.items()
        ]

        def command(**values: Any) -> None:
            common = Common(**{n: values.pop(n) for n in shared})
            function(common=common, **values)

        command.__signature__ = inspect.Signature([*own, *added])  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in [*own, *added]}
        command.__name__, command.__doc__ = function.__name__, function.__doc__
        app.command(name)(command)
        return function

    return register


@scenario_command("lifecycle")
def lifecycle(
    common: Common,
    residents: Annotated[int, typer.Option(help="residents, each a whole lifecycle")] = 2000,
    concurrency: Annotated[int, typer.Option(help="residents in flight at once")] = 128,
    timeout: Timeout = 3600,
) -> None:
    """Residents from card login to credited points across three providers."""
    from bench.scenarios.lifecycle import LifecycleParams

    params = LifecycleParams(residents=residents, concurrency=concurrency, timeout_s=timeout)
    _run("lifecycle", params, common)


@scenario_command("bulk-grant", baseline_residents=5_000)
def bulk_grant(
    common: Common,
    residents: Annotated[int, typer.Option(help="residents on the target list")] = 100_000,
    timeout: Timeout = 3600,
) -> None:
    """An auto-grant measure granted to everyone on its target list."""
    from bench.scenarios.bulk_grant import BulkGrantParams

    _run("bulk-grant", BulkGrantParams(residents=residents, timeout_s=timeout), common)


@scenario_command("receipt-wave", baseline_residents=5_000)
def receipt_wave(
    common: Common,
    residents: Annotated[int, typer.Option(help="receipts through the batch provider")] = 100_000,
    concurrency: Annotated[int, typer.Option(help="receipt requests in flight")] = 200,
    hold: Annotated[
        bool,
        typer.Option(help="the batch provider waits until every receipt is requested: all open"),
    ] = False,
    timeout: Timeout = 7200,
) -> None:
    """Receipts requested in a wave, credited through batch files."""
    from bench.scenarios.receipt_wave import ReceiptWaveParams

    params = ReceiptWaveParams(
        residents=residents, concurrency=concurrency, timeout_s=timeout, hold=hold
    )
    _run("receipt-wave", params, common)


@scenario_command("api-read")
def api_read(
    common: Common,
    rate: Annotated[float, typer.Option(help="requests per second, open-loop")] = 200.0,
    duration: Annotated[float, typer.Option(help="seconds of reading")] = 30.0,
    residents: Annotated[int, typer.Option(help="residents reading")] = 200,
) -> None:
    """Resident reads at a fixed request rate: latency percentiles and errors."""
    from bench.scenarios.api_read import ApiReadParams

    _run("api-read", ApiReadParams(residents=residents, rate=rate, duration_s=duration), common)


@scenario_command("rush")
def rush(
    common: Common,
    residents: Annotated[int, typer.Option(help="signed-in residents who all apply")] = 20_000,
    budget_grants: Annotated[int, typer.Option(help="grants the measure's budget covers")] = 5_000,
    window: Annotated[float, typer.Option(help="seconds over which they apply (open loop)")] = 60.0,
    client_timeout: Annotated[
        float, typer.Option(help="seconds of silence that count as a hung request")
    ] = 30.0,
    timeout: Timeout = 3600,
) -> None:
    """The opening rush: residents apply at once to a measure whose budget covers some."""
    from bench.scenarios.rush import RushParams

    params = RushParams(
        residents=residents,
        budget_grants=budget_grants,
        window_s=window,
        client_timeout_s=client_timeout,
        timeout_s=timeout,
    )
    _run("rush", params, common)


@scenario_command("open-loop")
def open_loop(
    common: Common,
    lifecycles: Annotated[int, typer.Option(help="lifecycles started at the fixed rate")] = 1000,
    rate: Annotated[
        float | None,
        typer.Option(help="lifecycles/s (default: half the hub's closed-loop throughput)"),
    ] = None,
    closed_residents: Annotated[
        int, typer.Option(help="residents of the closed-loop measurement first")
    ] = 1000,
    closed_concurrency: Annotated[int, typer.Option(help="closed-loop residents in flight")] = 128,
    timeout: Timeout = 3600,
) -> None:
    """Lifecycles at a fixed rate below saturation: p50/p95/p99 per step, credited latency."""
    from bench.scenarios.open_loop import OpenLoopParams

    params = OpenLoopParams(
        lifecycles=lifecycles,
        rate=rate,
        closed_residents=closed_residents,
        closed_concurrency=closed_concurrency,
        timeout_s=timeout,
    )
    _run("open-loop", params, common)


@app.command("limits")
def limits_only(
    database: Database = "",
    workflows: Annotated[int, typer.Option(help="no-op workflows to complete")] = 2000,
    seconds: Annotated[
        int, typer.Option(help="seconds of PostgreSQL commits per client count")
    ] = 10,
) -> None:
    """Only the machine's limits: no-op workflow throughput and PostgreSQL commits."""
    from bench import ceilings
    from bench.databases import default_server

    noop = asyncio.run(ceilings.noop_workflows(workflows))
    postgres = ceilings.postgres_commits(database or default_server(), seconds)
    console.print({"noop_workflows": noop, "postgres": postgres})


@app.command("reconcile")
def reconcile(
    rows: Annotated[int, typer.Option(help="rows of the large statement")] = 1_000_000,
    small_rows: Annotated[int, typer.Option(help="rows of the small statement")] = 10_000,
    limit_s: Annotated[float, typer.Option(help="the large statement must take at most")] = 60.0,
    database: Database = "",
    keep: Keep = False,
    results_dir: ResultsDir = DEFAULT_RESULTS,
) -> None:
    """A provider's statement of a million rows through a running API: streamed in, checked,
    reconciled against a million credited receipts; time and the API's peak memory."""
    from rich.table import Table

    from bench.databases import default_server
    from bench.reconcile import ReconcileParams, run, save, workdir

    params = ReconcileParams(rows=rows, small_rows=small_rows, limit_s=limit_s)
    with workdir(keep) as work:
        result = run(database or default_server(), params, work)
    table = Table(title=f"reconcile ({result.database}; seeded in {result.seed_s} s)")
    for column in ("statement", "rows", "seconds", "rows/s", "API peak RSS MiB", "API CPU s"):
        table.add_column(column)
    for name, timed in (("small", result.small), ("large", result.large)):
        if timed is not None:
            table.add_row(
                name,
                f"{timed.rows:,}",
                str(timed.seconds),
                f"{timed.rows_per_s:,}",
                str(timed.api_peak_rss_mib),
                str(timed.api_cpu_s),
            )
    console.print(table)
    if result.large is not None:
        console.print({"answer": result.large.answer, "statement_mib": result.statement_mib})
    path = save(result, Path(results_dir) if results_dir else None)
    if path is not None:
        console.print(f"results: {path}")
    for failure in result.failures:
        console.print(f"[red]{failure}[/red]")
    if not result.ok:
        raise typer.Exit(1)
