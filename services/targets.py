"""Target lists as staff upload them: checked whole, imported whole, in set-based batches.

An upload adds its MyKey IDs to the measure's list; IDs already listed are left as they are, so
uploading the same file twice changes nothing, and a large list can arrive in several files.
Nobody is taken off a published list (their eligibility has been announced); a draft's list can
be cleared and uploaded again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from domain.errors import RuleViolation
from domain.measures import MeasureState
from domain.targets import RowError, parse_target_csv, refuse
from services.context import HubContext
from services.measures import ensure_measure_workflow, owned_measure
from storage import targets
from storage.catalog import get_measure
from storage.models import Measure


@dataclass(frozen=True)
class TargetImport:
    received: int  # MyKey IDs in the file
    added: int  # newly on the list
    total: int  # on the list now


def _check_accepts_targets(measure: Measure) -> None:
    if not measure.target_list_only:
        raise RuleViolation(
            "not_a_target_list_measure",
            "this measure is open to every resident; it has no target list",
            status=409,
        )
    if measure.state == MeasureState.CLOSED.value:
        raise RuleViolation(
            "invalid_measure_state", "a closed measure's target list cannot change", status=409
        )


async def import_targets(
    ctx: HubContext, municipality_code: str, measure_id: str, data: bytes
) -> TargetImport:
    measure = await owned_measure(ctx, municipality_code, measure_id)
    _check_accepts_targets(measure)
    parsed = await asyncio.to_thread(parse_target_csv, data)
    async with ctx.sessions.begin() as session:
        measure = await get_measure(session, measure_id)
        _check_accepts_targets(measure)
        unknown = await targets.unknown_mykeys(session, parsed.mykey_ids)
        if unknown:
            raise refuse(
                [
                    RowError(line, "no such MyKey ID", mykey_id)
                    for mykey_id, line in zip(parsed.mykey_ids, parsed.lines, strict=True)
                    if mykey_id in unknown
                ]
            )
        added = await targets.add_targets(session, measure_id, parsed.mykey_ids)
        total = await targets.count_targets(session, measure_id)
    if measure.auto_grant and measure.state == MeasureState.PUBLISHED.value:
        # Also when nothing was new: a repeated upload after a failed signal still gets granted.
        await ensure_measure_workflow(ctx, measure, targets_added=True)
    return TargetImport(received=len(parsed.mykey_ids), added=added, total=total)


async def clear_targets(ctx: HubContext, municipality_code: str, measure_id: str) -> int:
    """Empty a draft's list (a wrong file was uploaded); a published list only grows."""
    await owned_measure(ctx, municipality_code, measure_id)
    async with ctx.sessions.begin() as session:
        measure = await get_measure(session, measure_id)
        if measure.state != MeasureState.DRAFT.value:
            raise RuleViolation(
                "measure_not_draft", "only a draft measure's target list can be cleared", status=409
            )
        return await targets.clear_targets(session, measure_id)


async def count(ctx: HubContext, municipality_code: str, measure_id: str) -> int:
    await owned_measure(ctx, municipality_code, measure_id)
    async with ctx.sessions() as session:
        return await targets.count_targets(session, measure_id)
