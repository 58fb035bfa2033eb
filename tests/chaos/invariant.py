"""The invariant of issue 17, checked after each run against the hub's database, Temporal and the
simulated providers' own ledgers (credits by idempotency key):

- no Application workflow failed, timed out, was terminated, or has a workflow task failing
  again and again (a workflow that would need terminating);
- every receipt ends final in the hub (credited, returned, rejected; forfeited on revocation)
  and exactly once at its provider: credited in the hub ⇔ applied once at the provider,
  anything else ⇔ applied never;
- a grant is credited at most once over all its receipts (`<grant>-r1`, `-r2`, …);
- the points ledger adds up.

One outcome is counted apart, not as a broken run (docs/reliability.md, F5): a provider that
credited a receipt and then sent a signed contradicting `credit.rejected` (the simulator marks
it with the reason `contradiction`) whose rejection reached the hub first, when the provider's
status could not settle it: its `credit.completed` never came again, or the grant had moved on
(a second receipt credited it: the receipt is flagged `provider_double_credit`, the double is
the provider's). The provider's statement brings such a receipt to reconciliation
(`missing_at_hub`). These are `contradictions`; their provider credit is left out of the
grant's count, so a grant the hub credited twice is still a double credit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from domain.points import ledger_adds_up
from domain.receipts import TERMINAL_RECEIPT_STATES
from storage.ledger import ledger_moves
from storage.models import Application, Grant, Receipt
from storage.models.providers import ProviderAcknowledgement
from tests.chaos.stack import ChaosStack

FINAL = {s.value for s in TERMINAL_RECEIPT_STATES}
BAD_ENDINGS = {
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
    WorkflowExecutionStatus.CANCELED,
}


@dataclass
class Verdict:
    """What one run ended with; `problems` empty when the invariant holds."""

    receipts: Counter[str] = field(default_factory=Counter)  # final state → count
    problems: list[str] = field(default_factory=list)
    stalls: int = 0
    double_credits: int = 0
    provider_mismatches: int = 0
    workflow_failures: int = 0
    ledger_breaks: int = 0
    server_errors: int = 0  # API answers 5xx (but 503) during the run
    contradictions: int = 0  # the provider's own contradiction won the race (F5)


async def provider_ledgers(stack: ChaosStack) -> dict[str, dict[str, int]]:
    """receipt id → times applied, per provider, read over the simulator's admin API."""
    ledgers: dict[str, dict[str, int]] = {}
    for provider_id in stack.providers:
        answer = await stack.sim_http.get(f"/p/{provider_id}/admin/ledger")
        answer.raise_for_status()
        ledgers[provider_id] = {c["receipt_id"]: c["applied"] for c in answer.json()["credits"]}
    return ledgers


async def stall_detail(stack: ChaosStack, receipt: Receipt) -> str:
    """What a stalled receipt's failure message needs for its diagnosis without a re-run: how
    often its provider listed it (pull), its attempts and last error, whether an answer was
    recorded, the simulator's counters and the carrying workflow's pending work; a diagnosis that
    fails says so instead of hiding the stall."""
    try:
        return await _diagnosis(stack, receipt)
    except Exception as error:
        return f"diagnosis unavailable: {error!r}"


async def _diagnosis(stack: ChaosStack, receipt: Receipt) -> str:
    async with stack.ctx.sessions() as session:
        answers = (
            await session.execute(
                select(
                    ProviderAcknowledgement.status,
                    ProviderAcknowledgement.source,
                    ProviderAcknowledgement.signalled_at,
                ).where(ProviderAcknowledgement.receipt_id == receipt.id)
            )
        ).all()
        workflow_id = (
            await session.execute(
                select(Application.workflow_id)
                .join(Grant, Grant.application_id == Application.id)
                .where(Grant.id == receipt.grant_id)
            )
        ).scalar_one_or_none()
    ledger = await stack.sim_http.get(f"/p/{receipt.provider_id}/admin/ledger")
    stats = ledger.json().get("stats") if ledger.status_code == 200 else ledger.status_code
    pending = "no workflow"
    if workflow_id is not None:
        try:
            raw = (
                await stack.env.client.get_workflow_handle(workflow_id).describe()
            ).raw_description
            pending = (
                f"status {raw.workflow_execution_info.status}, workflow task pending "
                f"{raw.HasField('pending_workflow_task')}, activities "
                f"{[a.activity_type.name for a in raw.pending_activities]}"
            )
        except RPCError as error:
            pending = f"describe failed: {error}"
    return (
        f"pulls {receipt.pulls}, attempts {receipt.attempts}, last error "
        f"{receipt.last_error_code}, answers recorded {[tuple(a) for a in answers]}, "
        f"provider stats {stats}, workflow {workflow_id}: {pending}"
    )


async def receipts_of(stack: ChaosStack, grant_ids: list[str]) -> list[Receipt]:
    async with stack.ctx.sessions() as session:
        found = await session.execute(select(Receipt).where(Receipt.grant_id.in_(grant_ids)))
        return list(found.scalars())


