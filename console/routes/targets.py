"""Target lists: upload a CSV of MyKey IDs (with progress), see every bad row, clear a draft's list.

The upload goes to the same import as `PUT …/targets`: checked whole, imported whole. With htmx
the form posts in the background, a progress bar follows the upload and the result replaces the
result area; without script the form posts and the page comes back with the same result.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from starlette.datastructures import UploadFile

from api.deps import Context
from api.routers.municipality_targets import MAX_BYTES
from console.auth import CsrfChecked, StaffUser
from console.pages import is_htmx, redirect, render, translator
from domain.errors import RuleViolation
from services import measures, targets

from . import console_router

router = console_router()


async def _page(
    request: Request, user: StaffUser, ctx: Context, measure_id: str, **result: Any
) -> Response:
    measure = await measures.owned_measure(ctx, user.code, measure_id)
    total = await targets.count(ctx, user.code, measure_id)
    status = int(result.pop("status", 200))
    context = {"measure": measure, "total": total, "max_bytes": MAX_BYTES, **result}
    template = "partials/target_result.html" if is_htmx(request) else "measures/targets.html"
    return render(request, template, context, status=status)


@router.get("/measures/{measure_id}/targets")
async def target_page(request: Request, measure_id: str, user: StaffUser, ctx: Context) -> Response:
    return await _page(request, user, ctx, measure_id)


async def _file_bytes(upload: UploadFile) -> bytes:
    data = await upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise RuleViolation(
            "payload_too_large", f"a target list file is at most {MAX_BYTES} bytes", status=413
        )
    return data


@router.post("/measures/{measure_id}/targets", dependencies=[CsrfChecked])
async def upload_targets(
    request: Request, measure_id: str, user: StaffUser, ctx: Context
) -> Response:
    await measures.owned_measure(ctx, user.code, measure_id)  # another tenant's: 404 first
    upload = (await request.form()).get("file")
    t = translator(request)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _page(
            request, user, ctx, measure_id, problem=t("targets.choose_file"), status=422
        )
    try:
        imported = await targets.import_targets(
            ctx, user.code, measure_id, await _file_bytes(upload)
        )
    except RuleViolation as refused:
        if refused.status == 404:
            raise
        return await _page(
            request,
            user,
            ctx,
            measure_id,
            problem=t.error(refused.code, refused.detail),
            row_errors=refused.extra.get("errors", []),
            error_count=refused.extra.get("error_count", 0),
            status=refused.status,
        )
    return await _page(request, user, ctx, measure_id, imported=imported, filename=upload.filename)


@router.post("/measures/{measure_id}/targets/clear", dependencies=[CsrfChecked])
async def clear_targets(
    request: Request, measure_id: str, user: StaffUser, ctx: Context
) -> Response:
    removed = await targets.clear_targets(ctx, user.code, measure_id)
    return redirect(
        request, f"/console/measures/{measure_id}/targets", "flash.targets_cleared", count=removed
    )
