"""Run Alembic migrations from code, so `mph migrate` and tests need no alembic.ini."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import sync_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    return config


def scripts() -> ScriptDirectory:
    """The migrations of this code, with their revision graph."""
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Apply every migration; independent branches (several heads) are all applied."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)


class SchemaBehind(RuntimeError):
    """The database lacks migrations this code needs: run `mph migrate` first."""


def unreached_heads(recorded: set[str]) -> list[str]:
    """This code's migration heads that the recorded revisions (`alembic_version`) have not
    reached: a head is reached when it, or a revision after it, is recorded. A revision this code
    does not know comes from a newer release, whose migrations keep older code working (they
    only add), so it counts as reaching everything."""
    script = scripts()
    reached: set[str] = set()
    for revision in recorded:
        try:
            reached.update(r.revision for r in script.iterate_revisions(revision, "base"))
        except RevisionError:  # unknown here: a newer release migrated this database
            return []
    return sorted(head for head in script.get_heads() if head not in reached)


async def check_schema(engine: AsyncEngine) -> None:
    """Refuse to serve on a database that is not migrated to this code. A schema short of a
    migration fails in ways no test of a migrated database sees: without migration 0022's
    trigger, PostgreSQL would grant past a measure's budget (`storage/grants.py`)."""
    connection = engine.connect()
    try:
        await connection.start()
    except DBAPIError as error:  # down for now: readiness says so; the schema is not checked
        log.warning("database not reachable at start, its schema not checked: %s", error)
        return
    try:
        rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
        recorded = {str(row[0]) for row in rows}
    except DBAPIError as error:
        raise SchemaBehind(
            "the database has no migration record (alembic_version): run `mph migrate`"
        ) from error
    finally:
        await connection.close()
    missing = unreached_heads(recorded)
    if missing:
        raise SchemaBehind(
            f"the database is not migrated to this code (missing {', '.join(missing)}): "
            "run `mph migrate`"
        )
