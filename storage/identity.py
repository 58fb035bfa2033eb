"""Challenges, MyKey IDs bound to certificate serials, and resident sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.jpki.verifier import VerifiedCertificate
from domain.errors import RuleViolation
from domain.identifiers import new_mykey_id
from storage.ids import new_id
from storage.models import AuthChallenge, CertificateBinding, MyKey, ResidentSession

SESSION_PREFIX = "hubs_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_challenge(
    session: AsyncSession, *, now: datetime, ttl: timedelta
) -> AuthChallenge:
    challenge = AuthChallenge(
        id=new_id("chl"),
        nonce=secrets.token_bytes(32),
        created_at=now,
        expires_at=now + ttl,
        used_at=None,
    )
    session.add(challenge)
    return challenge


async def consume_challenge(session: AsyncSession, challenge_id: str, *, now: datetime) -> bytes:
    """The nonce of a challenge, which can be consumed once and only before it expires."""
    challenge = await session.get(AuthChallenge, challenge_id)
    if challenge is None:
        raise RuleViolation("unknown_challenge", "no such challenge", status=401)
    if challenge.used_at is not None:
        raise RuleViolation("challenge_used", "this challenge was already used", status=401)
    if now >= challenge.expires_at:
        raise RuleViolation("challenge_expired", "this challenge has expired", status=401)
    result = await session.execute(
        update(AuthChallenge)
        .where(AuthChallenge.id == challenge_id, AuthChallenge.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise RuleViolation("challenge_used", "this challenge was already used", status=401)
    return challenge.nonce


async def binding_for(session: AsyncSession, serial_hex: str) -> CertificateBinding | None:
    return await session.get(CertificateBinding, serial_hex)


def check_mykey_usable(mykey: MyKey) -> None:
    if mykey.status == "revoked":
        raise RuleViolation("mykey_revoked", "this MyKey ID has been revoked", status=403)
    if mykey.status == "suspended":
        raise RuleViolation("mykey_suspended", "this MyKey ID is suspended", status=403)


@dataclass(frozen=True)
class Identity:
    mykey_id: str
    issued: bool  # True when this login created the MyKey ID


async def bind_certificate(
    session: AsyncSession,
    certificate: VerifiedCertificate,
    *,
    now: datetime,
    predecessor_mykey_id: str | None = None,
    predecessor_serial_hex: str | None = None,
) -> Identity:
    """The MyKey ID of a verified certificate: known, inherited from its predecessor, or new."""
    binding = await binding_for(session, certificate.serial_hex)
    if binding is not None:
        mykey = await session.get(MyKey, binding.mykey_id)
        assert mykey is not None
        check_mykey_usable(mykey)
        return Identity(mykey.mykey_id, issued=False)
    issued = predecessor_mykey_id is None
    if predecessor_mykey_id is not None:
        mykey = await session.get(MyKey, predecessor_mykey_id)
        assert mykey is not None
        check_mykey_usable(mykey)
        mykey_id = mykey.mykey_id
    else:
        mykey_id = await _insert_new_mykey(session, now)
    session.add(
        CertificateBinding(
            serial_hex=certificate.serial_hex,
            mykey_id=mykey_id,
            issuer_fingerprint=certificate.issuer_fingerprint,
            not_before=certificate.not_before,
            not_after=certificate.not_after,
            predecessor_serial_hex=predecessor_serial_hex,
            bound_at=now,
        )
    )
    await session.flush()
    return Identity(mykey_id, issued=issued)


async def _insert_new_mykey(session: AsyncSession, now: datetime) -> str:
    for _ in range(10):
        candidate = new_mykey_id()
        try:
            async with session.begin_nested():
                session.add(
                    MyKey(
                        mykey_id=candidate, status="active", issued_at=now, status_changed_at=None
                    )
                )
        except IntegrityError:
            continue
        return candidate
    raise RuntimeError("could not draw an unused MyKey ID")


async def open_session(
    session: AsyncSession, *, mykey_id: str, serial_hex: str, now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + ttl
    session.add(
        ResidentSession(
            token_hash=token_hash(token),
            mykey_id=mykey_id,
            serial_hex=serial_hex,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token, expires_at


async def resident_for_token(session: AsyncSession, token: str, *, now: datetime) -> MyKey:
    row = await session.get(ResidentSession, token_hash(token))
    if row is None or now >= row.expires_at:
        raise RuleViolation("unauthenticated", "the session is missing or has expired", status=401)
    mykey = await session.get(MyKey, row.mykey_id)
    assert mykey is not None
    check_mykey_usable(mykey)
    return mykey


async def count_mykeys(session: AsyncSession) -> int:
    from sqlalchemy import func

    return int((await session.execute(select(func.count()).select_from(MyKey))).scalar_one())
