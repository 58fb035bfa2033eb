"""`mph bench reconcile`: a provider's statement of a million rows, sent to a running `mph api`
over HTTP (streamed, chunked), ingested and reconciled against a million credited receipts.

Untimed: a fresh PostgreSQL database is seeded by COPY with the receipts of two providers on one
business day (one large, one small), and the two statements are written to files: the large one
leaves out, changes and adds a few rows, so the run finds breaks of three kinds. Timed: each PUT,
from the first byte sent to the answer. The API process's peak resident memory (`VmHWM`) is read
after the small statement and after the large one: streaming means the second is about the
first. The run fails when the answer's figures are not the expected ones or the large statement
takes longer than `--limit-s`.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.databases import admin_conninfo, fresh_database, server_version
from bench.machine import code_identity, machine
from bench.processes import Children, free_port, python_env, wait_http
from domain.business_days import day_window, previous_business_day

OPERATOR_KEY = "hubk_bench_reconcile_operator_key"
CHUNK = 1 << 20


@dataclass
class ReconcileParams:
    rows: int = 1_000_000
    small_rows: int = 10_000
    breaks_each: int = 100  # rows left out, changed and added in the large statement
    limit_s: float = 60.0


@dataclass
class Timed:
    rows: int
    seconds: float
    rows_per_s: float
    api_peak_rss_mib: float
    api_cpu_s: float
    answer: dict[str, Any]


@dataclass
class ReconcileResult:
    ok: bool
    failures: list[str] = field(default_factory=list)
    small: Timed | None = None
    large: Timed | None = None
    seed_s: float = 0.0
    statement_mib: float = 0.0
    database: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)


def _copy(conn: psycopg.Connection[Any], table: str, columns: str, rows: Iterator[str]) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for n, row in enumerate(rows, 1):
            buffer.write(row)
            if n % 50_000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def seed(url: str, providers: dict[str, int], day: date) -> None:
    """A municipality, a measure, one resident with one application, and for each provider
    `count` credited receipts (each its own grant) finished during `day`."""
    lo, hi = day_window(day)
    span = (hi - lo).total_seconds() - 1
    now = datetime.now(UTC).isoformat()
    with psycopg.connect(admin_conninfo(url), autocommit=False) as conn:
        run = conn.execute
        run(
            "INSERT INTO municipalities (code, name, created_at) VALUES ('131016', '千代田区', %s)",
            (now,),
        )
        run(
            "INSERT INTO measures (id, municipality_code, title, description, kind, "
            "points_per_grant, per_person_cap, budget_points, budget_used, opens_at, closes_at, "
            "receipt_deadline, target_list_only, auto_grant, review_required, late_report_days, "
            "state, created_at, published_at, closed_at, yen_per_point) VALUES ('msr_bench', "
            "'131016', '照合ベンチ', '', 'event', 1000, 1000000000, NULL, 0, %s, %s, %s, false, "
            "false, false, 0, 'published', %s, %s, NULL, 1)",
            (now, now, (datetime.now(UTC) + timedelta(days=90)).isoformat(), now, now),
        )
        run(
            "INSERT INTO mykeys (mykey_id, status, issued_at) VALUES ('BENCH001', 'active', %s)",
            (now,),
        )
        run(
            "INSERT INTO applications (id, measure_id, mykey_id, state, workflow_id, "
            "points_granted, created_at, decided_at) VALUES ('app_bench', 'msr_bench', "
            "'BENCH001', 'registered', 'application-bench', 0, %s, %s)",
            (now, now),
        )
        for provider_id, count in providers.items():
            run(
                "INSERT INTO payment_providers (id, name, adapter, config, secrets, created_at) "
                "VALUES (%s, %s, 'hub_rest', %s, '{}', %s)",
                (
                    provider_id,
                    provider_id,
                    json.dumps({"base_url": "http://127.0.0.1:9", "ack_mode": "pull"}),
                    now,
                ),
            )
            run(
                "INSERT INTO payment_services (id, name, provider_id, created_at) "
                "VALUES (%s, %s, %s, %s)",
                (f"{provider_id}-pay", provider_id, provider_id, now),
            )
            run(
                "INSERT INTO payment_service_registrations (id, mykey_id, payment_service_id, "
                "account_id, status, created_at) VALUES (%s, 'BENCH001', %s, %s, 'active', %s)",
                (f"reg-{provider_id}", f"{provider_id}-pay", f"acct-{provider_id}", now),
            )
            _copy(
                conn,
                "grants",
                "id, application_id, measure_id, mykey_id, event_id, points, state, "
                "receipt_count, current_receipt_id, created_at, updated_at",
                (
                    f"{provider_id}-g{n}\tapp_bench\tmsr_bench\tBENCH001\t\\N\t{1000 + n % 7}\t"
                    f"credited\t1\t{provider_id}-g{n}-r1\t{now}\t{now}\n"
                    for n in range(count)
                ),
            )
            _copy(
                conn,
                "receipts",
                "id, grant_id, measure_id, municipality_code, mykey_id, registration_id, "
                "payment_service_id, provider_id, account_id, points, state, attempts, "
                "provider_reference, stuck, workflow_id, created_at, updated_at, finished_at",
                (
                    f"{provider_id}-g{n}-r1\t{provider_id}-g{n}\tmsr_bench\t131016\tBENCH001\t"
                    f"reg-{provider_id}\t{provider_id}-pay\t{provider_id}\tacct-{provider_id}\t"
                    f"{1000 + n % 7}\tcredited\t1\tREF{n:09d}\tfalse\tapplication-bench\t{now}\t"
                    f"{now}\t{(lo + timedelta(seconds=span * n / count)).isoformat()}\n"
                    for n in range(count)
                ),
            )
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")


def write_statement(path: Path, provider_id: str, count: int, day: date, breaks: int) -> int:
    """The provider's statement of its `count` receipts: the first `breaks` left out, the next
    `breaks` with other points, and `breaks` receipts the hub never made. Returns total points."""
    lo, _ = day_window(day)
    total = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("receipt_id,points,credited_at,provider_reference\n")
        for n in range(breaks, count):
            points = 1000 + n % 7 + (5 if n < 2 * breaks else 0)
            at = (lo + timedelta(seconds=n % 80_000)).isoformat()
            out.write(f"{provider_id}-g{n}-r1,{points},{at},REF{n:09d}\n")
            total += points
        for n in range(breaks):
            out.write(f"{provider_id}-unknown{n}-r1,500,{lo.isoformat()},X{n}\n")
            total += 500
    return total


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _proc(pid: int) -> tuple[float, float]:
    """(peak RSS in MiB, CPU seconds) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return peak / 1024, ticks / 100


