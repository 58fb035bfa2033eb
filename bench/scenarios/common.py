"""What every scenario shares: its result shape, and running a driver process to its end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bench.processes import Child
from bench.stack import Stack
from storage.database import create_engine


@dataclass
class VariantResult:
    """One scenario on one variant: headline figures, latencies, and the checks that say the
    figures are worth reading (a run whose checks fail is reported, never silently used)."""

    variant: str
    figures: dict[str, Any] = field(default_factory=dict)
    latency_ms: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    drivers: dict[str, dict[str, Any]] = field(default_factory=dict)  # their own usage reports
    parameters: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what a reader should know about the run
    # what the CPU of the measured phase is divided by: (unit, how many were completed)
    unit: tuple[str, int] | None = None

    @property
    def ok(self) -> bool:
        return not self.failures

    def expect(self, condition: bool, failure: str) -> None:
        if not condition:
            self.failures.append(failure)

    def merge_processes(self, sampled: dict[str, dict[str, Any]]) -> None:
        """Sampled processes, with each driver's own report of its CPU and peak memory."""
        self.processes = sampled
        for name, usage in self.drivers.items():
            entry = self.processes.setdefault(name, {"role": "driver", "last_rss_mib": 0.0})
            entry["cpu_s"] = usage["cpu_s"]
            entry["peak_rss_mib"] = max(entry.get("peak_rss_mib", 0.0), usage["peak_rss_mib"])
        self.figures.update(cpu_per_unit(self.processes, self.unit))

    def as_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "ok": self.ok,
            "figures": self.figures,
            "latency_ms": self.latency_ms,
            "checks": self.checks,
            "failures": self.failures,
            "processes": self.processes,
            "parameters": self.parameters,
            "notes": self.notes,
        }


ROLES = ("api", "worker", "temporal", "simulator", "driver")


def cpu_per_unit(
    processes: dict[str, dict[str, Any]], unit: tuple[str, int] | None
) -> dict[str, Any]:
    """CPU milliseconds per completed unit (a lifecycle, a receipt …) of the measured phase: each
    process's, written into its entry, and the sums by role (the dev server's role is
    `temporal`), with API and workers together as the issue's target counts them."""
    if unit is None or unit[1] <= 0:
        return {}
    name, count = unit
    by_role: dict[str, float] = {}
    for entry in processes.values():
        cpu = entry.get("cpu_s")
        if cpu is None:
            continue
        entry["cpu_ms_per_unit"] = round(cpu * 1000 / count, 1)
        role = entry.get("role", "")
        by_role[role] = by_role.get(role, 0.0) + cpu * 1000 / count
    ordered = {r: round(by_role[r], 1) for r in (*ROLES, *sorted(by_role)) if r in by_role}
    if "api" in by_role or "worker" in by_role:
        ordered["api+worker"] = round(by_role.get("api", 0.0) + by_role.get("worker", 0.0), 1)
    return {"cpu_unit": name, "cpu_units": count, "cpu_ms_per_unit": ordered}


@contextlib.asynccontextmanager
async def database(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(stack.database_url, pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


@dataclass
class Driver:
    """A driver process under way; `result()` is its parsed result file once it has ended."""

    name: str
    stack: Stack
    child: Child
    out_file: Path
    deadline: float

    def result(self) -> dict[str, Any] | None:
        self.stack.children.check_alive()
        if self.child.alive():
            if time.monotonic() > self.deadline:
                self.child.popen.kill()
                raise TimeoutError(f"driver {self.name} did not finish in time")
            return None
        if self.child.popen.returncode != 0 or not self.out_file.exists():
            raise RuntimeError(
                f"driver {self.name} failed (code {self.child.popen.returncode}):\n"
                f"{self.child.tail(40)}"
            )
        result: dict[str, Any] = json.loads(self.out_file.read_text())
        return result


async def workflow_count(stack: Stack, query: str | None = None) -> int | None:
    """Workflow executions the dev server knows of (open and closed, or those `query` picks);
    None if it cannot say (visibility not available: reported as not measured)."""
    try:
        counted = await stack.client.count_workflows(query)
    except Exception:
        return None
    return int(counted.count)


def start_driver(
    stack: Stack, name: str, module: str, plan: dict[str, Any], timeout_s: float
) -> Driver:
    _, out_file = stack.driver(name, module, plan)
    child = stack.children.started[-1]
    return Driver(name, stack, child, out_file, time.monotonic() + timeout_s)


async def run_driver(
    stack: Stack, name: str, module: str, plan: dict[str, Any], timeout_s: float
) -> dict[str, Any]:
    """Start a driver process and wait for it to finish; its result file, parsed."""
    driver = start_driver(stack, name, module, plan, timeout_s)
    while True:
        result = driver.result()
        if result is not None:
            return result
        await asyncio.sleep(0.25)
