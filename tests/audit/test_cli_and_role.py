"""`mph audit seal|verify` from the command line, and on PostgreSQL the application's own role:
it appends and seals entries, and may neither rewrite nor remove them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from cli.main import app
from hub.settings import get_settings
from storage import audit
from storage.database import create_engine, session_factory
from tests.audit.conftest import disable_guards
from tests.support.databases import fresh_database, postgres_server_url

APP_ROLE = "mph_app"


async def _append_and_tamper(url: str, count: int, *, tamper_seq: int | None) -> None:
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        for n in range(count):
            async with sessions.begin() as session:
                audit.record(
                    session, actor="workflow", action="a", object_type="t", object_id=str(n)
                )
        if tamper_seq is not None:
            await disable_guards(engine)
            async with engine.begin() as connection:
                await connection.execute(
                    text("UPDATE audit_entries SET actor = 'x' WHERE seq = :s"), {"s": tamper_seq}
                )
    finally:
        await engine.dispose()


def test_the_command_seals_verifies_and_reports_the_broken_index(tmp_path: Path) -> None:
    runner = CliRunner()
    get_settings.cache_clear()  # the command reads HUB_* below, not what an earlier test cached
    with fresh_database(tmp_path, backend="sqlite") as url:
        env = {"HUB_DATABASE_URL": url, "HUB_AUDIT_HMAC_KEY": "cli-test-key"}
        asyncio.run(_append_and_tamper(url, 5, tamper_seq=None))
        sealed = runner.invoke(app, ["audit", "seal"], env=env)
        assert sealed.exit_code == 0 and "sealed 5" in sealed.output
        intact = runner.invoke(app, ["audit", "verify"], env=env)
        assert intact.exit_code == 0 and "5 entries" in intact.output
        asyncio.run(_append_and_tamper(url, 0, tamper_seq=3))
        broken = runner.invoke(app, ["audit", "verify"], env=env)
        assert broken.exit_code == 1
        assert "BROKEN at index 3" in broken.output
    get_settings.cache_clear()


@pytest.mark.skipif(postgres_server_url() is None, reason="HUB_TEST_DATABASE_URL is not set")
def test_the_application_role_cannot_rewrite_the_log(tmp_path: Path) -> None:
    server = postgres_server_url()
    assert server is not None
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}')"
            f" THEN CREATE ROLE {APP_ROLE} NOLOGIN; END IF; END $$"
        )
    with fresh_database(tmp_path, backend="postgresql") as url:  # migrated with the role there
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as db:
            db.execute(f"SET ROLE {APP_ROLE}")
            db.execute(
                "INSERT INTO audit_entries (at, actor, action, object_type, object_id, outcome)"
                " VALUES (now(), 'workflow', 'a', 't', '1', 'ok')"
            )
            db.execute("UPDATE audit_entries SET seq = 1, hash = repeat('0', 64)")  # sealing
            for statement in (
                "UPDATE audit_entries SET actor = 'someone else'",
                "DELETE FROM audit_entries",
                "TRUNCATE audit_entries",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    db.execute(statement)
            db.execute("RESET ROLE")
            count = db.execute("SELECT count(*) FROM audit_entries").fetchone()
            assert count == (1,)