def send(
    api: str, key: str, provider_id: str, day: date, path: Path, rows: int, points: int, pid: int
) -> Timed:
    cpu_before = _proc(pid)[1]
    started = time.perf_counter()
    response = httpx.put(
        f"{api}/v1/providers/{provider_id}/statements/{day.isoformat()}",
        content=_chunks(path),
        headers={
            "authorization": f"Bearer {key}",
            "content-type": "text/csv",
            "Statement-Records": str(rows),
            "Statement-Total-Points": str(points),
        },
        timeout=900,
    )
    seconds = time.perf_counter() - started
    peak, cpu_after = _proc(pid)
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code} {response.text[:500]}")
    return Timed(
        rows=rows,
        seconds=round(seconds, 2),
        rows_per_s=round(rows / seconds),
        api_peak_rss_mib=round(peak, 1),
        api_cpu_s=round(cpu_after - cpu_before, 2),
        answer=response.json(),
    )


def run(server: str, params: ReconcileParams, work: Path) -> ReconcileResult:
    result = ReconcileResult(ok=False, database=server_version(server) or server)
    result.machine, result.code = machine(), code_identity()
    day = previous_business_day(datetime.now(UTC).date())
    children = Children(work)
    with fresh_database(server, work) as url:
        started = time.perf_counter()
        seed(url, {"bench-large": params.rows, "bench-small": params.small_rows}, day)
        result.seed_s = round(time.perf_counter() - started, 1)
        small_path, large_path = work / "small.csv", work / "large.csv"
        small_points = write_statement(small_path, "bench-small", params.small_rows, day, 0)
        b = params.breaks_each
        large_points = write_statement(large_path, "bench-large", params.rows, day, b)
        result.statement_mib = round(large_path.stat().st_size / 2**20, 1)
        port = free_port()
        env = python_env(
            {
                "HUB_DATABASE_URL": url,
                "HUB_TEMPORAL_ADDRESS": "127.0.0.1:1",  # no workflow is needed to take statements
                "HUB_OPERATOR_BOOTSTRAP_KEY": OPERATOR_KEY,
                "HUB_ENV": "test",
                "HUB_LOG_LEVEL": "WARNING",
            }
        )
        api = f"http://127.0.0.1:{port}"
        child = children.python("api", ["cli", "api", "--port", str(port)], env, role="api")
        try:
            wait_http(f"{api}/healthz", "the API", 120, children)
            keys = {}
            for provider_id in ("bench-large", "bench-small"):
                made = httpx.post(
                    f"{api}/v1/operator/api-keys",
                    json={"role": "provider", "scope": provider_id},
                    headers={"authorization": f"Bearer {OPERATOR_KEY}"},
                    timeout=30,
                )
                made.raise_for_status()
                keys[provider_id] = made.json()["key"]
            result.small = send(
                api,
                keys["bench-small"],
                "bench-small",
                day,
                small_path,
                params.small_rows,
                small_points,
                child.pid,
            )
            result.large = send(
                api,
                keys["bench-large"],
                "bench-large",
                day,
                large_path,
                params.rows,
                large_points,
                child.pid,
            )
        finally:
            children.stop()
    expect(result, params)
    return result


def expect(result: ReconcileResult, params: ReconcileParams) -> None:
    b = params.breaks_each
    assert result.large is not None and result.small is not None
    small = result.small.answer
    large = result.large.answer
    if (small["matched"], small["breaks"]) != (params.small_rows, 0):
        result.failures.append(f"small statement: {small}")
    wanted = (params.rows, params.rows - 2 * b, 3 * b)
    found = (large["records"], large["matched"], large["breaks"])
    if found != wanted:
        result.failures.append(f"large statement: records, matched, breaks {found}, not {wanted}")
    if result.large.seconds > params.limit_s:
        result.failures.append(f"{result.large.seconds} s is over the {params.limit_s} s limit")
    result.ok = not result.failures


def save(result: ReconcileResult, directory: Path | None) -> Path | None:
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"reconcile-{stamp}.json"
    path.write_text(json.dumps(asdict(result), indent=2, ensure_ascii=False, default=str))
    return path


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="mph-bench-reconcile-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
