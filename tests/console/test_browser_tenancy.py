"""In Chromium: staff of one municipality edit the address bar to reach another municipality's
measure, and find nothing there: every page of it is "not found", and nothing of it is shown or
changed."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, expect

from tests.console.browser import shot, sign_in
from tests.console.helpers import KITAKYUSHU, YOKOHAMA, municipality_with_service
from tests.support.scenario import measure_body
from tests.support.stack import Hub


async def test_staff_cannot_open_another_municipalitys_measure_by_editing_the_url(
    hub: Hub, page: Page, tmp_path: Path
) -> None:
    own_key, _, own_service = await municipality_with_service(hub, KITAKYUSHU, "北九州市")
    other_key, _, other_service = await municipality_with_service(hub, YOKOHAMA, "横浜市")
    created = []
    for key, code, service, title in (
        (own_key, KITAKYUSHU, own_service, "北九州の施策"),
        (other_key, YOKOHAMA, other_service, "横浜だけの施策"),
    ):
        response = await hub.http.post(
            f"/v1/municipalities/{code}/measures",
            json=measure_body([service], title=title),
            headers={"authorization": f"Bearer {key}"},
        )
        assert response.status_code == 201, response.text
        created.append(response.json()["measure_id"])
    own_id, other_id = created

    await sign_in(page, own_key, lands_on="/console/measures")
    await expect(page.get_by_role("link", name="北九州の施策")).to_be_visible()
    await expect(page.locator("main")).not_to_contain_text("横浜だけの施策")
    await page.get_by_role("link", name="北九州の施策").click()
    await page.wait_for_url(f"**/console/measures/{own_id}")

    for tail in ("", "/edit", "/publish", "/close", "/targets", "/events", "/dashboard"):
        opened = await page.goto(page.url.replace(own_id, other_id) + tail)
        assert opened is not None and opened.status == 404, tail
        await expect(page.get_by_role("heading", name="ページが見つかりません")).to_be_visible()
        await expect(page.locator("main")).not_to_contain_text("横浜だけの施策")
        await page.goto(f"/console/measures/{own_id}")
    await page.goto(f"/console/measures/{other_id}")
    await shot(page, "not-found", tmp_path)

    csv = await page.request.get(f"/console/measures/{other_id}/grants.csv")
    assert csv.status == 404
    token = await page.locator('input[name="csrf_token"]').first.input_value()
    publish = await page.request.post(
        f"/console/measures/{other_id}/publish", form={"csrf_token": token}
    )
    assert publish.status == 404
    other = await hub.http.get(
        f"/v1/municipalities/{YOKOHAMA}/measures/{other_id}",
        headers={"authorization": f"Bearer {other_key}"},
    )
    assert other.json()["state"] == "draft"
