"""API keys for staff, providers and operators: random, shown once, stored hashed."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.ids import new_id
from storage.models import ApiKey

KEY_PREFIX = "hubk_"


class Role(StrEnum):
    MUNICIPALITY = "municipality"
    PROVIDER = "provider"
    SUPPORT = "support"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role and, for municipalities and providers, the one scope they act in."""

    role: Role
    scope: str | None
    key_id: str

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.key_id}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(
    session: AsyncSession,
    *,
    role: Role,
    scope: str | None,
    now: datetime,
    label: str | None = None,
    key: str | None = None,
) -> tuple[ApiKey, str]:
    plain = key or KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=new_id("key"),
        key_hash=hash_key(plain),
        role=role.value,
        scope=scope,
        label=label,
        created_at=now,
        revoked_at=None,
        last_used_at=None,
    )
    session.add(row)
    return row, plain


async def principal_for_key(session: AsyncSession, key: str, *, now: datetime) -> Principal | None:
    row = (
        await session.execute(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        await session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
    return Principal(role=Role(row.role), scope=row.scope, key_id=row.id)
