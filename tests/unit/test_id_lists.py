from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.id_lists import chunks, one_of
from storage.models import Receipt


def _session(dialect: Any) -> AsyncSession:
    bind = SimpleNamespace(dialect=dialect)
    return cast(AsyncSession, SimpleNamespace(get_bind=lambda: bind))


def _sql(dialect: Any, ids: list[str]) -> str:
    statement = select(Receipt.id).where(one_of(_session(dialect), Receipt.id, ids))
    return str(statement.compile(dialect=dialect))


def test_postgresql_matches_any_number_of_ids_with_one_statement_text() -> None:
    dialect = postgresql.psycopg.dialect()
    few, many = _sql(dialect, ["a"]), _sql(dialect, [f"r{i}" for i in range(500)])
    assert few == many
    assert "= ANY (%(param_1)s::VARCHAR[])" in many


def test_other_databases_get_an_in_list() -> None:
    assert "IN (__[POSTCOMPILE_id_1])" in _sql(sqlite.dialect(), ["a", "b"])


def test_ids_come_in_parts_of_at_most_five_hundred() -> None:
    parts = list(chunks([str(i) for i in range(1201)]))
    assert [len(p) for p in parts] == [500, 500, 201]
