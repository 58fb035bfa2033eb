"""Batch file cases (SPEC §5, `batch_file` providers): the kit writes a request file and its
manifest where the hub would, then judges the provider's result file and manifest."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from adapters.providers.batch_files import (
    MANIFEST_SUFFIX,
    RESULT_HEADER,
    BatchFileError,
    RequestRow,
    check_against_manifest,
    parse_results,
    read_manifest,
    render_requests,
    write_file_pair,
)
from conformance.cases import Run
from conformance.report import Outcome

NAMES = ("batch.result_file", "batch.manifest", "batch.result_rows")


async def batch_cases(run: Run) -> None:
    o = run.options
    if o.adapter != "batch_file":
        for name in NAMES:
            run.report.add(name, Outcome.SKIP, "not a batch_file provider")
        return
    if o.outbox_dir is None or o.inbox_dir is None:
        for name in NAMES:
            run.report.add(
                name, Outcome.FAIL, "give --outbox and --inbox for a batch_file provider"
            )
        return
    rows = [
        RequestRow(run.receipt("batch-1"), o.account_id, 300, o.measure_id, o.municipality_code),
        RequestRow(run.receipt("batch-2"), o.account_id, 200, o.measure_id, o.municipality_code),
        RequestRow(
            run.receipt("batch-closed"), o.closed_account_id, 100, o.measure_id, o.municipality_code
        ),
    ]
    before = set(o.inbox_dir.glob(f"*{MANIFEST_SUFFIX}")) if o.inbox_dir.is_dir() else set()
    o.outbox_dir.mkdir(parents=True, exist_ok=True)
    write_file_pair(
        o.outbox_dir,
        f"credits-conf-{o.run_id}",
        render_requests(rows),
        records=len(rows),
        points=sum(r.points for r in rows),
    )
    found = await _result_manifest(o.inbox_dir, before, {r.receipt_id for r in rows}, o.timeout_s)
    if found is None:
        for name in NAMES:
            run.report.add(
                name,
                Outcome.FAIL,
                f"no result file naming this run's receipts in {o.inbox_dir} "
                f"within {o.timeout_s:.0f} s",
            )
        return
    manifest_path, data = found
    run.report.add("batch.result_file", Outcome.PASS, manifest_path.name)
    problems: list[str] = []
    try:
        manifest = read_manifest(manifest_path)
        results = parse_results(data) if data.startswith(",".join(RESULT_HEADER).encode()) else []
        credited = {r.receipt_id for r in results if r.status == "credited"}
        points = sum(r.points for r in rows if r.receipt_id in credited) if results else None
        check_against_manifest(manifest, data, len(results) if results else _lines(data), points)
    except BatchFileError as exc:
        problems.append(str(exc))
    run.report.check("batch.manifest", problems)
    problems = []
    try:
        results = parse_results(data)
    except BatchFileError as exc:
        run.report.add("batch.result_rows", Outcome.FAIL, str(exc))
        return
    answered = {r.receipt_id: r for r in results}
    missing = [r.receipt_id for r in rows if r.receipt_id not in answered]
    if missing:
        problems.append(f"no result for {missing}")
    closed = answered.get(run.receipt("batch-closed"))
    if closed is not None and closed.status != "rejected":
        problems.append(f"the closed account's credit is {closed.status!r}; expected rejected")
    unreferenced = [
        r.receipt_id for r in results if r.status == "credited" and not r.provider_reference
    ]
    if unreferenced:
        problems.append(f"credited without provider_reference: {unreferenced}")
    run.report.check("batch.result_rows", problems)


def _lines(data: bytes) -> int:
    return max(len(data.decode("utf-8", "replace").splitlines()) - 1, 0)


async def _result_manifest(
    inbox: Path, before: set[Path], receipt_ids: set[str], timeout_s: float
) -> tuple[Path, bytes] | None:
    """A new manifest in the inbox whose file names one of `receipt_ids`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        for path in sorted(inbox.glob(f"*{MANIFEST_SUFFIX}")) if inbox.is_dir() else []:
            if path in before:
                continue
            try:
                name = json.loads(path.read_bytes()).get("file_name", "")
                data = (inbox / name).read_bytes()
            except (OSError, ValueError, AttributeError, TypeError):
                continue
            if any(receipt_id.encode() in data for receipt_id in receipt_ids):
                return path, data
        await asyncio.sleep(0.2)
    return None
