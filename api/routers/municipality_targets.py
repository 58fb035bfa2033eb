"""Target lists: `PUT …/targets` with a `text/csv` body (header `mykey_id`, up to 100,000 rows).

The body is read raw rather than declared as a schema: it is a file, checked row by row by
`domain/targets.py`, and every bad row comes back with its line number.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import Context, MunicipalityStaff
from api.routers.municipality import staff_of
from api.schemas.municipality import TargetCount, TargetsCleared, TargetUpload
from domain.errors import RuleViolation
from services import measures, targets

router = APIRouter(prefix="/v1/municipalities/{code}", tags=["municipality"])

MAX_BYTES = 8 * 1024 * 1024  # 100,000 IDs take about 1 MB; room for BOM, CRLF, quotes


async def _csv_body(request: Request) -> bytes:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "text/csv":
        raise RuleViolation(
            "unsupported_media_type", "send the target list as text/csv", status=415
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BYTES:
        raise RuleViolation(
            "payload_too_large", f"a target list file is at most {MAX_BYTES} bytes", status=413
        )
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BYTES:
            raise RuleViolation(
                "payload_too_large", f"a target list file is at most {MAX_BYTES} bytes", status=413
            )
    return bytes(body)


@router.put(
    "/measures/{measure_id}/targets",
    response_model=TargetUpload,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "mykey_id\r\n7K3M9Q2X\r\nA1B2C3D4\r\n",
                }
            },
        },
        "x-raw-body": True,  # a file, checked row by row, not a JSON body
    },
)
async def upload_targets(
    code: str, measure_id: str, request: Request, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    """Add the file's MyKey IDs to the list: all or none, idempotent on re-upload."""
    staff_of(staff, code)
    await measures.owned_measure(ctx, code, measure_id)  # an unknown measure is 404 first
    data = await _csv_body(request)
    result = await targets.import_targets(ctx, code, measure_id, data)
    return {
        "measure_id": measure_id,
        "received": result.received,
        "added": result.added,
        "already_listed": result.received - result.added,
        "total": result.total,
    }


@router.get("/measures/{measure_id}/targets", response_model=TargetCount)
async def count_targets(
    code: str, measure_id: str, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    staff_of(staff, code)
    return {"measure_id": measure_id, "total": await targets.count(ctx, code, measure_id)}


@router.delete("/measures/{measure_id}/targets", response_model=TargetsCleared)
async def clear_targets(
    code: str, measure_id: str, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    """Only a draft's list can be emptied; residents on a published list keep their place."""
    staff_of(staff, code)
    removed = await targets.clear_targets(ctx, code, measure_id)
    return {"measure_id": measure_id, "removed": removed, "total": 0}
