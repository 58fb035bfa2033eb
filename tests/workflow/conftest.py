"""Workflow tests: the time-skipping test server and a fresh SQLite database per test."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import build_context
from hub.search_attributes import ensure_search_attributes
from hub.settings import Environment, Settings
from hub.temporal import data_converter
from services.context import HubContext
from tests.support.databases import fresh_database


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """One test server per test: a finished test can leave time skipping unlocked, which would
    let the next test's timers fire before its updates arrive."""
    path = shutil.which("temporal-test-server") or str(
        Path(__file__).parents[2] / ".venv/bin/temporal-test-server"
    )
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=data_converter()
    )
    await ensure_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[HubContext]:
    with fresh_database(tmp_path, backend="sqlite") as url:
        context = build_context(Settings(env=Environment.TEST, database_url=url))
        try:
            yield context
        finally:
            await context.engine.dispose()
