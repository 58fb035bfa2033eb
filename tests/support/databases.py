"""Fresh, migrated databases: SQLite files, or PostgreSQL when HUB_TEST_DATABASE_URL is set.

Each call creates a database of its own on the PostgreSQL server (dropped afterwards), so tests
never share or wipe tables.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from services.context import HubContext
from storage.migrate import upgrade

ENV_VAR = "HUB_TEST_DATABASE_URL"


def postgres_server_url() -> str | None:
    return os.environ.get(ENV_VAR) or None


def _admin_conninfo(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def fresh_database(tmp_dir: Path, *, backend: str | None = None) -> Iterator[str]:
    """A migrated, empty database; `backend` forces "sqlite" or "postgresql"."""
    server = postgres_server_url()
    use_pg = backend == "postgresql" or (backend is None and server is not None)
    if not use_pg:
        path = tmp_dir / f"hub-{secrets.token_hex(4)}.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        yield url
        return
    if server is None:
        raise RuntimeError(f"{ENV_VAR} is not set")
    name = f"hub_test_{secrets.token_hex(6)}"
    admin = _admin_conninfo(server)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    rendered = (
        make_url(server)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )
    try:
        upgrade(rendered)
        yield rendered
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def database_context(tmp_dir: Path) -> AsyncIterator[HubContext]:
    """A hub context (no Temporal) on a fresh database, for tests of storage and services."""
    from api.app import build_context
    from hub.settings import Environment, Settings

    with fresh_database(tmp_dir) as url:
        context = build_context(Settings(env=Environment.TEST, database_url=url))
        try:
            yield context
        finally:
            await context.engine.dispose()


# Test parameters: SQLite always, PostgreSQL when HUB_TEST_DATABASE_URL names a server.
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            postgres_server_url() is None, reason="HUB_TEST_DATABASE_URL is not set"
        ),
    ),
]
