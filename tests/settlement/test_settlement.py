"""The monthly settlement (精算): a municipality's month per provider and measure, closed by an
operator (refused while breaks are open unless forced with a note), frozen with its report's
SHA-256; statements of a closed month refused; a later correction as an adjustment of the next
open month; `mph settlement verify` against the ledger; the CSV in UTF-8 and Shift_JIS."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import update

from services import settlement
from storage.models.settlement import SettlementLine
from tests.api.roles import FOREIGN
from tests.providers.support import Provider, granted_resident, request_receipt, wait_for_grant
from tests.settlement.support import (
    breaks_of,
    credited,
    jst,
    line_for,
    move_credit,
    send,
    statement,
    sync_provider,
)
from tests.support.scenario import (
    MUNICIPALITY,
    ensure_municipality,
    municipality_key,
    publish_measure,
)
from tests.support.stack import Hub

ROOT = Path(__file__).resolve().parents[2]


async def staff(hub: Hub) -> dict[str, str]:
    return {"authorization": f"Bearer {await municipality_key(hub)}"}


async def report(hub: Hub, month: str, headers: dict[str, str]) -> dict:
    response = await hub.http.get(
        f"/v1/municipalities/{MUNICIPALITY}/settlements/{month}", headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def line_of(found: dict, provider: Provider) -> dict:
    [line] = [x for x in found["lines"] if x["provider_id"] == provider.provider_id]
    return line


async def close(hub: Hub, month: str, **body: object) -> dict:
    response = await hub.http.post(
        f"/v1/operator/settlements/{month}/close", json=body, headers=hub.operator_headers
    )
    return {**response.json(), "http": response.status_code}


def verify_cli(hub: Hub, month: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUB_DATABASE_URL": hub.settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "cli", "settlement", "verify", month],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_month_closed_over_an_open_break_and_corrected_the_month_after(hub: Hub) -> None:
    month, day = "2024-06", date(2024, 6, 10)
    provider = await sync_provider(hub)
    headers = await staff(hub)
    kept, lost, late = await credited(hub, provider, 3)
    for n, receiving in enumerate((kept, lost, late)):
        await move_credit(hub, str(receiving.receipt_id), jst(day, 10, n))
    first = await send(hub, provider, day, statement([line_for(kept, at=jst(day, 10))]))
    assert first.status_code == 200, first.text
    corrected = await send(
        hub, provider, day, statement([line_for(kept, at=jst(day, 10)), line_for(late, 900)])
    )
    assert corrected.json()["outcome"] == "replaced"

    line = line_of(await report(hub, month, headers), provider)
    assert line["measure_id"] == provider.measure_id
    assert (line["credited_points"], line["statement_points"], line["matched_points"]) == (
        3000,
        1900,
        1000,
    )
    assert (line["open_breaks"], line["yen_per_point"], line["amount_yen"]) == (2, 1, 3000)

    refused = await close(hub, month)
    assert (refused["http"], refused["code"]) == (409, "open_breaks")
    assert refused["open_breaks"] == 2
    unexplained = await close(hub, month, force=True)
    assert (unexplained["http"], unexplained["code"]) == (422, "note_required")
    closed = await close(hub, month, force=True, note="差異は翌月に精算する")
    assert closed["http"] == 200, closed
    assert closed["forced"] is True and closed["open_breaks"] == 2
    [mine] = [r for r in closed["reports"] if r["municipality_code"] == MUNICIPALITY]

    frozen = await report(hub, month, headers)
    assert frozen["status"] == "closed" and frozen["report_sha256"] == mine["report_sha256"]
    downloaded = await hub.http.get(
        f"/v1/municipalities/{MUNICIPALITY}/settlements/{month}.csv", headers=headers
    )
    assert downloaded.content.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads it as UTF-8
    assert hashlib.sha256(downloaded.content).hexdigest() == frozen["report_sha256"]
    again = await close(hub, month, force=True, note="二度目")
    assert (again["http"], again["code"]) == (409, "settlement_closed")
    late_statement = await send(hub, provider, day, statement([line_for(kept, at=jst(day, 10))]))
    assert late_statement.status_code == 409
    assert late_statement.json()["code"] == "settlement_closed"
    assert verify_cli(hub, month).returncode == 0

    # After closing, the provider confirms it never credited `lost`: the points go back, and the
    # correction is an adjustment of the next open month; June stays as it was closed.
    hub.sim_providers[provider.provider_id].credits.pop(str(lost.receipt_id))
    [missing] = [
        r for r in await breaks_of(hub, provider.provider_id) if r.receipt_id == lost.receipt_id
    ]
    support = await hub.http.post(
        "/v1/operator/api-keys", json={"role": "support"}, headers=hub.operator_headers
    )
    resolved = await hub.http.post(
        f"/v1/support/reconciliation/breaks/brk_{missing.id}/resolve",
        json={"resolution": "provider_confirmed_no_credit", "note": "事業者側で付与なしと確認"},
        headers={"authorization": f"Bearer {support.json()['key']}"},
    )
    assert resolved.status_code == 200, resolved.text
    assert line_of(await report(hub, month, headers), provider)["credited_points"] == 3000
    july = line_of(await report(hub, "2024-07", headers), provider)
    assert (july["credited_points"], july["adjustment"], july["amount_yen"]) == (0, -1000, -1000)
    checked = verify_cli(hub, month)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    closed_july = await close(hub, "2024-07")
    assert closed_july["http"] == 200 and closed_july["forced"] is False
    assert line_of(await report(hub, "2024-07", headers), provider)["adjustment"] == -1000
    august = await report(hub, "2024-08", headers)
    assert [x for x in august["lines"] if x["provider_id"] == provider.provider_id] == []
    assert await settlement.verify(hub.ctx, "2024-07") == []


async def test_a_month_without_open_breaks_closes_and_its_tampered_figures_are_found(
    hub: Hub,
) -> None:
    month, day = "2024-09", date(2024, 9, 2)
    provider = await sync_provider(hub)
    headers = await staff(hub)
    key = await municipality_key(hub)
    tripled = dataclasses.replace(
        provider,
        measure_id=await publish_measure(hub, key, [provider.payment_service_id], yen_per_point=3),
    )
    [plain] = await credited(hub, provider, 1)
    receiving = await granted_resident(hub, tripled)
    await request_receipt(receiving)
    await wait_for_grant(receiving, "credited")
    for n, done in enumerate((plain, receiving)):
        await move_credit(hub, str(done.receipt_id), jst(day, 9, n))
    body = statement([line_for(plain, at=jst(day, 9)), line_for(receiving, at=jst(day, 9))])
    assert (await send(hub, provider, day, body)).json()["breaks"] == 0

    not_over = await close(hub, datetime.now(UTC).strftime("%Y-%m"))
    assert (not_over["http"], not_over["code"]) == (409, "month_not_ended")
    closed = await close(hub, month)
    assert closed["http"] == 200, closed
    assert (closed["forced"], closed["open_breaks"]) == (False, 0)
    found = await report(hub, month, headers)
    amounts = {
        x["measure_id"]: x["amount_yen"]
        for x in found["lines"]
        if x["provider_id"] == provider.provider_id
    }
    assert amounts == {provider.measure_id: 1000, tripled.measure_id: 3000}
    assert found["totals"]["amount_yen"] >= 4000

    async with hub.ctx.sessions.begin() as session:
        await session.execute(
            update(SettlementLine)
            .where(SettlementLine.month == month, SettlementLine.measure_id == tripled.measure_id)
            .values(credited_points=SettlementLine.credited_points + 1)
        )
    tampered = verify_cli(hub, month)
    assert tampered.returncode == 1
    assert "the ledger credited 1000 points, the closed report says 1001" in tampered.stdout
    async with hub.ctx.sessions.begin() as session:
        await session.execute(
            update(SettlementLine)
            .where(SettlementLine.month == month, SettlementLine.measure_id == tripled.measure_id)
            .values(credited_points=SettlementLine.credited_points - 1)
        )
    assert verify_cli(hub, month).returncode == 0


async def test_the_csv_reads_back_in_shift_jis_as_in_utf8(hub: Hub) -> None:
    month, day = "2024-10", date(2024, 10, 1)
    provider = await sync_provider(hub)
    headers = await staff(hub)
    [done] = await credited(hub, provider, 1)
    await move_credit(hub, str(done.receipt_id), jst(day, 11))
    utf8 = await hub.http.get(
        f"/v1/municipalities/{MUNICIPALITY}/settlements/{month}.csv", headers=headers
    )
    sjis = await hub.http.get(
        f"/v1/municipalities/{MUNICIPALITY}/settlements/{month}.csv",
        params={"encoding": "shift_jis"},
        headers=headers,
    )
    assert sjis.status_code == 200, sjis.text
    assert sjis.headers["content-type"] == "text/csv; charset=Shift_JIS"
    assert not sjis.content.startswith(b"\xef\xbb\xbf")
    text = sjis.content.decode("shift_jis")
    assert text == utf8.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["精算月", "自治体コード", "決済事業者ID"]
    [mine] = [r for r in rows if r[2] == provider.provider_id]
    assert mine[5] == "子育て応援ポイント" and mine[6] == "1000" and mine[12] == "1000"
    assert rows[-1][2] == "合計"
    bad = await hub.http.get(
        f"/v1/municipalities/{MUNICIPALITY}/settlements/{month}.csv",
        params={"encoding": "latin-1"},
        headers=headers,
    )
    assert bad.status_code == 422
    await ensure_municipality(hub, FOREIGN, "中央区")
    foreign = {"authorization": f"Bearer {await municipality_key(hub, FOREIGN)}"}
    theirs = await hub.http.get(
        f"/v1/municipalities/{FOREIGN}/settlements/{month}", headers=foreign
    )
    assert theirs.status_code == 200 and provider.provider_id not in theirs.text
    ours = await hub.http.get(
        f"/v1/municipalities/{MUNICIPALITY}/settlements/{month}.csv", headers=foreign
    )
    assert ours.status_code == 404
    nonsense = await hub.http.get(
        f"/v1/municipalities/{MUNICIPALITY}/settlements/2024-13", headers=headers
    )
    assert nonsense.status_code == 422 and nonsense.json()["code"] == "invalid_month"
