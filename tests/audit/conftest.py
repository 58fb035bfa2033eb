"""Fresh databases for the audit tests: SQLite always, PostgreSQL when it is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import SessionFactory, create_engine, session_factory
from tests.support.databases import BACKENDS, fresh_database

KEY = b"audit-test-key"


@pytest.fixture(params=BACKENDS)
def audit_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path, backend=request.param) as url:
        yield url


@pytest.fixture
async def audit_engine(audit_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(audit_db_url, pool_size=4)  # the PostgreSQL server is shared
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def audit_sessions(audit_engine: AsyncEngine) -> SessionFactory:
    return session_factory(audit_engine)


async def disable_guards(engine: AsyncEngine) -> None:
    """What an attacker with the database owner's powers does before rewriting the log."""
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
            await connection.execute(text("ALTER TABLE audit_chain_head DISABLE TRIGGER USER"))
        else:
            for name in (
                "audit_entries_no_delete",
                "audit_entries_sealed",
                "audit_entries_content",
                "audit_chain_head_no_delete",
                "audit_chain_head_forward",
            ):
                await connection.execute(text(f"DROP TRIGGER {name}"))
