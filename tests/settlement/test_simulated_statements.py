"""The provider simulator writes statements from its own ledger, with knobs for every kind of
disagreement, and sends them the way each provider style would: through the provider API, or
as a file with a manifest through a batch provider's channel."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from domain.business_days import previous_business_day
from tests.providers.support import onboard_provider, receiving_resident, wait_for_grant
from tests.settlement.support import breaks_of, credited, open_kinds, sync_provider, today
from tests.support.stack import Hub


async def sim(hub: Hub, method: str, path: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.sim_url, timeout=60) as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def test_knobs_make_every_kind_of_break_and_a_midnight_match(hub: Hub) -> None:
    provider = await sync_provider(hub)
    config = hub.sim_configs[provider.provider_id]
    config.hub_api_url, config.hub_api_key = hub.api_url, str(provider.api_key)
    dropped, changed, shifted, kept = await credited(hub, provider, 4)
    knobs = {
        "drop": [dropped.receipt_id],
        "change": {changed.receipt_id: 1200},
        "shift": {shifted.receipt_id: "previous"},
        "add": [{"receipt_id": "app_ghost-g1-r1", "points": 300}],
    }
    pid = provider.provider_id
    assert (await sim(hub, "PUT", f"/p/{pid}/admin/statement-knobs", json=knobs)).status_code == 200
    shown = await sim(hub, "GET", f"/p/{pid}/admin/statements/{today()}")
    assert shown.headers["statement-records"] == "3"  # changed, kept and the ghost
    assert shown.headers["statement-total-points"] == str(1200 + 1000 + 300)

    sent = await sim(hub, "POST", f"/p/{pid}/admin/statements/{today()}/send")
    assert sent.status_code == 200, sent.text
    assert sent.json()["hub"]["breaks"] == 4  # the shifted credit is not listed yet
    before = previous_business_day(today())
    earlier = await sim(hub, "POST", f"/p/{pid}/admin/statements/{before}/send")
    assert earlier.json()["hub"]["records"] == 1, earlier.text
    assert open_kinds(await breaks_of(hub, pid)) == {
        dropped.receipt_id: "missing_at_provider",
        changed.receipt_id: "points_mismatch",
        "app_ghost-g1-r1": "missing_at_hub",
    }
    assert kept.receipt_id not in open_kinds(await breaks_of(hub, pid))


async def test_a_batch_provider_sends_its_statement_as_a_file(hub: Hub, tmp_path: Path) -> None:
    provider = await onboard_provider(hub, "batch", tmp_dir=tmp_path)
    receiving = [await receiving_resident(hub, provider) for _ in range(3)]
    await asyncio.gather(*(wait_for_grant(r, "credited", seconds=60) for r in receiving))
    pid = provider.provider_id
    config = hub.sim_configs[pid]
    knobs = {"drop": [receiving[0].receipt_id]}
    await sim(hub, "PUT", f"/p/{pid}/admin/statement-knobs", json=knobs)
    sent = await sim(hub, "POST", f"/p/{pid}/admin/statements/{today()}/send")
    assert sent.status_code == 200 and sent.json()["records"] == 2, sent.text
    stem = sent.json()["file"]
    outbox = Path(config.outbox_dir)
    report_path = outbox / f"{stem}.report.json"
    for _ in range(300):
        if report_path.exists():
            break
        await asyncio.sleep(0.1)
    report = json.loads(report_path.read_text())
    assert report["status"] == "accepted", report
    assert (report["records"], report["matched"], report["breaks"]) == (2, 2, 1)
    ingested = Path(config.inbox_dir) / "statements" / "ingested"
    assert (ingested / f"{stem}.csv").exists()
    assert open_kinds(await breaks_of(hub, pid)) == {receiving[0].receipt_id: "missing_at_provider"}

    # A file whose manifest does not match it is refused whole, and said so.
    directory = Path(config.inbox_dir) / "statements"
    bad_name = f"statement-{today()}-bad"
    (directory / f"{bad_name}.csv").write_text("receipt_id,points,credited_at,provider_reference\n")
    (directory / f"{bad_name}.manifest.json").write_text(
        json.dumps(
            {
                "file_name": f"{bad_name}.csv",
                "record_count": 5,
                "total_points": 0,
                "sha256": "0" * 64,
            }
        )
    )
    refused_report = outbox / f"{bad_name}.report.json"
    for _ in range(300):
        if refused_report.exists():
            break
        await asyncio.sleep(0.1)
    refused = json.loads(refused_report.read_text())
    assert (refused["status"], refused["code"]) == ("refused", "statement_totals_mismatch")
    assert (directory / "refused" / f"{bad_name}.csv").exists()
