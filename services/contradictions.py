"""A provider that contradicts itself (F5 in docs/reliability.md): it sent a signed
`credit.rejected` and a signed `credit.completed` for the same receipt, and the rejection reached
the hub first. The first answer recorded cannot tell which of two signed answers is true; the
provider's status endpoint can. When a `credited` answer contradicts a recorded rejection, the
hub asks it (through the adapter, as support's `check_provider_status` does) and lets it settle:

- the provider says credited, and the grant is still the unreceived one the rejection left: the
  receipt is credited, once (`storage.receipts.credit_contradicted_rejection`: ledger lines,
  timeline, audit), and a running workflow takes the new states (patch `contradiction-settled`);
- the provider says credited, but the grant moved on (a second receipt `<grant>-r2` requested or
  credited, or the grant expired or was forfeited): the provider has credited it twice, or
  credited points the hub gave up. The hub never credits a grant twice: the receipt is flagged
  (`last_error_code` `provider_double_credit`, on its timeline and in the audit log) for support,
  and the provider's statement brings it to reconciliation as `missing_at_hub` (SPEC §7);
- the provider says anything else: the rejection stands and the answer is `ack_conflict`;
- no answer from the provider: 503, so the provider sends the webhook again later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.context import HubContext
from services.provider_status_check import ask_provider_status
from storage import audit, receipts
from storage.models import Grant, Receipt
from storage.models.providers import ProviderAcknowledgement

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settled:
    outcome: str  # credited | already_credited | double_credit | not_rejected | provider_says_<x>
    receipt_state: str
    grant_state: str | None = None
    workflow_id: str | None = None

    @property
    def credited(self) -> bool:
        return self.outcome in ("credited", "already_credited")


async def settle_credited_after_rejection(
    ctx: HubContext, provider_id: str, receipt_id: str, provider_reference: str | None
) -> Settled:
    """A signed `credited` for a receipt the hub recorded `rejected`: the provider's status
    decides (see the module's text). Audited as `settle_contradiction`."""
    async with ctx.sessions() as session:
        receipt = await session.get(Receipt, receipt_id)
        assert receipt is not None
        recorded = await session.get(ProviderAcknowledgement, receipt_id)
        if recorded is None or recorded.status != "rejected":  # e.g. credited, another reference
            return Settled("not_rejected", receipt.state)
        if receipt.state == "credited":  # settled before: the same credit again
            grant = await session.get(Grant, receipt.grant_id)
            assert grant is not None
            return Settled("already_credited", receipt.state, grant.state, receipt.workflow_id)
        if receipt.state != "rejected":
            return Settled("not_rejected", receipt.state)
    status, reference = await ask_provider_status(
        ctx,
        provider_id,
        receipt_id,
        unanswered="the answer contradicts the one recorded and the provider's status could not "
        "be read to settle it ({kind}); send it again later",
    )
    actor = f"provider:{provider_id}"
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        audit.record(
            session,
            actor=actor,
            action="check_provider_status",
            object_type="receipt",
            object_id=receipt_id,
            outcome=status,
            detail={"why": "a credited answer contradicts the recorded rejection"},
            at=now,
        )
        if status != "credited":
            return Settled(f"provider_says_{status}", "rejected")
        found = await receipts.credit_contradicted_rejection(
            session,
            receipt_id,
            provider_reference=reference or provider_reference,
            now=now,
            actor=actor,
        )
        if found.outcome == "double_credit":
            log.error("provider %s credited %s twice", provider_id, receipt_id)
        audit.record(
            session,
            actor=actor,
            action="settle_contradiction",
            object_type="receipt",
            object_id=receipt_id,
            outcome=found.outcome,
            detail={
                "provider_status": status,
                "grant_state": found.grant_state,
                "grant_receipt_id": found.grant_receipt_id,
            },
            at=now,
        )
    return Settled(found.outcome, found.receipt_state, found.grant_state, found.workflow_id)
