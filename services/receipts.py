"""Receipt requests: every rule checked and every grant claimed in the card proof's own
transaction, then each application's receipts handed to its orchestrator to carry (its workflow
by signal-with-start, or in-process calls: `services/orchestration.py`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from activities.receipts import audit_claim
from domain.receipts import ReceiptPlan
from services.context import HubContext
from services.identity import Along
from services.orchestration import WorkflowLabels, is_direct, orchestrator
from storage import applications, receipts
from storage.models import Application, MyKey
from storage.receipts import CheckedRequest, GrantRow
from workflows.messages import ClaimedReceipts

# The card proof (`identity.check_card_proof`) that runs the claim in its transaction.
ProofWith = Callable[[Along], Awaitable[MyKey]]


@dataclass
class _Claim:
    application: Application
    labels: WorkflowLabels
    claimed: ClaimedReceipts


@dataclass
class _Request:
    ctx: HubContext
    grant_ids: list[str]
    registration_id: str
    request_id: str | None
    claims: list[_Claim] = field(default_factory=list)

    async def claim(self, session: AsyncSession, resident: MyKey) -> None:
        """All or nothing: every rule of SPEC §3 and §5 checked, then each application's grants
        claimed and their receipts written, in the caller's transaction."""
        checked = await receipts.check_receipt_request(
            session,
            mykey_id=resident.mykey_id,
            grant_ids=self.grant_ids,
            registration_id=self.registration_id,
            now=self.ctx.clock(),
        )
        for application, rows in _by_application(checked.rows).items():
            part = CheckedRequest(checked.registration, checked.provider, rows)
            self.claims.append(await self._claim(session, part, application, resident.mykey_id))

    async def _claim(
        self,
        session: AsyncSession,
        checked: CheckedRequest,
        application: Application,
        mykey_id: str,
    ) -> _Claim:
        """One application's grants claimed and audited, with what its workflow needs to carry
        them: the decision (for a run the claim starts) and its search attributes."""
        ctx, actor = self.ctx, f"resident:{mykey_id}"
        plans = await receipts.claim_checked(
            session,
            checked,
            mykey_id=mykey_id,
            workflow_id=application.workflow_id,
            now=ctx.clock(),
            actor=actor,
            queue_batch=True,
        )
        audit_claim(session, actor, plans, self.request_id)
        decision = (
            None if is_direct(ctx) else await applications.load_decision(session, application.id)
        )
        municipality_code = checked.rows[0].measure.municipality_code
        providers = [checked.provider.id] if checked.provider is not None else []
        labels = WorkflowLabels(application.state, municipality_code, providers)
        return _Claim(application, labels, ClaimedReceipts(plans, decision))


async def request_receipts(
    ctx: HubContext,
    proof_with: ProofWith,
    *,
    grant_ids: list[str],
    registration_id: str,
    request_id: str | None = None,
) -> list[ReceiptPlan]:
    """The card proof's transaction claims the receipts (`_Request.claim`); once it commits,
    each application's receipts are carried. A request that lost the race to its twin (the
    same request sent at the same time) answers with the twin's receipts, which the twin
    carries."""
    request = _Request(ctx, grant_ids, registration_id, request_id)
    try:
        await proof_with(request.claim)
    except receipts.ClaimRace as race:
        async with ctx.sessions() as session:
            twin = await receipts.claimed_by(session, grant_ids, registration_id, race.workflow_id)
        if twin is None:
            raise
        return twin
    for claim in request.claims:
        await orchestrator(ctx).carry_receipts(
            ctx, claim.application, claim.claimed, labels=claim.labels
        )
    return [plan for claim in request.claims for plan in claim.claimed.receipts]


def _by_application(rows: list[GrantRow]) -> dict[Application, list[GrantRow]]:
    grouped: dict[Application, list[GrantRow]] = {}
    for row in rows:
        grouped.setdefault(row.application, []).append(row)
    return grouped
