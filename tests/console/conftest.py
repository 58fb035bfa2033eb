"""Fixtures of the console tests: signed-in console clients over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.console.helpers import ConsoleClient, console_client
from tests.support.stack import Hub


@pytest.fixture
async def browserless(hub: Hub) -> AsyncIterator[ConsoleClient]:
    """A console client with its own cookie jar, not yet signed in."""
    async with console_client(hub) as http:
        yield ConsoleClient(http)
