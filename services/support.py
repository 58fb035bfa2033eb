"""Support staff: find stuck receipts, read their timelines, act on them, look up a resident."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from domain.errors import RuleViolation
from domain.privacy import refuse_my_numbers
from services.applications import update_application
from services.context import HubContext
from storage import support
from storage.models import Application, Grant, Measure, MyKey, Receipt, ReceiptEvent
from storage.receipts import get_receipt
from workflows.application import ApplicationWorkflow
from workflows.messages import ResumeRequest, SupportAction, SupportOutcome

WORKFLOW_ACTIONS = ("retry_now", "check_provider_status", "return_to_unreceived")
ACTIONS = (*WORKFLOW_ACTIONS, "add_note")


def rules(ctx: HubContext) -> support.StuckRules:
    return support.StuckRules(
        attempts=ctx.settings.stuck_attempts, age=timedelta(seconds=ctx.settings.stuck_age_s)
    )


def temporal_link(ctx: HubContext, workflow_id: str) -> str:
    base = ctx.settings.temporal_ui_url.rstrip("/")
    namespace = quote(ctx.settings.temporal_namespace, safe="")
    return f"{base}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"


async def stuck(
    ctx: HubContext,
    *,
    older_than_s: int | None,
    provider_id: str | None,
    state: str | None,
    municipality_code: str | None,
    limit: int,
    offset: int,
) -> tuple[list[support.StuckReceipt], int]:
    async with ctx.sessions() as session:
        return await support.stuck_receipts(
            session,
            rules(ctx),
            now=ctx.clock(),
            older_than=None if older_than_s is None else timedelta(seconds=older_than_s),
            provider_id=provider_id,
            state=state,
            municipality_code=municipality_code,
            limit=limit,
            offset=offset,
        )


@dataclass
class ReceiptDetail:
    receipt: Receipt
    grant: Grant
    measure: Measure
    timeline: list[ReceiptEvent]
    reasons: list[str]
    workflow_link: str


async def detail(ctx: HubContext, receipt_id: str) -> ReceiptDetail:
    async with ctx.sessions() as session:
        receipt = await get_receipt(session, receipt_id)
        grant = await session.get(Grant, receipt.grant_id)
        measure = await session.get(Measure, receipt.measure_id)
        assert grant is not None and measure is not None
        events = await support.timeline(session, receipt_id)
    reasons, _ = support.stuck_reasons(receipt, rules(ctx), ctx.clock())
    if receipt.state in support.FINAL:
        reasons = []
    return ReceiptDetail(
        receipt, grant, measure, events, reasons, temporal_link(ctx, receipt.workflow_id)
    )


async def act(
    ctx: HubContext, receipt_id: str, *, action: str, note: str | None, actor: str
) -> SupportOutcome:
    """Every action is on the receipt's timeline, with who did it and why."""
    if action not in ACTIONS:
        raise RuleViolation("unknown_action", f"action must be one of {list(ACTIONS)}", status=422)
    refuse_my_numbers(note=note)
    if action == "add_note":
        if not (note or "").strip():
            raise RuleViolation("note_required", "add_note needs a note", status=422)
        async with ctx.sessions.begin() as session:
            receipt = await get_receipt(session, receipt_id)
            support.add_note(session, receipt, (note or "").strip(), actor=actor, now=ctx.clock())
        return SupportOutcome(receipt_id, action, receipt_state=receipt.state, message="noted")
    async with ctx.sessions() as session:
        receipt = await get_receipt(session, receipt_id)
        grant = await session.get(Grant, receipt.grant_id)
        assert grant is not None
        application = await session.get(Application, grant.application_id)
        assert application is not None
    outcome = await _act_on_workflow(
        ctx, application, receipt, SupportAction(receipt_id, action, actor=actor, note=note)
    )
    if note:
        async with ctx.sessions.begin() as session:
            support.add_note(session, receipt, f"{action}: {note}", actor=actor, now=ctx.clock())
    return outcome


async def _act_on_workflow(
    ctx: HubContext, application: Application, receipt: Receipt, action: SupportAction
) -> SupportOutcome:
    """The action, by the application's workflow. A receipt still open whose workflow ended
    (older code failed workflows on provider errors) is taken up by a new run first: the
    action then finds it there, as does every answer after it. A final receipt is refused
    here, as its workflow would (its workflow may have ended: an update would start an empty
    run only to answer `not_found`)."""
    if receipt.state in support.FINAL:
        raise RuleViolation("receipt_final", f"the receipt is already {receipt.state}", status=409)
    try:
        outcome: SupportOutcome = await update_application(
            ctx, application, ApplicationWorkflow.support_action, action
        )
        return outcome
    except RuleViolation as refused:
        if refused.code != "not_found":
            raise
        # Taken up now, or by the resident's receipt request that was still adding it when the
        # action arrived: either way the workflow carries it when the action is sent again
        # (and refuses it again, `not_found`, if it still does not).
        await update_application(
            ctx, application, ApplicationWorkflow.resume_receipts, ResumeRequest("support")
        )
    outcome = await update_application(ctx, application, ApplicationWorkflow.support_action, action)
    return outcome


async def resident(ctx: HubContext, mykey_id: str) -> support.ResidentOverview:
    async with ctx.sessions() as session:
        mykey = await session.get(MyKey, mykey_id.strip().upper())
        if mykey is None:
            raise RuleViolation("not_found", "no such MyKey ID", status=404)
        return await support.resident_overview(session, mykey)
