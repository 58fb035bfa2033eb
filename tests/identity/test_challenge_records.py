"""A challenge costs no write when issued; its use is recorded once (a second use is refused in
the transaction that tries it), and the record is purged once the challenge has expired."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from domain import challenges
from domain.errors import RuleViolation
from services import identity as identity_service
from services.context import HubContext
from storage.identity import purge_spent_challenges, spend_challenge
from storage.models import AuthChallenge
from tests.support.databases import database_context


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[HubContext]:
    async with database_context(tmp_path) as context:
        yield context


async def records(ctx: HubContext) -> int:
    async with ctx.sessions() as session:
        query = select(func.count()).select_from(AuthChallenge)
        return int((await session.execute(query)).scalar_one())


def challenge_at(now: datetime) -> challenges.Challenge:
    key = challenges.challenge_key(b"secret")
    return challenges.issue(key, secrets.token_bytes(16), now=now, ttl=timedelta(minutes=5))


async def test_issuing_writes_nothing_and_a_second_use_is_refused(ctx: HubContext) -> None:
    for _ in range(3):
        await identity_service.new_challenge(ctx)
    assert await records(ctx) == 0
    now = datetime.now(UTC)
    challenge = challenge_at(now)
    async with ctx.sessions.begin() as session:
        await spend_challenge(session, challenge, now=now)
    with pytest.raises(RuleViolation) as refused:
        async with ctx.sessions.begin() as session:
            await spend_challenge(session, challenge, now=now)
    assert refused.value.code == "challenge_used"
    assert await records(ctx) == 1


async def test_only_expired_records_are_purged(ctx: HubContext) -> None:
    now = datetime.now(UTC)
    old = [challenge_at(now - timedelta(minutes=10)) for _ in range(3)]
    live = challenge_at(now)
    async with ctx.sessions.begin() as session:
        for challenge in [*old, live]:
            await spend_challenge(session, challenge, now=now)
    async with ctx.sessions.begin() as session:
        assert await purge_spent_challenges(session, now=now, limit=2) == 2
    async with ctx.sessions.begin() as session:
        assert await purge_spent_challenges(session, now=now, limit=2) == 1
    async with ctx.sessions() as session:
        left = list((await session.execute(select(AuthChallenge.id))).scalars())
    assert left == [live.spent_key]
