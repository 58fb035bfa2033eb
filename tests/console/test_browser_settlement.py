"""In Chromium: a provider's statement disagrees with the hub; support staff find the break, see
the provider's row beside the receipt's timeline, ask the provider and accept the difference
with a reason; municipality staff open the month's settlement and download its CSV, in UTF-8
and in Shift_JIS."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from playwright.async_api import Page, expect

from domain.business_days import JST
from tests.console.browser import check_accessible, shot, sign_in
from tests.console.helpers import new_key
from tests.settlement.support import credited, line_for, send, statement, sync_provider, today
from tests.support.scenario import ensure_municipality, publish_measure
from tests.support.stack import Hub

SAPPORO = "011002"  # 札幌市: only this test settles here


async def test_support_resolves_a_break_and_staff_download_the_month(
    hub: Hub, page: Page, tmp_path: Path
) -> None:
    await ensure_municipality(hub, SAPPORO, "札幌市")
    provider = await sync_provider(hub)
    staff_key = await new_key(hub, "municipality", SAPPORO)
    measure_id = await publish_measure(
        hub, staff_key, [provider.payment_service_id], code=SAPPORO, title="札幌子育て応援ポイント"
    )
    provider = dataclasses.replace(provider, measure_id=measure_id)
    matched, changed = await credited(hub, provider, 2)
    body = statement([line_for(matched), line_for(changed, points=900)])
    assert (await send(hub, provider, today(), body)).json()["breaks"] == 1

    await sign_in(page, await new_key(hub, "support"), lands_on="/console/support/stuck")
    await page.get_by_role("link", name="照合の差異").click()
    await page.get_by_label("決済事業者").select_option(provider.provider_id)
    await page.get_by_role("button", name="絞り込む").click()
    await expect(page.get_by_role("status")).to_have_text("表示: 1 件")
    row = page.get_by_role("row").filter(has_text=str(changed.receipt_id))
    await expect(row).to_contain_text("1,000")
    await expect(row).to_contain_text("900")
    await check_accessible(page)
    await row.get_by_role("link", name="ポイント数が違う").click()

    await expect(page.get_by_role("heading", name="事業者の明細")).to_be_visible()
    await expect(page.locator("section").filter(has_text="事業者の明細")).to_contain_text("900 pt")
    hub_side = page.locator("section").filter(has_text="ハブの記録")
    await expect(hub_side).to_contain_text("1,000 pt")
    await expect(hub_side.locator("ol.timeline li")).to_have_count(3)
    await page.get_by_role("button", name="事業者に状況を確認する").click()
    await expect(page.get_by_role("status").first).to_contain_text("決済事業者の回答: 付与済み")
    await page.get_by_label("差異を承認").check()
    await page.get_by_label("メモ").fill("端数の扱いの違い。事業者と合意済み")
    await shot(page, "break-detail", tmp_path)
    await check_accessible(page)
    await page.get_by_role("button", name="解決する").click()
    await expect(page.get_by_role("status").first).to_contain_text("差異を解決しました: 差異を承認")
    await expect(page.locator("h1 .badge")).to_have_text("解決済み")

    await page.get_by_role("button", name="ログアウト").click()
    await sign_in(page, staff_key, lands_on="/console/measures")
    await page.get_by_role("link", name="精算").click()
    month = datetime.now(UTC).astimezone(JST).strftime("%Y-%m")
    await page.goto(f"/console/settlements/{month}")
    await expect(page.get_by_role("heading", name=f"{month} の精算")).to_be_visible()
    line = page.get_by_role("row").filter(has_text=provider.provider_id)
    await expect(line).to_contain_text("札幌子育て応援ポイント")
    await expect(line).to_contain_text("¥2,000")
    await shot(page, "settlement-month", tmp_path)
    await check_accessible(page)

    async with page.expect_download() as utf8_download:
        await page.get_by_role("link", name="CSV をダウンロード(UTF-8)").click()
    utf8 = Path(await (await utf8_download.value).path()).read_bytes()
    assert utf8.startswith(b"\xef\xbb\xbf")
    text = utf8.decode("utf-8-sig")
    assert "札幌子育て応援ポイント" in text and provider.provider_id in text
    assert text.splitlines()[-1].split(",")[2] == "合計"
    async with page.expect_download() as sjis_download:
        await page.get_by_role("link", name="CSV をダウンロード(Shift_JIS)").click()
    sjis = Path(await (await sjis_download.value).path()).read_bytes()
    assert sjis.decode("shift_jis") == text
    assert hashlib.sha256(utf8).hexdigest() != hashlib.sha256(sjis).hexdigest()

    await page.goto(f"/console/settlements/{month}?lang=en")
    await expect(page.get_by_role("heading", name=f"Settlement {month}")).to_be_visible()
