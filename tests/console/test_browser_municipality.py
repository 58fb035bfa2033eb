"""In Chromium: municipality staff create an event measure, publish it, put up an event's QR code;
a resident scans the printed code a day late; staff approve the late report from the review
queue without the page reloading, and read the dashboard."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import zxingcpp
from PIL import Image
from playwright.async_api import Page, expect

from tests.console.browser import check_accessible, jst_local, shot, sign_in
from tests.console.helpers import NAGOYA, municipality_with_service
from tests.support.stack import Hub


async def test_staff_publish_a_measure_and_approve_a_late_report(
    hub: Hub, page: Page, tmp_path: Path
) -> None:
    key, _, service_id = await municipality_with_service(hub, NAGOYA, "名古屋市")
    staff = {"authorization": f"Bearer {key}"}
    await page.goto("/console/login")
    await shot(page, "login", tmp_path)
    await sign_in(page, key, lands_on="/console/measures")
    await expect(page.get_by_text("施策はまだありません")).to_be_visible()

    # A new event measure, typed in as staff would (times in JST).
    await page.get_by_role("link", name="新しい施策").first.click()
    await page.get_by_label("施策名").fill("防災フェア参加ポイント")
    await page.get_by_label("説明").fill("防災訓練に参加した方にポイントを付与します。")
    await page.get_by_label("種類").select_option("event")
    await page.get_by_label("1 回の付与ポイント").fill("100")
    await page.get_by_label("1 人あたりの上限").fill("5,000")
    await page.get_by_label("予算(ポイント)").fill("1000000")
    await page.get_by_label("申請開始").fill(jst_local(timedelta(days=-3)))
    await page.get_by_label("申請締切").fill(jst_local(timedelta(days=30)))
    await page.get_by_label("受取期限").fill(jst_local(timedelta(days=60)))
    await page.get_by_label("事後報告の受付日数").fill("7")
    await page.get_by_role("checkbox", name=service_id).check()
    await page.locator(f'input[name="available_from.{service_id}"]').fill(
        jst_local(timedelta(days=-3))
    )
    await shot(page, "measure-form", tmp_path)
    await check_accessible(page)
    await page.get_by_role("button", name="下書きを作成").click()
    await expect(page.get_by_role("status").first).to_contain_text("下書きとして作成しました")
    measure_id = page.url.rsplit("/", 1)[-1]
    await expect(page.get_by_text("5,000 pt")).to_be_visible()

    await page.get_by_role("link", name="公開する").click()
    await expect(page.get_by_role("heading", name="施策を公開しますか")).to_be_visible()
    await page.get_by_role("button", name="公開する").click()
    await expect(page.get_by_role("status").first).to_contain_text("施策を公開しました")
    await expect(page.locator("h1 .badge")).to_have_text("公開中")
    await shot(page, "measure-detail", tmp_path)
    api_view = await hub.http.get(
        f"/v1/municipalities/{NAGOYA}/measures/{measure_id}", headers=staff
    )
    assert api_view.json()["state"] == "published"
    assert api_view.json()["per_person_cap"] == 5000 and api_view.json()["late_report_days"] == 7

    # An event two days ago, and its QR code ready to print.
    await page.get_by_role("link", name="イベントと QR コード").click()
    await page.get_by_label("イベント名").fill("防災訓練")
    await page.get_by_label("開始日時").fill(jst_local(timedelta(days=-2)))
    await page.get_by_label("終了日時").fill(jst_local(timedelta(days=-2, hours=3)))
    await page.get_by_label("参加で付与するポイント").fill("500")
    await page.get_by_role("button", name="イベントを作成").click()
    await expect(page.get_by_role("status").first).to_contain_text("防災訓練")
    await expect(page.get_by_role("img", name="「防災訓練」の参加報告用 QR コード")).to_be_visible()
    await shot(page, "events", tmp_path)
    await check_accessible(page)
    await page.get_by_role("link", name="印刷用ページ").click()
    await expect(page.get_by_role("heading", name="防災訓練")).to_be_visible()
    await shot(page, "event-qr-print", tmp_path)
    png = await page.request.get(page.url.replace("/print", "/qr.png"))
    assert png.status == 200 and png.headers["content-type"] == "image/png"
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(await png.body())))

    # A resident registers and scans the printed code after the event: a late report.
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    assert (await resident.apply(measure_id)).status_code == 201
    late = await resident.post("/v1/me/attendance-reports", {"qr_payload": code.text})
    assert late.status_code == 201 and late.json()["status"] == "pending_review", late.text

    await page.get_by_role("link", name="審査").first.click()
    [review] = (await hub.http.get(f"/v1/municipalities/{NAGOYA}/reviews", headers=staff)).json()[
        "items"
    ]
    row = page.locator(f"#review-{review['review_id']}")
    await expect(row).to_contain_text("防災訓練")
    await expect(row).to_contain_text("日")  # how late: "1日 …時間"
    await expect(page.locator("#pending-count")).to_have_text("1")
    await shot(page, "reviews", tmp_path)
    await check_accessible(page)

    await page.evaluate("window.stillTheSamePage = true")
    await row.get_by_role("button", name="承認").click()
    await expect(row).to_contain_text("承認しました — 500 pt を付与")
    await expect(page.locator("#pending-count")).to_have_text("0")
    assert await page.evaluate("window.stillTheSamePage === true")  # no full reload
    points = await resident.points()
    assert points["totals"]["unreceived"] == 500

    await page.goto(f"/console/measures/{measure_id}/dashboard")
    chart = page.get_by_role("img", name="「防災フェア参加ポイント」の日ごとの申請数")
    await expect(chart).to_be_visible()
    await expect(page.locator("#budget-meter")).to_have_attribute("value", "500")
    await expect(page.get_by_role("row", name="未受取")).to_contain_text("500 pt")
    await shot(page, "dashboard", tmp_path)
    await check_accessible(page)
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", name="Applications per day")).to_be_visible()
    await shot(page, "dashboard-en", tmp_path)
    await page.get_by_role("link", name="Reviews", exact=True).first.click()
    await expect(page.get_by_text("Nothing to review.")).to_be_visible()
    await page.get_by_role("link", name="日本語").click()
    await expect(page.get_by_role("heading", name="審査")).to_be_visible()
