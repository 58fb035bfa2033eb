"""Challenges, MyKey IDs bound to certificate serials, resident sessions, MyKey status changes.

Nothing secret is kept: a spent challenge is recorded by its random part only, a session token
is stored as its SHA-256 only, and a certificate is known by its serial and dates, never by its
holder.

The statements of every login and resident request (the session's resident, the challenge spent,
the session opened, a first login's MyKey ID and binding) are built once and run as Core on the
transaction's connection: no statement built per call, no ORM loading or unit of work. A
resident read that way is a `MyKey` not attached to the session; it is only read.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from adapters.jpki.verifier import VerifiedCertificate
from domain.challenges import Challenge
from domain.errors import RuleViolation
from domain.identifiers import new_mykey_id
from domain.mykeys import MyKeyAction, MyKeyStatus, check_usable, next_status
from storage.models.identity import (
    AuthChallenge,
    CertificateBinding,
    MyKey,
    MyKeyStatusChange,
    ResidentSession,
)

SESSION_PREFIX = "hubs_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _table(model: type[DeclarativeBase]) -> Table:
    return cast(Table, model.__table__)


async def _run(session: AsyncSession, statement: Any, parameters: dict[str, Any]) -> Any:
    """A prebuilt Core statement on the session's connection, in its transaction."""
    return await (await session.connection()).execute(statement, parameters)


_SPEND = insert(_table(AuthChallenge))
_NEW_MYKEY = insert(_table(MyKey))
_NEW_BINDING = insert(_table(CertificateBinding))
_NEW_SESSION = insert(_table(ResidentSession))
_BOUND_TO = select(CertificateBinding.mykey_id).where(
    CertificateBinding.serial_hex == bindparam("serial_hex")
)
_MYKEY_STATUS = select(MyKey.status).where(MyKey.mykey_id == bindparam("mykey_id"))


# ----- challenges --------------------------------------------------------------------------


def _used() -> RuleViolation:
    return RuleViolation("challenge_used", "this challenge was already used", status=401)


async def spend_challenge(session: AsyncSession, challenge: Challenge, *, now: datetime) -> None:
    """Record `challenge` as used, in the caller's transaction: the first statement of the login
    or card proof that uses it, so a second use is refused (`challenge_used`) and the loser of two
    concurrent uses rolls back with nothing written. One Core INSERT (no unit of work)."""
    values = {
        "id": challenge.spent_key,
        "nonce": b"",  # nothing to keep: the ID alone proves the hub issued it
        "created_at": now,
        "expires_at": challenge.expires_at,
        "used_at": now,
    }
    try:
        await _run(session, _SPEND, values)
    except IntegrityError as exc:
        raise _used() from exc


async def purge_spent_challenges(session: AsyncSession, *, now: datetime, limit: int) -> int:
    """Forget up to `limit` spent challenges that have expired: an expired one is refused by its
    own expiry, so its record is no longer needed."""
    expired = (
        select(AuthChallenge.id)
        .where(AuthChallenge.expires_at <= now)
        .order_by(AuthChallenge.expires_at)
        .limit(limit)
    )
    ids = list((await session.execute(expired)).scalars())
    if ids:
        await session.execute(delete(AuthChallenge).where(AuthChallenge.id.in_(ids)))
    return len(ids)


# ----- MyKey IDs and their certificates ----------------------------------------------------


async def binding_for(session: AsyncSession, serial_hex: str) -> CertificateBinding | None:
    return await session.get(CertificateBinding, serial_hex)


async def bound_mykey_id(session: AsyncSession, serial_hex: str) -> str | None:
    """The MyKey ID the certificate `serial_hex` is bound to, None when it is bound to none."""
    found: str | None = (await _run(session, _BOUND_TO, {"serial_hex": serial_hex})).scalar()
    return found


async def check_mykey_usable(session: AsyncSession, mykey_id: str) -> None:
    """Refused when the MyKey ID is unknown, suspended or revoked."""
    status = (await _run(session, _MYKEY_STATUS, {"mykey_id": mykey_id})).scalar()
    if status is None:
        raise RuleViolation("not_found", "no such MyKey ID", status=404)
    check_usable(status)


@dataclass(frozen=True)
class Identity:
    mykey_id: str
    issued: bool  # True when this login created the MyKey ID


async def bind_certificate(
    session: AsyncSession,
    certificate: VerifiedCertificate,
    *,
    now: datetime,
    mykey_id: str | None = None,
    predecessor_serial_hex: str | None = None,
    known_unbound: bool = False,
) -> Identity:
    """Bind a verified certificate unknown so far to `mykey_id` (a renewal), or to a new MyKey ID.

    A certificate that is already bound keeps its MyKey ID (`known_unbound`: the caller read in
    this transaction that it is not). A concurrent first login with the same certificate makes
    the flush fail on the serial's primary key, and a new MyKey ID drawn twice (36^8 of them) on
    the MyKey ID's: either way the caller retries its transaction and then finds the binding or
    draws another ID.
    """
    if not known_unbound:
        bound_to = await bound_mykey_id(session, certificate.serial_hex)
        if bound_to is not None:
            await check_mykey_usable(session, bound_to)
            return Identity(bound_to, issued=False)
    issued = mykey_id is None
    if mykey_id is None:
        mykey_id = new_mykey_id()
        new_mykey = {
            "mykey_id": mykey_id,
            "status": MyKeyStatus.ACTIVE.value,
            "issued_at": now,
            "status_changed_at": None,
        }
        await _run(session, _NEW_MYKEY, new_mykey)  # before the binding that refers to it
    else:
        await check_mykey_usable(session, mykey_id)
    binding = {
        "serial_hex": certificate.serial_hex,
        "mykey_id": mykey_id,
        "issuer_fingerprint": certificate.issuer_fingerprint,
        "not_before": certificate.not_before,
        "not_after": certificate.not_after,
        "predecessor_serial_hex": predecessor_serial_hex,
        "bound_at": now,
    }
    await _run(session, _NEW_BINDING, binding)
    return Identity(mykey_id, issued=issued)


