"""The audit sealer as a background loop of the worker process (see `storage/audit_chain.py`).

Entries become part of the chain within about one interval of their commit. A failing pass
(the database restarting) is logged and tried again at the next interval; the worker keeps
running, and nothing is lost: unsealed entries wait in the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from storage.audit_chain import seal
from storage.database import SessionFactory

log = logging.getLogger(__name__)


async def run_sealer(
    sessions: SessionFactory, key: bytes, stop: asyncio.Event, *, interval_s: float = 1.0
) -> None:
    while not stop.is_set():
        try:
            report = await seal(sessions, key)
            if report.sealed:
                # The head in the logs is a witness outside the database: a head rewritten
                # later disagrees with what the logs saw.
                log.info(
                    "audit entries sealed",
                    extra={
                        "sealed": report.sealed,
                        "audit_seq": report.last_seq,
                        "audit_hash": report.last_hash,
                    },
                )
        except Exception:
            log.exception("audit sealing failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
