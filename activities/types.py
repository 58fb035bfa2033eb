"""Dataclasses that cross the workflow/activity boundary. Fields may be added, never removed.

Annotations are evaluated (no `from __future__ import annotations`): the payload converter
resolves these types inside the workflow sandbox, where string annotations do not resolve.
"""

from dataclasses import dataclass, field
from datetime import datetime

from domain.applications import ApplicationDecision, GrantView
from domain.provider_errors import ProviderFailure
from domain.receipts import ReceiptPlan

__all__ = ["ApplicationDecision", "GrantView", "ReceiptPlan"]

RULE_VIOLATION = "RuleViolation"  # ApplicationError type of a refused business rule


@dataclass
class DecideApplicationInput:
    measure_id: str
    mykey_id: str
    application_id: str
    workflow_id: str
    fixed_registration_id: str | None = None


@dataclass
class LoadApplicationInput:
    application_id: str


@dataclass
class ExpireGrantsInput:
    application_id: str


@dataclass
class ExpireGrantsResult:
    expired_grant_ids: list[str] = field(default_factory=list)


@dataclass
class ClaimReceiptsInput:
    mykey_id: str
    grant_ids: list[str]
    registration_id: str
    workflow_id: str
    queue_batch: bool = False  # a `batch_file` provider's receipts are queued in the claim
    # Granted in bulk, no workflow until now: the claim loads the application's decision too.
    load_application_id: str | None = None


@dataclass
class ClaimReceiptsResult:
    receipts: list[ReceiptPlan] = field(default_factory=list)
    decision: ApplicationDecision | None = None  # when `load_application_id` was given


@dataclass
class CreditInput:
    receipt_id: str
    provider_id: str
    # The provider's attempts: the last one returns its failure as data instead of raising
    # (0: unknown, every transient failure is raised for Temporal to retry).
    max_attempts: int = 0
    after_failure: bool = False  # unused since every success ends a failure run; kept for histories
    # Record the provider's answer (credited, rejected, accepted) in the call itself and return
    # it as `CreditResult.recorded`: a run of revision `LEAN` (`workflows/revisions.py`) then
    # needs no `record_credit_outcome` step.
    record: bool = False


@dataclass
class RecordOutcomeResult:
    receipt_id: str
    state: str
    grant_state: str | None = None


@dataclass
class CreditResult:
    receipt_id: str
    status: str  # credited | accepted | rejected | failed (with `failure`)
    provider_reference: str | None = None
    reason: str | None = None
    failure: ProviderFailure | None = None
    paused: bool = False  # the provider is paused: its receipts wait instead of turning stuck
    recorded: RecordOutcomeResult | None = None  # the answer as recorded (`CreditInput.record`)


@dataclass
class RecordOutcomeInput:
    receipt_id: str
    status: str  # credited | accepted | rejected
    provider_reference: str | None = None
    reason: str | None = None
    actor: str = "workflow"


@dataclass
class ForfeitGrantsInput:
    application_id: str
    mykey_id: str


@dataclass
class ForfeitGrantsResult:
    forfeited_grant_ids: list[str] = field(default_factory=list)


@dataclass
class MarkStuckInput:
    receipt_id: str
    reason: str  # no_acknowledgement | attempts_exhausted
    detail: str | None = None
    code: str | None = None  # the stable code of the provider failure behind it


@dataclass
class MarkStuckResult:
    receipt_id: str
    marked: bool


@dataclass
class ReturnReceiptInput:
    receipt_id: str
    actor: str
    note: str | None = None
    # The receipt's pull count read before the provider said `not_found`: the return needs it
    # unchanged (no pull since that answer). None: not checked (histories before issue 17).
    pulls: int | None = None


@dataclass
class CreditStatusInput:
    receipt_id: str
    provider_id: str


@dataclass
class CreditStatusResult:
    receipt_id: str
    status: str  # credited | rejected | pending | not_found | failed (with `failure`)
    provider_reference: str | None = None
    reason: str | None = None
    failure: ProviderFailure | None = None
    pulls: int | None = None  # the receipt's pull count, read before the provider was asked


@dataclass
class RecordAttendanceInput:
    application_id: str
    event_id: str
    reported_at: datetime


@dataclass
class DecideReviewInput:
    review_id: str
    decision: str  # approve | reject
    reason: str | None
    actor: str


@dataclass
class RemindReviewInput:
    review_id: str


@dataclass
class RemindReviewResult:
    review_id: str
    reminded: bool


@dataclass
class LoadOpenReceiptsInput:
    application_id: str


@dataclass
class OpenReceiptView:
    plan: ReceiptPlan
    state: str
    stuck_reason: str | None = None


@dataclass
class OpenReceiptsResult:
    """An application and its receipts still waiting for a provider (a resumed run)."""

    decision: ApplicationDecision
    receipts: list[OpenReceiptView] = field(default_factory=list)
