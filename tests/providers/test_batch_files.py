"""The `batch_file` adapter end to end: request files at the cut-off, written atomically with a
manifest; result files ingested once by checksum; a file that disagrees with its manifest refused
whole; unknown receipt IDs reported."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.providers.batch_files import (
    MANIFEST_SUFFIX,
    Manifest,
    ResultRow,
    parse_requests,
    read_manifest,
    render_results,
    sha256_hex,
    write_file_pair,
)
from services import acknowledgements, batches, result_files
from storage.models import ReceiptEvent
from storage.models.audit import AuditEntry
from storage.models.providers import BatchResultFile, ProviderAcknowledgement
from tests.providers.support import (
    Provider,
    applied_counts,
    granted_resident,
    onboard_provider,
    receipt_state,
    receiving_resident,
    request_receipt,
    wait_for_grant,
)
from tests.support.stack import Hub


def dirs(provider: Provider) -> tuple[Path, Path]:
    return Path(provider.sim.config.outbox_dir), Path(provider.sim.config.inbox_dir)


async def wait_for(check: Any, what: str, seconds: float = 20) -> Any:
    for _ in range(int(seconds / 0.05)):
        found = check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def request_manifests(outbox: Path) -> list[Path]:
    places = [outbox, outbox / "taken"]
    found = [p for d in places if d.is_dir() for p in d.glob("credits-*.manifest.json")]
    return sorted(found, key=lambda p: p.name)


async def test_requests_leave_at_the_cut_off_and_every_receipt_is_credited_once(
    hub: Hub, session_tmp: Path
) -> None:
    provider = await onboard_provider(hub, "batch", tmp_dir=session_tmp, cutoff_s=4)
    outbox, inbox = dirs(provider)
    residents = [await granted_resident(hub, provider) for _ in range(4)]
    await asyncio.gather(*(request_receipt(r) for r in residents[:3]))
    await wait_for(lambda: request_manifests(outbox), "the file at the record cut-off")
    started = asyncio.get_running_loop().time()
    await request_receipt(residents[3])
    await wait_for(lambda: len(request_manifests(outbox)) == 2, "the file at the time cut-off")
    assert asyncio.get_running_loop().time() - started >= 3.5
    for receiving in residents:
        await wait_for_grant(receiving, "credited")

    ledger = await hub.sim_ledger(provider.provider_id)
    assert applied_counts(ledger) == {r.receipt_id: 1 for r in residents}
    manifests = request_manifests(outbox)
    sizes = []
    for path in manifests:
        manifest = read_manifest(path)
        data = (path.parent / manifest.file_name).read_bytes()
        rows = parse_requests(data)
        assert manifest.sha256 == sha256_hex(data)
        assert manifest.record_count == len(rows)
        assert manifest.total_points == sum(r.points for r in rows) == 1000 * len(rows)
        sizes.append(len(rows))
    assert sizes == [3, 1]  # three at the record cut-off, the last one by time
    # A result file's credits are applied before its report is written and the file moved out
    # of the inbox: once no result file is left there, every report is in place.
    await wait_for(lambda: not list(inbox.glob(f"*{MANIFEST_SUFFIX}")), "every result settled")
    leftovers = [p.name for p in outbox.rglob(".*")]
    assert leftovers == []  # nothing half-written: temporary names were renamed or removed

    listing = await hub.http.get(
        f"/v1/providers/{provider.provider_id}/batch-files", headers=provider.headers
    )
    assert listing.status_code == 200
    body = listing.json()
    assert sorted(f["record_count"] for f in body["request_files"]) == [1, 3]
    assert {f["status"] for f in body["result_files"]} == {"ingested"}
    assert sum(f["applied"] for f in body["result_files"]) == 4


async def quiet_batch_provider(hub: Hub, tmp: Path) -> Provider:
    """A batch provider whose simulated side does not answer: the test writes the results."""
    provider = await onboard_provider(hub, "batch", tmp_dir=tmp, cutoff_records=2, cutoff_s=120)
    provider.sim.config.mode = "sync"  # the simulator leaves the files alone
    return provider


async def requested(hub: Hub, provider: Provider, count: int) -> list[str]:
    outbox, _ = dirs(provider)
    residents = [await receiving_resident(hub, provider) for _ in range(count)]
    manifests = await wait_for(lambda: request_manifests(outbox), "a request file")
    rows = parse_requests((outbox / read_manifest(manifests[0]).file_name).read_bytes())
    assert sorted(r.receipt_id for r in rows) == sorted(str(r.receipt_id) for r in residents)
    return [r.receipt_id for r in rows]


def drop_results(inbox: Path, stem: str, rows: list[ResultRow], **wrong: Any) -> Manifest:
    inbox.mkdir(parents=True, exist_ok=True)
    data = render_results(rows)
    manifest = write_file_pair(inbox, stem, data, records=len(rows), points=0)
    if wrong:  # a manifest that disagrees with its file
        fields = json.loads((inbox / f"{stem}.manifest.json").read_text())
        fields.update(wrong)
        (inbox / f"{stem}.manifest.json").write_text(json.dumps(fields))
    return manifest


def report(outbox: Path, stem: str) -> dict[str, Any] | None:
    path = outbox / f"{stem}.report.json"
    return json.loads(path.read_text()) if path.exists() else None


async def acks_for(hub: Hub, receipt_ids: list[str]) -> list[ProviderAcknowledgement]:
    async with hub.ctx.sessions() as session:
        rows = await session.execute(
            select(ProviderAcknowledgement).where(
                ProviderAcknowledgement.receipt_id.in_(receipt_ids)
            )
        )
        return list(rows.scalars())


async def test_result_files_are_ingested_once_and_unknown_receipts_reported(
    hub: Hub, session_tmp: Path
) -> None:
    provider = await quiet_batch_provider(hub, session_tmp)
    outbox, inbox = dirs(provider)
    ids = await requested(hub, provider, 2)
    rows = [ResultRow(i, "credited", None, f"ref-{i}") for i in ids]
    rows.append(ResultRow("grant_unknown-r1", "credited", None, None))
    staging = inbox / "staging"  # landed two minutes before the hub looks: kept apart
    drop_results(staging, "results-one", rows)
    landed = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    os.utime(staging / f"results-one{MANIFEST_SUFFIX}", (landed.timestamp(), landed.timestamp()))
    for name in ("results-one.csv", f"results-one{MANIFEST_SUFFIX}"):  # the manifest last
        (staging / name).replace(inbox / name)
    first = await wait_for(lambda: report(outbox, "results-one"), "the first report")
    assert first["status"] == "ingested"
    assert first["applied"] == 2
    assert first["unknown_receipt_ids"] == ["grant_unknown-r1"]
    for receipt_id in ids:
        for _ in range(200):
            if await receipt_state(hub, receipt_id) == "credited":
                break
            await asyncio.sleep(0.05)
        assert await receipt_state(hub, receipt_id) == "credited"
    # The report is written first, then the file leaves the inbox.
    await wait_for(lambda: (inbox / "ingested" / "results-one.csv").exists(), "the file moved")

    drop_results(inbox, "results-one-again", rows)  # the very same file once more
    again = await wait_for(lambda: report(outbox, "results-one-again"), "the second report")
    assert again["status"] == "duplicate"
    async with hub.ctx.sessions() as session:
        known = await session.execute(
            select(BatchResultFile).where(BatchResultFile.provider_id == provider.provider_id)
        )
        [row] = list(known.scalars())
        # each credited receipt's audit entry and timeline line, written many to a statement
        audited = await session.execute(
            select(AuditEntry.object_id, AuditEntry.outcome, AuditEntry.actor).where(
                AuditEntry.action == "record_credit_outcome", AuditEntry.object_id.in_(ids)
            )
        )
        lines = await session.execute(
            select(ReceiptEvent.receipt_id, ReceiptEvent.actor).where(
                ReceiptEvent.receipt_id.in_(ids), ReceiptEvent.state == "credited"
            )
        )
    by_provider = f"provider:{provider.provider_id}"
    assert sorted(tuple(a) for a in audited) == [(i, "credited", by_provider) for i in sorted(ids)]
    assert sorted(tuple(t) for t in lines) == [(i, by_provider) for i in sorted(ids)]
    assert row.applied == 2 and row.unknown_receipt_ids == ["grant_unknown-r1"]
    assert row.landed_at == landed  # its manifest's time, not when the hub took it in
    assert row.received_at - landed >= timedelta(minutes=2)
    listing = await hub.http.get(
        f"/v1/providers/{provider.provider_id}/batch-files", headers=provider.headers
    )
    [listed] = listing.json()["result_files"]
    assert datetime.fromisoformat(listed["landed_at"]) == landed
    assert datetime.fromisoformat(listed["received_at"]) == row.received_at

    # A later file contradicting a credited receipt changes nothing and is reported.
    drop_results(inbox, "results-late", [ResultRow(ids[0], "rejected", "account_closed", None)])
    late = await wait_for(lambda: report(outbox, "results-late"), "the late report")
    assert late["conflicting_receipt_ids"] == [ids[0]]
    assert await receipt_state(hub, ids[0]) == "credited"


async def test_files_read_together_are_each_recorded_as_if_alone(
    hub: Hub, session_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files taken in together are recorded together (slices across files), yet each as if it
    came alone, in order: a receipt's first answer wins over a later file's contradiction, and a
    second copy of a file in the same read is a duplicate."""
    monkeypatch.setattr(result_files, "ACK_SLICE", 2)  # slices cross the files' boundaries
    provider = await quiet_batch_provider(hub, session_tmp)
    outbox, inbox = dirs(provider)
    ids = await requested(hub, provider, 2)
    staging = inbox / "staging"
    both = [ResultRow(i, "credited", None, f"ref-{i}") for i in ids]
    drop_results(staging, "results-a", both[:1])
    drop_results(staging, "results-b", [both[1], ResultRow(ids[0], "rejected", "closed", None)])
    drop_results(staging, "results-c", both[:1])  # the very bytes of results-a
    for pattern in ("*.csv", f"*{MANIFEST_SUFFIX}"):  # the manifests last, together
        for path in sorted(staging.glob(pattern)):
            path.replace(inbox / path.name)
    a, b, c = [
        await wait_for(lambda s=stem: report(outbox, s), f"the report of {stem}")
        for stem in ("results-a", "results-b", "results-c")
    ]
    assert (a["status"], a["applied"], a["conflicting_receipt_ids"]) == ("ingested", 1, [])
    assert (b["status"], b["applied"], b["conflicting_receipt_ids"]) == ("ingested", 1, [ids[0]])
    assert c["status"] == "duplicate"
    assert {await receipt_state(hub, i) for i in ids} == {"credited"}
    async with hub.ctx.sessions() as session:
        files = await session.execute(
            select(BatchResultFile).where(BatchResultFile.provider_id == provider.provider_id)
        )
        by_name = {f.file_name: f for f in files.scalars()}
    assert sorted(by_name) == ["results-a.csv", "results-b.csv"]
    assert (by_name["results-b.csv"].applied, by_name["results-b.csv"].conflicts) == (1, 1)


