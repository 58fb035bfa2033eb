"""Platform operators suspend, resume and revoke MyKey IDs, each with a stated reason (SPEC §5)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Context, Operator
from api.schemas.operator import MyKeyOverview, MyKeyRevocation, MyKeyStatusChange, ReasonBody
from api.views import iso
from services import mykeys
from storage.identity import StatusChange

router = APIRouter(prefix="/v1/operator/mykeys", tags=["operator"])


def _change_view(change: StatusChange) -> dict[str, Any]:
    return {
        "mykey_id": change.mykey_id,
        "status": change.to_status.value,
        "previous_status": change.from_status.value,
        "changed_at": iso(change.at),
    }


@router.post("/{mykey_id}/suspend", response_model=MyKeyStatusChange)
async def suspend(
    mykey_id: str, body: ReasonBody, operator: Operator, ctx: Context
) -> dict[str, Any]:
    """Fraud suspected: no login, no card proof, no new receipt; in-flight work holds."""
    change = await mykeys.suspend(ctx, mykey_id, reason=body.reason, actor=operator.actor)
    return _change_view(change)


@router.post("/{mykey_id}/resume", response_model=MyKeyStatusChange)
async def resume(
    mykey_id: str, body: ReasonBody, operator: Operator, ctx: Context
) -> dict[str, Any]:
    change = await mykeys.resume(ctx, mykey_id, reason=body.reason, actor=operator.actor)
    return _change_view(change)


@router.post("/{mykey_id}/revoke", response_model=MyKeyRevocation)
async def revoke(
    mykey_id: str, body: ReasonBody, operator: Operator, ctx: Context
) -> dict[str, Any]:
    """Irreversible: every point not yet credited is forfeited and never restored (FAQ)."""
    result = await mykeys.revoke(ctx, mykey_id, reason=body.reason, actor=operator.actor)
    return {
        "mykey_id": result.mykey_id,
        "status": "revoked",
        "previous_status": result.previous_status,
        "changed_at": iso(result.revoked_at),
        "forfeited_grant_ids": result.forfeited_grant_ids,
        "signalled_workflows": result.signalled_workflows,
    }


@router.get("/{mykey_id}", response_model=MyKeyOverview)
async def get_mykey(mykey_id: str, _: Operator, ctx: Context) -> dict[str, Any]:
    found = await mykeys.overview(ctx, mykey_id)
    return {
        "mykey_id": found.mykey.mykey_id,
        "status": found.mykey.status,
        "issued_at": iso(found.mykey.issued_at),
        "status_changed_at": iso(found.mykey.status_changed_at),
        "certificates": [
            {
                "serial_hex": c.serial_hex,
                "predecessor_serial_hex": c.predecessor_serial_hex,
                "not_before": iso(c.not_before),
                "not_after": iso(c.not_after),
                "bound_at": iso(c.bound_at),
            }
            for c in found.certificates
        ],
        "history": [
            {
                "from_status": h.from_status,
                "to_status": h.to_status,
                "reason": h.reason,
                "actor": h.actor,
                "at": iso(h.at),
            }
            for h in found.history
        ],
    }
