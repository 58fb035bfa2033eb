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
    await check_skip_link(page)


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


UNLABELLED_CONTROLS = """
() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map(el => el.name || el.id)
"""


FIRST_FOCUSABLE = """
() => document.querySelector(
  'a[href], button, input:not([type=hidden]), select, textarea'
).className
"""


async def check_accessible(page: Page) -> None:
    """What a screen-reader and keyboard user needs on every page: its language, a label on
    every field, a text alternative on every image, and the skip link first in the tab order."""
    assert await page.evaluate("document.documentElement.lang") in ("ja", "en")
    assert await page.evaluate(UNLABELLED_CONTROLS) == []
    assert await page.locator("img:not([alt])").count() == 0
    assert await page.evaluate(FIRST_FOCUSABLE) == "skip"


async def check_skip_link(page: Page) -> None:
    """On a freshly opened page the first Tab reaches the skip link, and Enter moves the focus
    to the content, past the menu."""
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    await expect(page.locator("a.skip")).to_be_visible()
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
