"""In Chromium: staff upload a target list; the upload's progress is shown, a file with bad rows
lists each of them by line and imports nothing, and the corrected file is imported, all without
leaving the page."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import FilePayload, Page, expect

from tests.console.browser import check_accessible, shot, sign_in
from tests.console.helpers import OSAKA, municipality_with_service
from tests.support.direct import new_resident
from tests.support.scenario import measure_body
from tests.support.stack import Hub


async def test_staff_upload_a_target_list_and_see_its_bad_rows(
    hub: Hub, page: Page, tmp_path: Path
) -> None:
    key, _, service_id = await municipality_with_service(hub, OSAKA, "大阪市")
    created = await hub.http.post(
        f"/v1/municipalities/{OSAKA}/measures",
        json=measure_body([service_id], target_list_only=True, title="高齢者見守りポイント"),
        headers={"authorization": f"Bearer {key}"},
    )
    measure_id = created.json()["measure_id"]
    residents = [await new_resident(hub.ctx) for _ in range(3)]
    await sign_in(page, key, lands_on="/console/measures")
    await page.goto(f"/console/measures/{measure_id}")
    await page.get_by_role("link", name="対象者リスト").click()
    await expect(page.locator("#target-total")).to_contain_text("登録済み: 0 件")
    await page.evaluate("window.stillTheSamePage = true")

    wrong = "mykey_id\n" + f"{residents[0]}\nabc\n{residents[1]}\n{residents[0]}\n"
    await page.get_by_label("CSV ファイル").set_input_files(
        files=FilePayload(name="wrong.csv", mimeType="text/csv", buffer=wrong.encode())
    )
    await page.get_by_role("button", name="アップロード").click()
    errors = page.locator("#target-result table.row-errors tbody tr")
    await expect(errors).to_have_count(2)
    await expect(errors.nth(0)).to_contain_text("3")
    await expect(errors.nth(0)).to_contain_text("マイキー ID の形式ではありません")
    await expect(errors.nth(1)).to_contain_text("2 行目と重複しています")
    await expect(page.locator("#target-total")).to_contain_text("登録済み: 0 件")
    await shot(page, "targets-row-errors", tmp_path)
    await check_accessible(page)

    good = "mykey_id\n" + "".join(f"{m}\n" for m in residents)
    await page.get_by_label("CSV ファイル").set_input_files(
        files=FilePayload(name="fixed.csv", mimeType="text/csv", buffer=good.encode())
    )
    await page.get_by_role("button", name="アップロード").click()
    await expect(page.locator("#target-result")).to_contain_text("fixed.csv を取り込みました")
    await expect(page.locator("#target-total")).to_contain_text("登録済み: 3 件")
    assert await page.locator("#upload-bar").evaluate("bar => bar.value") == 100
    assert await page.evaluate("window.stillTheSamePage === true")
    count = await hub.http.get(
        f"/v1/municipalities/{OSAKA}/measures/{measure_id}/targets",
        headers={"authorization": f"Bearer {key}"},
    )
    assert count.json()["total"] == 3
