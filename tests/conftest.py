"""Shared fixtures: one Temporal dev server and one running hub per test session."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from hub.temporal import data_converter
from simulators.jpki import TestCA
from tests.support.databases import BACKENDS, fresh_database
from tests.support.stack import Hub, running_hub


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hub")


@pytest.fixture(scope="session")
def database_url(session_tmp: Path) -> Iterator[str]:
    with fresh_database(session_tmp) as url:
        yield url


@pytest.fixture(scope="session")
def test_ca() -> TestCA:
    return TestCA.create()


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    path = shutil.which("temporal") or str(Path(__file__).parents[1] / ".venv/bin/temporal")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=path, data_converter=data_converter()
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def hub(
    database_url: str, temporal_env: WorkflowEnvironment, session_tmp: Path, test_ca: TestCA
) -> AsyncIterator[Hub]:
    async with running_hub(
        database_url=database_url, client=temporal_env.client, tmp_dir=session_tmp, ca=test_ca
    ) as running:
        yield running


# The same tests against a fresh SQLite database and (when configured) a fresh PostgreSQL one,
# a hub each, for the module.
@pytest.fixture(params=BACKENDS, scope="module")
async def backend_hub(
    request: pytest.FixtureRequest,
    temporal_env: WorkflowEnvironment,
    session_tmp: Path,
    test_ca: TestCA,
) -> AsyncIterator[Hub]:
    with fresh_database(session_tmp, backend=request.param) as url:
        async with running_hub(
            database_url=url, client=temporal_env.client, tmp_dir=session_tmp, ca=test_ca
        ) as running:
            yield running
