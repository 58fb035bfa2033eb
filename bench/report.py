"""A run's report: the JSON document written to `bench/results/`, and the tables printed.

Ratios are hub / baseline of the same figure measured in the same run. The issue's targets are
judged on the hub's figures; a target the run cannot judge (another size than the target's) is
shown as not judged, never as met.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.scenarios.common import VariantResult

# Per scenario: (figure, label, higher is better)
HEADLINES: dict[str, list[tuple[str, str, bool]]] = {
    "lifecycle": [
        ("lifecycles_per_s", "completed lifecycles / s", True),
        ("seconds", "first request → last acknowledgement (s)", False),
        ("requests_seconds", "first → last resident request answered (s)", False),
    ],
    "bulk-grant": [
        ("grants_per_s", "grants / s", True),
        ("seconds", "publish → all grants unreceived (s)", False),
        ("target_upload_s", "target list upload (s, not in the figure above)", False),
    ],
    "receipt-wave": [
        ("credits_per_s", "credits / s", True),
        ("seconds", "first request → last credited (s)", False),
        ("requests_seconds", "first → last request accepted (s)", False),
        ("open_lifecycles_peak", "open lifecycles at most", False),
        ("request_timeouts", "requests not answered in time, looked up and asked again", False),
    ],
    "api-read": [
        ("achieved_rate", "requests / s achieved", True),
        ("p50_ms", "p50 (ms)", False),
        ("p95_ms", "p95 (ms)", False),
        ("p99_ms", "p99 (ms)", False),
        ("errors", "errors", False),
    ],
}
# scenario → (figure, comparison, bound, size the target is stated for)
TARGETS: dict[str, list[tuple[str, str, float, int | None]]] = {
    "lifecycle": [("lifecycles_per_s", ">=", 100.0, None)],
    "bulk-grant": [("seconds", "<=", 30.0, 100_000)],
    "receipt-wave": [("seconds", "<=", 120.0, 100_000)],
    "api-read": [("p99_ms", "<", 50.0, None), ("errors", "==", 0, None)],
}


def ratio(hub: Any, baseline: Any) -> float | None:
    if isinstance(hub, int | float) and isinstance(baseline, int | float) and baseline:
        return round(hub / baseline, 2)
    return None


def ratios(scenario: str, variants: dict[str, VariantResult]) -> dict[str, float | None]:
    if "hub" not in variants or "baseline" not in variants:
        return {}
    hub, baseline = variants["hub"].figures, variants["baseline"].figures
    same_size = hub.get("residents") == baseline.get("residents")
    return {
        name: ratio(hub.get(name), baseline.get(name))
        for name, _, _ in HEADLINES[scenario]
        if same_size or name.endswith("_per_s")  # totals of different sizes do not compare
    }


def _holds(value: float, comparison: str, bound: float) -> bool:
    return {
        ">=": value >= bound,
        "<=": value <= bound,
        "<": value < bound,
        "==": value == bound,
    }[comparison]


def judge(
    scenario: str, variants: dict[str, VariantResult], found_ratios: dict[str, float | None]
) -> list[dict[str, Any]]:
    """The issue's targets against this run's hub figures."""
    hub = variants.get("hub")
    if hub is None:
        return []
    judged: list[dict[str, Any]] = []
    for figure, comparison, bound, size in TARGETS[scenario]:
        value = hub.figures.get(figure)
        residents = hub.figures.get("residents")
        entry: dict[str, Any] = {"target": f"{figure} {comparison} {bound}", "measured": value}
        if size is not None and residents != size:
            entry["met"] = None
            entry["note"] = f"stated for {size:,} residents; this run had {residents:,}"
        elif isinstance(value, int | float):
            entry["met"] = _holds(value, comparison, bound)
        judged.append(entry)
    if scenario == "lifecycle":
        speedup = found_ratios.get("lifecycles_per_s")
        judged.append(
            {
                "target": "hub / baseline >= 5",
                "measured": speedup,
                "met": None if speedup is None else speedup >= 5,
            }
        )
    if scenario == "receipt-wave":
        workers = [p for p in hub.processes.values() if p["role"] == "worker"]
        peak = max((p["peak_rss_mib"] for p in workers), default=None)
        opened = hub.figures.get("open_lifecycles_peak")
        entry = {
            "target": "worker peak RSS < 1024 MiB at 100,000 open lifecycles",
            "measured": peak,
        }
        entry["met"] = None if opened != 100_000 or peak is None else peak < 1024
        entry["note"] = f"open lifecycles at most: {opened}"
        judged.append(entry)
    return judged


def write(document: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{document['scenario']}-{document['run_id']}.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _latency_cell(entry: dict[str, Any] | None) -> str:
    if not entry or not entry.get("count"):
        return "–"
    return f"{entry['p50']:,.0f} / {entry['p95']:,.0f} / {entry['p99']:,.0f}"


def print_report(document: dict[str, Any], console: Console) -> None:
    scenario = document["scenario"]
    variants: dict[str, dict[str, Any]] = document["variants"]
    names = list(variants)
    machine = document["machine"]
    console.print(
        f"[bold]{scenario}[/bold]  ·  {machine['cores']} cores ({machine['cpu']}), "
        f"{machine['memory_mib']:,} MiB, load {machine['load_average']}  ·  "
        f"commit {document['code']['commit'][:12]}"
        + ("" if not document["code"]["changed_files"] else " + uncommitted changes")
    )
    console.print(", ".join(f"{k} {v}" for k, v in document["versions"].items()))
    table = Table(title=f"{scenario}: hub beside the baseline")
    table.add_column("figure")
    for name in names:
        table.add_column(name, justify="right")
    if len(names) == 2:
        table.add_column("hub / baseline", justify="right")
    for figure, label, _ in HEADLINES[scenario]:
        row = [label, *(_cell(variants[n]["figures"].get(figure)) for n in names)]
        if len(names) == 2:
            row.append(_cell(document["ratios"].get(figure)))
        table.add_row(*row)
    calls = sorted({c for n in names for c in variants[n]["latency_ms"]})
    for call in calls:
        row = [
            f"{call} p50/p95/p99 ms",
            *(_latency_cell(variants[n]["latency_ms"].get(call)) for n in names),
        ]
        if len(names) == 2:
            row.append("")
        table.add_row(*row)
    row = [
        "database connections at most",
        *(_cell(variants[n]["figures"].get("database_connections_peak")) for n in names),
    ]
    table.add_row(*row, *([""] if len(names) == 2 else []))
    for name in names:
        for note in variants[name].get("notes", []):
            table.add_row(f"{name}: note", note)
        if not variants[name]["ok"]:
            table.add_row(
                f"[red]{name}: checks failed[/red]", "; ".join(variants[name]["failures"])
            )
    console.print(table)
    processes = Table(title="processes: peak resident set and CPU during the measured phase")
    processes.add_column("variant")
    processes.add_column("process")
    processes.add_column("peak RSS MiB", justify="right")
    processes.add_column("CPU s", justify="right")
    for name in names:
        for process, sample in variants[name]["processes"].items():
            processes.add_row(name, process, _cell(sample["peak_rss_mib"]), _cell(sample["cpu_s"]))
    console.print(processes)
    _print_limits(document, console)
    if document["targets"]:
        targets = Table(title="targets of the issue (hub)")
        for column in ("target", "measured", "met", "note"):
            targets.add_column(column)
        for entry in document["targets"]:
            met = {True: "[green]met[/green]", False: "[red]missed[/red]", None: "not judged"}[
                entry.get("met")
            ]
            targets.add_row(entry["target"], _cell(entry["measured"]), met, entry.get("note", ""))
        console.print(targets)


def _print_limits(document: dict[str, Any], console: Console) -> None:
    limits = document.get("limits") or {}
    if not limits:
        return
    table = Table(title="limits of this machine")
    table.add_column("limit")
    table.add_column("figure", justify="right")
    noop = limits.get("noop_workflows") or {}
    if "workflows_per_s" in noop:
        table.add_row(
            f"no-op workflows / s (dev server, {noop['concurrency']} in flight)",
            _cell(noop["workflows_per_s"]),
        )
    postgres = limits.get("postgres") or {}
    for clients, rate in (postgres.get("commits_per_s") or {}).items():
        table.add_row(f"PostgreSQL single-row commits / s, {clients} client(s)", _cell(rate))
    if "skipped" in postgres:
        table.add_row("PostgreSQL commits", postgres["skipped"])
    console.print(table)
