"""Operators read the audit log and have its chain verified (SPEC §5, §6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import Context, Operator
from api.pagination import PageRequest, paging
from api.schemas.operator import AuditEntry as AuditEntryOut
from api.schemas.operator import AuditPage, AuditVerification
from api.views import iso
from storage import audit
from storage.audit_chain import seal, verify
from storage.models.audit import AuditEntry

router = APIRouter(prefix="/v1/operator/audit", tags=["operator"])


def _entry(row: AuditEntry) -> AuditEntryOut:
    detail = json.loads(row.detail) if row.detail else None
    return AuditEntryOut(
        id=row.id,
        seq=row.seq,
        at=iso(row.at) or "",
        actor=row.actor,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        outcome=row.outcome,
        request_id=row.request_id,
        detail=detail if isinstance(detail, dict) else {"value": detail},
        hash=row.hash,
    )


@router.get("")
async def list_audit(
    _: Operator,
    ctx: Context,
    page: Annotated[PageRequest, Depends(paging(default=100, maximum=500))],
    actor: Annotated[str | None, Query(max_length=120)] = None,
    action: Annotated[str | None, Query(max_length=160, description="prefix")] = None,
    object_type: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[str | None, Query(max_length=80)] = None,
    request_id: Annotated[str | None, Query(max_length=160)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditPage:
    """Newest first. `action` matches a prefix (`POST /v1/support` finds every support act)."""
    window = audit.AuditFilter(
        actor, action, object_type, object_id, outcome, request_id, _aware(since), _aware(until)
    )
    async with ctx.sessions() as session:
        found, total = await audit.list_entries(
            session, window, limit=page.fetch, offset=page.offset
        )
    rows, next_cursor = page.page(found)
    return AuditPage(items=[_entry(r) for r in rows], next_cursor=next_cursor, total=total)


def _aware(value: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@router.post("/verify")
async def verify_audit(_: Operator, ctx: Context) -> AuditVerification:
    """Seal what has committed, then recompute the whole chain from its first index."""
    key = ctx.settings.audit_hmac_key.get_secret_value().encode()
    sealed = await seal(ctx.sessions, key)
    async with ctx.sessions() as session:
        report = await verify(session, key)
    return AuditVerification(
        ok=report.ok,
        checked=report.checked,
        head_seq=report.head_seq,
        first_broken=report.first_broken,
        problem=report.problem,
        unsealed=report.unsealed,
        sealed_now=sealed.sealed,
    )
