"""The `direct` variant's one background process: each `batch_file` provider's dispatch rounds
in a plain loop (`services.direct_orchestration.run_batch_dispatchers`), where the hub runs a
dispatcher workflow. Every other step of the direct lifecycle runs inside the API process that
takes it.

`python -m bench.direct_worker`, configured like `mph worker` by the HUB_* environment with
HUB_ORCHESTRATION=direct.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from hub.audit_sealer import run_sealer
from hub.exit import exit_process
from hub.logs import configure_logging
from hub.settings import get_settings
from services.direct_orchestration import run_batch_dispatchers
from services.orchestration import DIRECT
from storage.database import create_engine, session_factory

log = logging.getLogger("bench.direct_worker")


async def main() -> None:
    settings = get_settings()
    if settings.orchestration != DIRECT:
        raise SystemExit("bench.direct_worker needs HUB_ORCHESTRATION=direct")
    configure_logging("mph-direct-worker", fmt=settings.log_format, level=settings.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    engine = create_engine(settings.effective_database_url, pool_size=2)
    sealer = asyncio.create_task(  # as `mph worker` does
        run_sealer(
            session_factory(engine),
            settings.audit_hmac_key.get_secret_value().encode(),
            stop,
            interval_s=settings.audit_seal_interval_s,
        )
    )
    log.info("direct batch dispatch started")
    try:
        await run_batch_dispatchers(settings, stop=stop)
    finally:
        stop.set()
        await sealer
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
    exit_process(0)
