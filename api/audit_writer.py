"""Group commit for the audit entries of API requests.

Every state-changing request waits until its audit entry is committed before it answers. Written
one transaction per request, that is a transaction of its own for every call; here the entries of
the requests that finish while one transaction is being committed go together into the next one.
Each request still waits for its own entry, so nothing answers before it is on the record.

The entries are built by `storage.audit.entry` (the same redaction and limits as every other
entry) and written with one Core `INSERT` of all their rows: no unit of work to flush, and no
entry object kept in a session.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import audit
from storage.models.audit import AuditEntry

log = logging.getLogger(__name__)

_BATCH = 500
_TABLE = cast(Table, AuditEntry.__table__)
_COLUMNS = [column.key for column in _TABLE.columns if not column.primary_key]


def _rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    built = [audit.entry(**entry) for entry in entries]
    return [{key: getattr(made, key) for key in _COLUMNS} for made in built]


class AuditWriter:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def write(self, **entry: Any) -> None:
        """Append one entry (the arguments of `storage.audit.record`); return once committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, done))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        await asyncio.shield(done)  # a request that goes away still leaves its entry

    async def close(self) -> None:
        """Wait for every entry handed in so far."""
        while self._draining is not None and not self._draining.done():
            await self._draining

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:_BATCH], self._pending[_BATCH:]
            try:
                await self._commit([entry for entry, _ in batch])
            except Exception:
                # One bad entry must not cost the others theirs: each alone, as before.
                for entry, done in batch:
                    try:
                        await self._commit([entry])
                    except Exception as error:
                        done.set_exception(error)
                    else:
                        done.set_result(None)
            else:
                for _, done in batch:
                    done.set_result(None)

    async def _commit(self, entries: list[dict[str, Any]]) -> None:
        rows = _rows(entries)
        async with self._sessions.begin() as session:
            connection = await session.connection()
            await connection.execute(insert(_TABLE), rows)
