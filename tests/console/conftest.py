"""Fixtures of the console tests: console clients over real HTTP, and Debian's Chromium driven by
Playwright against the running hub (no browser is downloaded; without Chromium the browser tests
skip and say why)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.console.helpers import ConsoleClient, console_client
from tests.support.stack import Hub

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--lang=ja",  # date and time fields in Japanese order
]


@pytest.fixture
async def browserless(hub: Hub) -> AsyncIterator[ConsoleClient]:
    """A console client with its own cookie jar, not yet signed in."""
    async with console_client(hub) as http:
        yield ConsoleClient(http)


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip(
            "Debian's Chromium is not installed: `apt-get install -y chromium fonts-noto-cjk` "
            "(.ci/run does) to run the console's browser tests"
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(chromium: Browser, hub: Hub) -> AsyncIterator[Page]:
    """A fresh browser profile (no cookies) on the hub, in Japanese, in Japan's time zone."""
    context = await chromium.new_context(
        base_url=hub.api_url,
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(15_000)
    opened = await context.new_page()
    try:
        yield opened
    finally:
        await context.close()