@dataclass(frozen=True)
class StatusChange:
    mykey_id: str
    from_status: MyKeyStatus
    to_status: MyKeyStatus
    at: datetime


async def change_status(
    session: AsyncSession,
    mykey_id: str,
    action: MyKeyAction,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> StatusChange:
    """Suspend, resume or revoke, recorded with its reason; conditional on the status read, so of
    two operators racing only one changes it.

    Revocation ends every session. A suspended resident's sessions stay, and every request with
    them is refused with `mykey_suspended` until the MyKey ID is resumed.
    """
    mykey = await session.get(MyKey, mykey_id, populate_existing=True)
    if mykey is None:
        raise RuleViolation("not_found", "no such MyKey ID", status=404)
    current = MyKeyStatus(mykey.status)
    target = next_status(current, action)
    result = await session.execute(
        update(MyKey)
        .where(MyKey.mykey_id == mykey_id, MyKey.status == current.value)
        .values(status=target.value, status_changed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise RuleViolation(
            "mykey_status_conflict", "the MyKey ID changed meanwhile; try again", status=409
        )
    mykey.status, mykey.status_changed_at = target.value, now
    session.add(
        MyKeyStatusChange(
            mykey_id=mykey_id,
            from_status=current.value,
            to_status=target.value,
            reason=reason,
            actor=actor,
            at=now,
        )
    )
    if target is MyKeyStatus.REVOKED:
        await session.execute(delete(ResidentSession).where(ResidentSession.mykey_id == mykey_id))
    return StatusChange(mykey_id, current, target, now)


async def status_history(session: AsyncSession, mykey_id: str) -> list[MyKeyStatusChange]:
    rows = await session.execute(
        select(MyKeyStatusChange)
        .where(MyKeyStatusChange.mykey_id == mykey_id)
        .order_by(MyKeyStatusChange.id)
    )
    return list(rows.scalars())


async def bindings_of(session: AsyncSession, mykey_id: str) -> list[CertificateBinding]:
    rows = await session.execute(
        select(CertificateBinding)
        .where(CertificateBinding.mykey_id == mykey_id)
        .order_by(CertificateBinding.bound_at)
    )
    return list(rows.scalars())


# ----- sessions ----------------------------------------------------------------------------


async def open_session(
    session: AsyncSession, *, mykey_id: str, serial_hex: str, now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + ttl
    values = {
        "token_hash": token_hash(token),
        "mykey_id": mykey_id,
        "serial_hex": serial_hex,
        "created_at": now,
        "expires_at": expires_at,
    }
    await _run(session, _NEW_SESSION, values)
    return token, expires_at


_RESIDENT = (
    select(
        MyKey.mykey_id,
        MyKey.status,
        MyKey.issued_at,
        MyKey.status_changed_at,
        ResidentSession.expires_at,
    )
    .join(ResidentSession, ResidentSession.mykey_id == MyKey.mykey_id)
    .where(ResidentSession.token_hash == bindparam("token_hash"))
)
_RESIDENT_AND_BINDING = _RESIDENT.add_columns(_BOUND_TO.scalar_subquery().label("bound_to"))


def _session_resident(row: Any, now: datetime) -> MyKey:
    if row is None or now >= row.expires_at:
        raise RuleViolation("unauthenticated", "the session is missing or has expired", status=401)
    check_usable(row.status)
    return MyKey(
        mykey_id=row.mykey_id,
        status=row.status,
        issued_at=row.issued_at,
        status_changed_at=row.status_changed_at,
    )


async def resident_for_token(session: AsyncSession, token: str, *, now: datetime) -> MyKey:
    """The resident a session token belongs to, in one query; refused when the session is
    missing or expired, or the MyKey ID is suspended or revoked."""
    row = (await _run(session, _RESIDENT, {"token_hash": token_hash(token)})).one_or_none()
    return _session_resident(row, now)


def resident_query() -> Select[str, str, datetime, datetime | None, datetime]:
    """The session's resident (`resident_for_token`'s one query) for a caller to add columns and
    outer joins to, once, and run with `resident_with`; its parameter is `token_hash`."""
    return _RESIDENT


async def resident_with(
    session: AsyncSession,
    statement: Any,
    token: str,
    parameters: dict[str, Any],
    *,
    now: datetime,
) -> tuple[MyKey, Any]:
    """`resident_for_token` and what `statement` (built on `resident_query()`) reads with it, in
    the same one query: the resident, and the row for the rest."""
    row = (
        await _run(session, statement, {"token_hash": token_hash(token), **parameters})
    ).one_or_none()
    return _session_resident(row, now), row


async def resident_and_binding(
    session: AsyncSession, token: str, serial_hex: str, *, now: datetime
) -> tuple[MyKey, str | None]:
    """`resident_for_token`, and the MyKey ID the certificate `serial_hex` is bound to (None when
    it is bound to none), in the same one query: a card proof reads both."""
    parameters = {"token_hash": token_hash(token), "serial_hex": serial_hex}
    resident, row = await resident_with(session, _RESIDENT_AND_BINDING, token, parameters, now=now)
    return resident, row.bound_to


async def end_session(session: AsyncSession, token: str) -> None:
    await session.execute(
        delete(ResidentSession).where(ResidentSession.token_hash == token_hash(token))
    )


async def count_mykeys(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(MyKey))).scalar_one())


async def count_sessions(session: AsyncSession) -> int:
    query = select(func.count()).select_from(ResidentSession)
    return int((await session.execute(query)).scalar_one())
