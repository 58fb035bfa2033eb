"""The session's resident is read as it is now, in the transaction that reads it: the prebuilt Core
reads of `storage/identity.py` keep no copy in the session that a status change could leave stale,
and a first login's Core inserts bind the card to a new MyKey ID."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.jpki.verifier import VerifiedCertificate
from domain.errors import RuleViolation
from domain.mykeys import MyKeyAction
from storage import identity
from storage.database import create_engine, session_factory
from tests.support.databases import BACKENDS, fresh_database

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
CERTIFICATE = VerifiedCertificate(
    serial_hex="1f2e3d", issuer_fingerprint="ab" * 32, not_before=NOW, not_after=NOW
)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path, backend=request.param) as url:
        yield url


async def test_a_status_change_shows_at_the_next_read_in_the_same_transaction(
    database_url: str,
) -> None:
    engine = create_engine(database_url, pool_size=2)
    sessions = session_factory(engine)
    try:
        async with sessions.begin() as session:
            bound = await identity.bind_certificate(session, CERTIFICATE, now=NOW)
            token, _ = await identity.open_session(
                session,
                mykey_id=bound.mykey_id,
                serial_hex=CERTIFICATE.serial_hex,
                now=NOW,
                ttl=timedelta(hours=1),
            )
        assert bound.issued
        async with sessions.begin() as session:
            resident, bound_to = await identity.resident_and_binding(
                session, token, CERTIFICATE.serial_hex, now=NOW
            )
            assert (resident.mykey_id, resident.status, bound_to) == (
                bound.mykey_id,
                "active",
                bound.mykey_id,
            )
            assert resident.issued_at == NOW
            await identity.change_status(
                session,
                bound.mykey_id,
                MyKeyAction.SUSPEND,
                reason="check",
                actor="operator:test",
                now=NOW,
            )
            with pytest.raises(RuleViolation) as refused:
                await identity.resident_for_token(session, token, now=NOW)
            assert refused.value.code == "mykey_suspended"
            with pytest.raises(RuleViolation) as refused:
                await identity.check_mykey_usable(session, bound.mykey_id)
            assert refused.value.code == "mykey_suspended"
        async with sessions.begin() as session:  # the same card again: its binding, not a new ID
            with pytest.raises(RuleViolation) as refused:
                await identity.bind_certificate(session, CERTIFICATE, now=NOW)
            assert refused.value.code == "mykey_suspended"
            assert await identity.bound_mykey_id(session, CERTIFICATE.serial_hex) == bound.mykey_id
            assert await identity.bound_mykey_id(session, "ffff") is None
        async with sessions.begin() as session:
            with pytest.raises(RuleViolation) as refused:
                await identity.resident_for_token(session, token, now=NOW + timedelta(hours=1))
            assert refused.value.code == "unauthenticated"
    finally:
        await engine.dispose()
