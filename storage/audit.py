"""Appending to the audit log and reading it back (SPEC §6).

`record` is called inside the transaction that makes the change it describes, so an entry
exists exactly when the change committed. It only inserts a row: the chain position and the
HMAC come later from the sealer (`storage/audit_chain.py`), so concurrent transactions never
wait on one another to append. Nothing secret reaches an entry: free text is cleared of My
Numbers and fields named like secrets are replaced before the row is built.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec

from sqlalchemy import Select, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from domain.identifiers import redact_my_numbers
from storage.models.audit import AuditEntry

P = ParamSpec("P")

REDACTED = "[redacted]"
# Keys whose values never belong in an entry, whatever the caller passes.
SECRET_KEYS = (
    "security_code",
    "pin",
    "password",
    "secret",
    "secrets",
    "token",
    "private_key",
    "signature",
    "certificate",
    "my_number",
    "authorization",
    "key",
)
MASKED_KEYS = ("account_id",)
TEXT_LIMIT = 500
DETAIL_LIMIT = 4000


def utcnow() -> datetime:
    return datetime.now(UTC)


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith("_id") or lowered == "key_id":
        return False
    return any(lowered == s or lowered.endswith("_" + s) for s in SECRET_KEYS)


def _clean(value: Any, depth: int = 0) -> Any:
    if depth > 5:
        return REDACTED
    if isinstance(value, Mapping):
        cleaned: dict[str, Any] = {}
        for name, inner in value.items():
            name = str(name)
            if _is_secret(name):
                cleaned[name] = REDACTED
            elif name.lower() in MASKED_KEYS and isinstance(inner, str):
                cleaned[name] = "*" * max(len(inner) - 4, 0) + inner[-4:]
            else:
                cleaned[name] = _clean(inner, depth + 1)
        return cleaned
    if isinstance(value, list | tuple):
        return [_clean(v, depth + 1) for v in value[:50]]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact_my_numbers(str(value))[:TEXT_LIMIT]


def encode_detail(detail: Mapping[str, Any] | None) -> str | None:
    """Canonical JSON of `detail` with secrets replaced and My Numbers redacted."""
    if not detail:
        return None
    text = json.dumps(_clean(detail), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if len(text) > DETAIL_LIMIT:
        text = json.dumps({"truncated": text[:DETAIL_LIMIT]}, ensure_ascii=False)
    return text


def _text(value: str | None, limit: int) -> str:
    return redact_my_numbers(value or "")[:limit]


def current_workflow_id() -> str | None:
    """Inside an activity, the workflow it works for: its entries name it as their origin."""
    if not activity.in_activity():
        return None
    return activity.info().workflow_id


def values(
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    outcome: str = "ok",
    request_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """One unsealed entry's columns, redacted and cut to their lengths: a row for `record_many`
    or an `AuditEntry`."""
    return {
        "at": at or utcnow(),
        "actor": _text(actor, 120),
        "action": _text(action, 160),
        "object_type": _text(object_type, 40),
        "object_id": _text(object_id, 200),
        "outcome": _text(outcome, 80),
        "request_id": _text(request_id or current_workflow_id(), 160) or None,
        "detail": encode_detail(detail),
        "sealed_at": None,
        "hash": None,
    }


def _as_entry(build: Callable[P, dict[str, Any]]) -> Callable[P, AuditEntry]:
    def made(*args: P.args, **kwargs: P.kwargs) -> AuditEntry:
        return AuditEntry(**build(*args, **kwargs))

    return made


# One unsealed entry (`values`' arguments), not yet in any session.
entry = _as_entry(values)


async def record_many(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append many entries (`values`) in one statement, without an ORM object per entry: the
    same rows `record` would add, for changes made thousands at a time (a result file)."""
    if rows:
        await session.execute(insert(AuditEntry), list(rows))


def _added(build: Callable[P, AuditEntry]) -> Callable[Concatenate[AsyncSession, P], AuditEntry]:
    def add(session: AsyncSession, /, *args: P.args, **kwargs: P.kwargs) -> AuditEntry:
        made = build(*args, **kwargs)
        session.add(made)
        return made

    return add


# Append one unsealed entry (`entry`'s arguments) to `session`'s transaction; it commits or rolls
# back with it.
record = _added(entry)


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None  # a prefix: "POST /v1/support" finds every support action
    object_type: str | None = None
    object_id: str | None = None
    outcome: str | None = None
    request_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(query: Select[Any], f: AuditFilter) -> Select[Any]:
    exact = {
        AuditEntry.actor: f.actor,
        AuditEntry.object_type: f.object_type,
        AuditEntry.object_id: f.object_id,
        AuditEntry.outcome: f.outcome,
        AuditEntry.request_id: f.request_id,
    }
    for column, value in exact.items():
        if value is not None:
            query = query.where(column == value)
    if f.action is not None:
        query = query.where(AuditEntry.action.startswith(f.action, autoescape=True))
    if f.since is not None:
        query = query.where(AuditEntry.at >= f.since)
    if f.until is not None:
        query = query.where(AuditEntry.at < f.until)
    return query


async def list_entries(
    session: AsyncSession, f: AuditFilter, *, limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    """Newest first (by insertion), with the number of entries matching the filter."""
    rows = await session.scalars(
        _filtered(select(AuditEntry), f).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    )
    total = await session.scalar(_filtered(select(func.count(AuditEntry.id)), f))
    return list(rows), int(total or 0)