async def workflows_of(stack: ChaosStack, mykey_ids: list[str]) -> list[str]:
    """The application workflow ids of these residents."""
    async with stack.ctx.sessions() as session:
        found = await session.execute(
            select(Application.workflow_id).where(Application.mykey_id.in_(mykey_ids))
        )
        return list(found.scalars())


async def _rejected_by_contradiction(stack: ChaosStack, receipt_ids: list[str]) -> set[str]:
    """Receipts whose first recorded answer is the simulator's contradicting rejection."""
    async with stack.ctx.sessions() as session:
        found = await session.execute(
            select(ProviderAcknowledgement.receipt_id).where(
                ProviderAcknowledgement.receipt_id.in_(receipt_ids),
                ProviderAcknowledgement.status == "rejected",
                ProviderAcknowledgement.reason == "contradiction",
            )
        )
        return set(found.scalars())


async def check(
    stack: ChaosStack, mykey_ids: list[str], grant_ids: list[str], runs: dict[str, str]
) -> Verdict:
    """`runs`: each application workflow's first run id, as seen when the resident applied."""
    verdict = Verdict()
    ledgers = await provider_ledgers(stack)
    receipts = await receipts_of(stack, grant_ids)
    contradicted = await _rejected_by_contradiction(stack, [r.id for r in receipts])
    credited_per_grant: Counter[str] = Counter()
    for receipt in receipts:
        applied = ledgers.get(receipt.provider_id, {}).get(receipt.id, 0)
        flagged = receipt.last_error_code == "provider_double_credit"
        if receipt.state == "rejected" and applied == 1 and (receipt.id in contradicted or flagged):
            verdict.receipts[receipt.state] += 1
            verdict.contradictions += 1
            continue
        credited_per_grant[receipt.grant_id] += applied
        if receipt.state not in FINAL:
            verdict.stalls += 1
            verdict.problems.append(
                f"stall: {receipt.id} is {receipt.state} (stuck={receipt.stuck_reason}, "
                f"applied at provider {applied}; {await stall_detail(stack, receipt)})"
            )
            continue
        verdict.receipts[receipt.state] += 1
        expected = 1 if receipt.state == "credited" else 0
        if applied != expected:
            verdict.provider_mismatches += 1
            verdict.problems.append(
                f"provider mismatch: {receipt.id} is {receipt.state} in the hub, applied "
                f"{applied} time(s) at {receipt.provider_id}"
            )
    async with stack.ctx.sessions() as session:
        grants = {
            g.id: g.state
            for g in (await session.execute(select(Grant).where(Grant.id.in_(grant_ids)))).scalars()
        }
        moves = await ledger_moves_of(session, mykey_ids)
    for grant_id, times in credited_per_grant.items():
        if times > 1:
            verdict.double_credits += 1
            verdict.problems.append(f"double credit: grant {grant_id} credited {times} times")
        if (grants.get(grant_id) == "credited") != (times == 1):
            verdict.provider_mismatches += 1
            verdict.problems.append(
                f"grant {grant_id} is {grants.get(grant_id)} in the hub, credited {times} "
                "time(s) at providers"
            )
    workflow_ids = await workflows_of(stack, mykey_ids)
    if not ledger_adds_up(moves):
        verdict.ledger_breaks += 1
        verdict.problems.append("the points ledger does not add up")
    for workflow_id in workflow_ids:
        problem = await workflow_problem(stack, workflow_id, runs.get(workflow_id))
        if problem:
            verdict.workflow_failures += 1
            verdict.problems.append(problem)
    return verdict


async def ledger_moves_of(session: Any, mykey_ids: list[str]) -> list[Any]:
    moves = []
    for mykey_id in mykey_ids:
        moves.extend(await ledger_moves(session, mykey_id=mykey_id))
    return moves


async def first_run(stack: ChaosStack, mykey_id: str) -> tuple[str, str | None]:
    """(workflow id, run id) of this resident's application workflow as it runs now; no run id
    while none runs (an application decided without a workflow starts one at its receipt)."""
    async with stack.ctx.sessions() as session:
        workflow_id = (
            await session.execute(
                select(Application.workflow_id).where(Application.mykey_id == mykey_id)
            )
        ).scalar_one()
    try:
        described = await stack.env.client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return workflow_id, None
    return workflow_id, described.run_id


async def workflow_problem(stack: ChaosStack, workflow_id: str, run_id: str | None) -> str | None:
    """Why this application workflow is broken, or None. From its first run on, every run must
    end only by continuing as new: a run that failed, was terminated or timed out broke the
    invariant even when a later support action started the workflow again, empty."""
    client = stack.env.client
    for _ in range(100):
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            described = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND and run_id is None:
                return None  # decided without a workflow, and none was ever needed
            return f"workflow {workflow_id}: describe failed: {error}"
        if described.status in BAD_ENDINGS:
            return f"workflow {workflow_id} run {described.run_id} ended {described.status.name}"
        if described.status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
            last = None
            async for event in handle.fetch_history_events():
                last = event
            assert last is not None
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            continue
        raw = described.raw_description
        if raw.HasField("pending_workflow_task") and raw.pending_workflow_task.attempt > 2:
            attempts = raw.pending_workflow_task.attempt - 1
            return f"workflow {workflow_id}: its workflow task has failed {attempts} times"
        return None
    return None
