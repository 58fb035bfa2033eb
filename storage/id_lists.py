"""Many IDs in one statement: in parts of `CHUNK`, each matched as one array parameter on
PostgreSQL (`= ANY(:ids)`) and as an `IN (...)` list elsewhere.

An `IN` list of five hundred parameters makes a statement text of its own for every length,
which SQLAlchemy expands and psycopg parses again on each execution (its cache of parsed
queries keeps only short ones); an array is one parameter, and the statement is the same text
whatever the number of IDs (docs/benchmarks.md, the receipt wave's recording).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

CHUNK = 500  # IDs a statement: well below every backend's parameter limit


def chunks(values: Sequence[str], size: int = CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def one_of(
    session: AsyncSession, column: InstrumentedAttribute[Any], ids: Collection[str]
) -> ColumnElement[bool]:
    """`column` is one of `ids`."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(String)))
    return column.in_(list(ids))
