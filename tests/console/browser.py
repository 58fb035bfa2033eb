"""What the browser tests share: signing in as a person would, and screenshots of the pages.

Screenshots go to a temporary folder; with `CONSOLE_SCREENSHOTS=docs/screenshots` they replace
the ones the README shows.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from playwright.async_api import Page, expect

from console.i18n import JST

SCREENSHOTS_ENV = "CONSOLE_SCREENSHOTS"


async def sign_in(page: Page, key: str, *, lands_on: str) -> None:
    await page.goto("/console/login")
    await page.get_by_label("API キー").fill(key)
    await page.get_by_role("button", name="ログイン").click()
    await page.wait_for_url(f"**{lands_on}")
    await expect(page.get_by_role("status").first).to_contain_text("ログインしました")


async def shot(page: Page, name: str, tmp_dir: Path) -> Path:
    """A full-page screenshot; kept in docs/screenshots only when asked for."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    return path


def jst_local(delta: timedelta) -> str:
    """What a person types into a datetime-local field, in JST."""
    return (datetime.now(JST) + delta).strftime("%Y-%m-%dT%H:%M")
