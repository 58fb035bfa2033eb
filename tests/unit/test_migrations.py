"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from api.app import create_app
from hub.settings import Settings
from storage.database import create_engine as create_async_engine
from storage.migrate import SchemaBehind, check_schema, scripts, unreached_heads, upgrade
from storage.models import Base


def test_migrations_match_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_every_revision_is_reachable_from_the_heads() -> None:
    script = scripts()
    revisions = list(script.walk_revisions())
    assert revisions
    assert all(r.down_revision is None or r.down_revision for r in revisions)


def test_the_heads_a_database_has_not_reached() -> None:
    heads = scripts().get_heads()
    assert unreached_heads(set(heads)) == []
    assert unreached_heads(set()) == sorted(heads)
    behind = {h for h in heads if h != "0022"} | {"0021"}  # the budget trigger's migration not run
    assert unreached_heads(behind) == ["0022"]
    assert unreached_heads({"9999"}) == []  # a newer release's revision: it only added


async def test_the_schema_check_refuses_a_database_short_of_a_migration(tmp_path: Path) -> None:
    migrated = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade(migrated)
    engine = create_async_engine(migrated)
    await check_schema(engine)
    await engine.dispose()

    behind = f"sqlite:///{tmp_path / 'behind.db'}"
    upgrade(behind, "0021")
    engine = create_async_engine(behind)
    with pytest.raises(SchemaBehind, match=r"missing .*0022.*mph migrate"):
        await check_schema(engine)
    await engine.dispose()

    engine = create_async_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaBehind, match="no migration record"):
        await check_schema(engine)
    await engine.dispose()


async def test_a_database_not_reachable_at_start_is_left_to_readiness() -> None:
    engine = create_async_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")  # nothing there
    await check_schema(engine)  # no answer is no refusal: /readyz reports it until it is up
    await engine.dispose()


async def test_the_api_does_not_start_on_a_database_short_of_a_migration(tmp_path: Path) -> None:
    behind = f"sqlite:///{tmp_path / 'behind.db'}"
    upgrade(behind, "0021")
    app = create_app(Settings(database_url=behind, data_dir=tmp_path))
    with pytest.raises(SchemaBehind, match="0022"):
        async with app.router.lifespan_context(app):
            pass
