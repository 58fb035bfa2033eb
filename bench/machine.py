"""What a figure was measured on: the machine, the versions, the code, and each process's memory
and CPU while it ran. Read from /proc, so nothing extra is installed and nothing is estimated."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.processes import CODE_DIR, Child

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def _meminfo_mib(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return 0


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_mib": _meminfo_mib("MemTotal"),
        "memory_available_mib": _meminfo_mib("MemAvailable"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "kernel": platform.release(),
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def _command_output(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "-"
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "-"


def versions(temporal_cli: str, postgres: str | None) -> dict[str, str]:
    found = {
        "python": platform.python_version(),
        "temporalio": _version("temporalio"),
        "temporal_cli": _command_output([temporal_cli, "--version"]),
        "sqlalchemy": _version("sqlalchemy"),
        "psycopg": _version("psycopg"),
        "fastapi": _version("fastapi"),
        "uvicorn": _version("uvicorn"),
        "httpx": _version("httpx"),
    }
    if postgres:
        found["postgresql"] = postgres
    return found


def code_identity() -> dict[str, Any]:
    """Which code ran: the commit, and any tracked file that differs from it."""
    commit = os.environ.get("HUB_BENCH_COMMIT", "")
    if commit:  # an exported commit (`--committed`): no working tree changes by construction
        return {"commit": commit, "exported": True, "changed_files": []}
    head = _command_output(["git", "-C", str(CODE_DIR), "rev-parse", "HEAD"])
    try:
        status = subprocess.run(
            ["git", "-C", str(CODE_DIR), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        status = ""
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": head, "exported": False, "changed_files": changed}


def _proc_numbers(pid: int) -> tuple[int, float] | None:
    """(resident set in bytes, CPU seconds so far) of a live process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        statm = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    return int(statm[1]) * PAGE, cpu


@dataclass
class ProcessSample:
    name: str
    role: str
    peak_rss_mib: float = 0.0
    last_rss_mib: float = 0.0
    cpu_start_s: float | None = None
    cpu_end_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        cpu = None
        if self.cpu_start_s is not None and self.cpu_end_s is not None:
            cpu = round(self.cpu_end_s - self.cpu_start_s, 2)
        return {
            "role": self.role,
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "last_rss_mib": round(self.last_rss_mib, 1),
            "cpu_s": cpu,
        }


@dataclass
class ProcessWatch:
    """Samples every process of a stack once a second: peak and last RSS, and the CPU seconds
    each spent between `mark_start` and `mark_end` (the measured phase)."""

    children: list[Child]
    interval_s: float = 1.0
    database_url: str | None = None  # PostgreSQL: also count its connections
    samples: dict[str, ProcessSample] = field(default_factory=dict)
    peak_connections: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ProcessWatch:
        self._thread = threading.Thread(target=self._loop, name="process-watch", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        counter = None
        if self.database_url and not self.database_url.startswith("sqlite"):
            from bench.databases import ConnectionCounter

            counter = ConnectionCounter(self.database_url)
            self.peak_connections = 0
        try:
            while not self._stop.is_set():
                self.sample()
                if counter is not None:
                    self.peak_connections = max(self.peak_connections or 0, counter.count())
                self._stop.wait(self.interval_s)
        finally:
            if counter is not None:
                counter.close()

    def sample(self) -> None:
        for child in list(self.children):
            numbers = _proc_numbers(child.pid)
            if numbers is None:
                continue
            rss = numbers[0] / 2**20
            entry = self.samples.setdefault(child.name, ProcessSample(child.name, child.role))
            entry.peak_rss_mib = max(entry.peak_rss_mib, rss)
            entry.last_rss_mib = rss

    def _cpu(self, attribute: str) -> None:
        for child in list(self.children):
            numbers = _proc_numbers(child.pid)
            entry = self.samples.setdefault(child.name, ProcessSample(child.name, child.role))
            if numbers is not None:
                setattr(entry, attribute, numbers[1])

    def mark_start(self) -> None:
        self._cpu("cpu_start_s")

    def mark_end(self) -> None:
        self._cpu("cpu_end_s")
        self.sample()

    def stop(self) -> dict[str, dict[str, Any]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return {name: s.as_dict() for name, s in self.samples.items()}


def now_s() -> float:
    return time.time()


def usage_since(before: dict[str, float]) -> dict[str, float]:
    """`own_usage` of the work since `before` (a driver's start-up and card loading left out);
    the peak resident set is the process's own."""
    now = own_usage()
    return {"cpu_s": round(now["cpu_s"] - before["cpu_s"], 2), "peak_rss_mib": now["peak_rss_mib"]}


def own_usage() -> dict[str, float]:
    """This process's CPU seconds and peak resident set, for a driver to report as it ends
    (a process that has exited can no longer be sampled from outside)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }
