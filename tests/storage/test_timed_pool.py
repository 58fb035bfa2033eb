"""`storage.database.TimedPool` reports how long each checkout queued for a connection: the
signal the API admits requests by (`api/shedding.py`)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as NoFreeConnection

from storage.database import TimedPool, create_engine
from tests.support.databases import postgres_server_url

pytestmark = pytest.mark.skipif(
    postgres_server_url() is None, reason="HUB_TEST_DATABASE_URL is not set"
)


async def test_a_checkout_reports_its_wait_for_a_connection_and_none_for_an_idle_one() -> None:
    engine = create_engine(str(postgres_server_url()), pool_size=1, pool_timeout=0.3)
    waits: list[float] = []
    pool = engine.pool
    assert isinstance(pool, TimedPool)
    pool.on_wait = waits.append
    try:
        async with engine.connect() as first:  # the pool opens it: no queue
            await first.execute(text("select 1"))
        async with engine.connect() as again:  # the idle one is taken
            await again.execute(text("select 1"))
        assert waits and max(waits) < 0.05
        waits.clear()

        async with engine.connect() as one, engine.connect() as two:  # one and its overflow
            await one.execute(text("select 1"))
            await two.execute(text("select 1"))

            async def third() -> None:
                async with engine.connect() as three:
                    await three.execute(text("select 1"))

            waiting = asyncio.create_task(third())
            await asyncio.sleep(0.15)
            await one.close()  # back to the pool: the third checkout takes it
            await waiting
        assert 0.1 <= max(waits) < 0.3

        waits.clear()
        async with engine.connect() as one, engine.connect() as two:
            with pytest.raises(NoFreeConnection):  # none comes back: the pool's timeout
                async with engine.connect():
                    pass
        assert max(waits) >= 0.3

        await engine.dispose()  # a new pool keeps reporting
        assert engine.pool is not pool and isinstance(engine.pool, TimedPool)
        waits.clear()
        async with engine.connect() as after:
            await after.execute(text("select 1"))
        assert waits == [0.0] or (len(waits) == 1 and waits[0] < 0.05)
    finally:
        await engine.dispose()
