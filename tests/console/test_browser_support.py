"""In Chromium: a provider stops answering and a receipt gets stuck; support staff find it by its
provider, read its timeline, ask the provider, return the points after confirming, and look the
resident up (masked)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from storage import receipts
from tests.console.browser import check_accessible, shot, sign_in
from tests.console.helpers import KYOTO, municipality_with_service, new_key
from tests.support.scenario import add_provider, publish_measure
from tests.support.stack import Hub
from tests.supportdesk.test_stuck_receipt_walkthrough import set_faults, until


async def stuck_receipt(hub: Hub) -> tuple[str, str, Any]:
    """(provider, receipt) of a receipt whose provider failed every attempt; and its resident."""
    key, _, _ = await municipality_with_service(hub, KYOTO, "京都市")
    retry = {"initial_interval_s": 0.1, "backoff": 1.5, "max_interval_s": 0.3, "max_attempts": 3}
    provider_id, service_id = await add_provider(hub, retry=retry)
    measure_id = await publish_measure(hub, key, [service_id], code=KYOTO)
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    grant = (await resident.apply(measure_id)).json()["grants"][0]
    registration = (await resident.register_service(service_id, "acct-kyoto-0042")).json()
    await set_faults(hub, provider_id, error_rate=1.0)
    requested = await resident.request_receipt([grant["grant_id"]], registration["registration_id"])
    assert requested.status_code == 202, requested.text
    receipt_id: str = requested.json()["receipts"][0]["receipt_id"]

    async def is_stuck() -> bool:
        async with hub.ctx.sessions() as session:
            from storage.models import Receipt

            receipt = await session.get(Receipt, receipt_id)
            return receipt is not None and receipt.stuck

    await until(is_stuck)
    return provider_id, receipt_id, resident


async def stuck_receipt_failing(hub: Hub, code: str, raw: str) -> tuple[str, str]:
    """(provider, receipt) of a stuck receipt whose last provider failure is `raw`, classed as
    `code`."""
    provider_id, receipt_id, _ = await stuck_receipt(hub)
    async with hub.ctx.sessions.begin() as session:
        await receipts.note_failure(
            session, receipt_id, attempt=3, error=raw, now=datetime.now(UTC), code=code
        )
    return provider_id, receipt_id


async def test_support_finds_a_stuck_receipt_and_returns_its_points(
    hub: Hub, page: Page, tmp_path: Path
) -> None:
    provider_id, receipt_id, resident = await stuck_receipt(hub)
    await sign_in(page, await new_key(hub, "support"), lands_on="/console/support/stuck")

    await page.get_by_label("決済事業者").select_option(provider_id)
    await page.get_by_role("button", name="絞り込む").click()
    await expect(page.get_by_role("status")).to_have_text("該当: 1 件")
    row = page.get_by_role("row").filter(has_text=receipt_id)
    await expect(row).to_contain_text("再試行の上限に達した")
    await expect(row).to_contain_text("1,000")
    await expect(row).to_contain_text("****" + resident.mykey_id[-4:])
    await expect(page.locator("main")).not_to_contain_text(resident.mykey_id)
    await shot(page, "stuck-receipts", tmp_path)
    await check_accessible(page)

    await row.get_by_role("link", name=receipt_id).click()
    await expect(page.get_by_role("heading", name=f"受取 {receipt_id}")).to_be_visible()
    timeline = page.locator("ol.timeline li")
    await expect(timeline).to_have_count(3)
    await expect(timeline.last).to_contain_text("滞留")
    temporal = page.get_by_role("link", name="Temporal UI でワークフローを開く")
    href = await temporal.get_attribute("href")
    assert href is not None and href.startswith(hub.settings.temporal_ui_url)
    assert "/workflows/application-" in href
    await expect(page.locator("main")).not_to_contain_text("acct-kyoto-0042")
    await expect(page.locator("main")).not_to_contain_text(resident.mykey_id)
    await expect(page.locator("main")).to_contain_text("*0042")
    await shot(page, "receipt-detail", tmp_path)
    await check_accessible(page)

    await set_faults(hub, provider_id, error_rate=0.0)
    await page.get_by_role("link", name="事業者に状況を確認する").click()
    await page.get_by_role("button", name="問い合わせる").click()
    await expect(page.get_by_role("status").first).to_contain_text("受け付けていない(未付与)")

    await page.get_by_role("link", name="ポイントを未受取に戻す").click()
    await expect(page.get_by_role("heading", name="ポイントを未受取に戻す")).to_be_visible()
    await page.get_by_label("メモ").fill("事業者側で未付与を確認")
    await shot(page, "support-action-confirm", tmp_path)
    await check_accessible(page)
    await page.get_by_role("button", name="未受取に戻す").click()
    await expect(page.get_by_role("status").first).to_contain_text("ポイントを未受取に戻しました")
    await expect(page.locator("h1 .badge")).to_have_text("未受取に戻した")
    await expect(timeline.last).to_contain_text("事業者側で未付与を確認")
    points = await resident.points()
    assert points["totals"]["unreceived"] == 1000

    await page.get_by_role("link", name="利用者の照会").click()
    await page.get_by_label("マイキー ID").fill(resident.mykey_id.lower())
    await page.get_by_role("button", name="照会する").click()
    masked = "****" + resident.mykey_id[-4:]
    await expect(page.get_by_role("heading", name=f"マイキー ID {masked} の状況")).to_be_visible()
    await expect(page.locator("main")).not_to_contain_text(resident.mykey_id)
    await expect(page.locator("main")).not_to_contain_text("acct-kyoto-0042")
    assert resident.mykey_id not in page.url
    await shot(page, "resident-lookup", tmp_path)
    await check_accessible(page)
