"""In Chromium: a provider that keeps refusing the hub's credentials is paused; an operator sees
which one and why (the provider's raw answer one click away) and resumes it with a note."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, expect

from domain.provider_errors import CODES
from services import provider_pause
from tests.console.browser import check_accessible, shot, sign_in
from tests.console.helpers import new_key
from tests.console.test_console_providers import pause_by_failures
from tests.support.scenario import add_provider
from tests.support.stack import Hub


async def test_an_operator_finds_a_paused_provider_and_resumes_it(
    hub: Hub, page: Page, tmp_path: Path
) -> None:
    provider_id, _ = await add_provider(hub)
    await pause_by_failures(hub, provider_id)
    await sign_in(page, await new_key(hub, "operator"), lands_on="/console/providers")

    await expect(page.get_by_role("alert")).to_contain_text("一時停止中です")
    row = page.get_by_role("row").filter(has_text=provider_id)
    await expect(row).to_contain_text("一時停止中")
    await expect(row).to_contain_text("provider_auth_failed")
    await check_accessible(page)
    await row.get_by_role("link").click()

    await page.wait_for_url(f"**/console/providers/{provider_id}")
    reason = page.locator("#pause-reason")
    await expect(reason).to_contain_text(CODES["provider_auth_failed"].ja)
    raw = reason.locator("details pre")
    await expect(raw).to_be_hidden()
    await reason.get_by_text("停止の原因となった事業者の応答").click()
    await expect(raw).to_be_visible()
    await expect(raw).to_contain_text("invalid signature key")
    await shot(page, "provider-paused", tmp_path)
    await check_accessible(page)

    await page.get_by_label("メモ").fill("事業者が署名鍵を再発行、設定を更新")
    await page.get_by_role("button", name="再開する").click()
    await expect(page.get_by_role("status").first).to_contain_text("一時停止を解除しました")
    await expect(page.locator("#queue-status")).to_have_text("稼働中")
    await expect(page.locator("main")).to_contain_text("事業者が署名鍵を再発行、設定を更新")
    async with hub.ctx.sessions() as session:
        assert not await provider_pause.is_paused(session, provider_id)
