"""Target lists in the database: imported, checked and counted with set-based SQL.

A list of 100,000 MyKey IDs must not cost 100,000 statements. Each batch travels as one
parameter (a PostgreSQL array, a JSON array on SQLite) and is joined or inserted by a single
statement, so an upload costs a few dozen round trips whatever its size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import delete, exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import MeasureTarget

BATCH = 10_000


def batches(values: Sequence[str], size: int = BATCH) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _id_rows(session: AsyncSession) -> str:
    """A row source of the `:ids` parameter, one row per ID in a column named `value`."""
    if session.get_bind().dialect.name == "postgresql":
        return "unnest(CAST(:ids AS varchar[])) AS ids(value)"
    return "json_each(:ids) AS ids"


def _ids_param(session: AsyncSession, ids: Sequence[str]) -> Any:
    return list(ids) if session.get_bind().dialect.name == "postgresql" else json.dumps(list(ids))


async def unknown_mykeys(session: AsyncSession, mykey_ids: Sequence[str]) -> set[str]:
    """The IDs of `mykey_ids` that the hub never issued (typos, another system's IDs)."""
    missing: set[str] = set()
    for batch in batches(mykey_ids):
        rows = await session.execute(
            text(
                f"SELECT ids.value FROM {_id_rows(session)} "
                "WHERE NOT EXISTS (SELECT 1 FROM mykeys k WHERE k.mykey_id = ids.value)"
            ),
            {"ids": _ids_param(session, batch)},
        )
        missing.update(str(v) for (v,) in rows.all())
    return missing


async def add_targets(session: AsyncSession, measure_id: str, mykey_ids: Sequence[str]) -> int:
    """Add IDs to a measure's list; IDs already on it are left alone. Returns how many were new."""
    added = 0
    for batch in batches(mykey_ids):
        result = await session.execute(
            text(
                "INSERT INTO measure_targets (measure_id, mykey_id) "
                f"SELECT :measure_id, ids.value FROM {_id_rows(session)} WHERE true "
                "ON CONFLICT DO NOTHING"
            ),
            {"measure_id": measure_id, "ids": _ids_param(session, batch)},
        )
        added += max(int(result.rowcount), 0)  # type: ignore[attr-defined]
    return added


async def count_targets(session: AsyncSession, measure_id: str) -> int:
    query = select(func.count()).select_from(MeasureTarget)
    return int(
        (await session.execute(query.where(MeasureTarget.measure_id == measure_id))).scalar_one()
    )


async def clear_targets(session: AsyncSession, measure_id: str) -> int:
    result = await session.execute(
        delete(MeasureTarget).where(MeasureTarget.measure_id == measure_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def is_target(session: AsyncSession, measure_id: str, mykey_id: str) -> bool:
    query = select(
        exists().where(MeasureTarget.measure_id == measure_id, MeasureTarget.mykey_id == mykey_id)
    )
    return bool((await session.execute(query)).scalar_one())