async def test_a_file_that_disagrees_with_its_manifest_is_refused_whole(
    hub: Hub, session_tmp: Path
) -> None:
    provider = await quiet_batch_provider(hub, session_tmp)
    outbox, inbox = dirs(provider)
    ids = await requested(hub, provider, 2)
    rows = [ResultRow(i, "credited", None, None) for i in ids]
    drop_results(inbox, "results-count", rows, record_count=3)
    drop_results(inbox, "results-digest", rows, sha256="0" * 64)
    for stem in ("results-count", "results-digest"):
        refused = await wait_for(lambda s=stem: report(outbox, s), f"the report of {stem}")
        assert refused["status"] == "refused", refused
        moved = inbox / "refused" / f"{stem}.csv"
        await wait_for(moved.exists, f"{stem} moved to refused/")
    assert await acks_for(hub, ids) == []  # not one row of a refused file was applied
    assert {await receipt_state(hub, i) for i in ids} == {"accepted"}

    drop_results(inbox, "results-good", rows)
    good = await wait_for(lambda: report(outbox, "results-good"), "the good report")
    assert good["status"] == "ingested" and good["applied"] == 2


async def test_a_round_records_every_waiting_file_before_it_tells_a_workflow(
    hub: Hub, session_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages read the database: a file's rows must not wait for the signals of the files
    before it (under load the workflow service takes signals far slower than the database
    records rows)."""
    provider = await quiet_batch_provider(hub, session_tmp)
    outbox, inbox = dirs(provider)
    ids = await requested(hub, provider, 2)
    told: list[tuple[list[str], dict[str, str]]] = []  # (receipts told, every state then)
    tell = acknowledgements.deliver

    async def noting(ctx: Any, answers: Any, *, provider_id: str | None = None) -> set[str]:
        if answers:
            states = {i: await receipt_state(hub, i) for i in ids}
            told.append(([item.receipt_id for _, item in answers], states))
        return await tell(ctx, answers, provider_id=provider_id)

    monkeypatch.setattr(acknowledgements, "deliver", noting)
    staging = inbox / "staging"  # two files land at once: one per receipt
    for n, receipt_id in enumerate(ids):
        drop_results(staging, f"results-{n}", [ResultRow(receipt_id, "credited", None, None)])
    for pattern in ("*.csv", f"*{MANIFEST_SUFFIX}"):  # a file counts once its manifest is in
        for path in sorted(staging.glob(pattern)):
            path.replace(inbox / path.name)
    for n in range(2):
        await wait_for(lambda n=n: report(outbox, f"results-{n}"), f"the report of file {n}")
    await wait_for(lambda: sum(len(r) for r, _ in told) >= 2, "both workflows told")
    first_told, states_then = told[0]
    assert states_then == {i: "credited" for i in ids}, (first_told, states_then)
    for _ in range(200):  # each answer marked told once its workflow took the signal
        acks = await acks_for(hub, ids)
        if len(acks) == 2 and all(a.signalled_at is not None for a in acks):
            break
        await asyncio.sleep(0.05)
    assert len(acks) == 2 and all(a.signalled_at is not None for a in acks)


async def test_answers_past_a_rounds_bound_are_told_next_round_with_their_outcome(
    hub: Hub, session_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round tells a bounded number of workflows; the rest of a file's answers go in the next
    round, at once, each with the outcome the database applied (the workflow then takes no step
    of its own), not after the wait meant for a webhook's answer still being told by its own
    request."""
    provider = await quiet_batch_provider(hub, session_tmp)
    outbox, inbox = dirs(provider)
    ids = await requested(hub, provider, 2)
    told: list[list[acknowledgements.AckItem]] = []
    tell = acknowledgements.deliver

    async def noting(ctx: Any, answers: Any, *, provider_id: str | None = None) -> set[str]:
        if answers:
            told.append([item for _, item in answers])
        return await tell(ctx, answers, provider_id=provider_id)

    monkeypatch.setattr(acknowledgements, "deliver", noting)
    monkeypatch.setattr(batches, "SIGNALS_PER_ROUND", 1)
    monkeypatch.setattr(batches, "REDELIVER_AFTER", timedelta(hours=1))
    drop_results(inbox, "results-both", [ResultRow(i, "credited", None, None) for i in ids])
    await wait_for(lambda: report(outbox, "results-both"), "the file's report")
    await wait_for(lambda: sum(len(t) for t in told) >= 2, "both workflows told")
    assert [len(t) for t in told[:2]] == [1, 1]  # one a round
    outcomes = {i.receipt_id: (i.receipt_state, i.grant_state) for t in told for i in t}
    assert outcomes == {i: ("credited", "credited") for i in ids}
    for _ in range(200):
        acks = await acks_for(hub, ids)
        if all(a.signalled_at is not None for a in acks):
            break
        await asyncio.sleep(0.05)
    assert len(acks) == 2 and all(a.signalled_at is not None for a in acks)
