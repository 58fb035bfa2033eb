"""Inputs, updates, signals and queries of the application workflow.

Annotations are evaluated (no `from __future__ import annotations`): the payload converter
resolves these types inside the workflow sandbox, where string annotations do not resolve.
"""

from dataclasses import dataclass, field
from datetime import datetime

from activities.types import ApplicationDecision, GrantView, ReceiptPlan
from domain.reviews import ReviewPlan


@dataclass
class ApplicationKey:
    """Which application a workflow carries, and how it was started."""

    measure_id: str
    mykey_id: str
    application_id: str
    existing: bool = False  # started for an application granted without a workflow (bulk)
    history_limit: int = 5000  # continue-as-new once the history is this long and quiet
    # The workflow code the starter asked for (`workflows/revisions.py`); 0 in older inputs.
    revision: int = 0


@dataclass
class ApplyRequest:
    fixed_registration_id: str | None = None


@dataclass
class ReceiptRequest:
    grant_ids: list[str]
    registration_id: str


@dataclass
class ReceiptTicket:
    receipts: list[ReceiptPlan] = field(default_factory=list)


@dataclass
class ClaimedReceipts:
    """Receipts the API claimed in the request's own transaction, for the workflow to carry
    (the `receipts_claimed` signal, sent with signal-with-start); `decision` is the
    application's, read after the claim, for a run that has none yet."""

    receipts: list[ReceiptPlan] = field(default_factory=list)
    decision: ApplicationDecision | None = None


@dataclass
class Acknowledgement:
    """A provider's final answer about one receipt, by webhook or by the pull API."""

    receipt_id: str
    status: str  # credited | rejected
    provider_reference: str | None = None
    reason: str | None = None
    # Set when the answer was applied to the receipt as it was received (`storage.outcomes`):
    # the workflow takes the outcome as it is and records nothing itself.
    receipt_state: str | None = None
    grant_state: str | None = None


@dataclass
class ReceiptProgress:
    """One receipt in its carrier: the database state it was last seen in and its phase in the
    carrier's state machine (`domain.receipt_machine`); survives continue-as-new."""

    plan: ReceiptPlan
    state: str
    last_error: str | None = None
    stuck_reason: str | None = None
    provider_status: str | None = None  # the provider's last answer to a status check
    phase: str = ""  # domain.receipt_machine.Phase; empty in state carried from before it
    retry: bool = False  # support asked for another attempt (or a status check) now
    poll_wait_s: float = 0.0  # the status polling's current back-off
    pause_wait_s: float = 0.0  # the wait for a paused provider's current back-off
    next_check_at: datetime | None = None  # when the provider's status is asked next
    failure_code: str | None = None  # the last provider failure's stable code


@dataclass
class ResumeRequest:
    """Take up the application's receipts still waiting for a provider: sent to a run started
    after the application's workflow ended (issue 17). Repeated, it adds nothing."""

    reason: str = ""


@dataclass
class ResumeOutcome:
    resumed: list[str] = field(default_factory=list)  # receipt IDs taken up by this run


@dataclass
class SupportAction:
    """What support staff ask of one receipt (SPEC §5 support actions, except notes)."""

    receipt_id: str
    action: str  # retry_now | check_provider_status | return_to_unreceived
    actor: str
    note: str | None = None


@dataclass
class SupportOutcome:
    receipt_id: str
    action: str
    provider_status: str | None = None
    receipt_state: str | None = None
    message: str = ""


@dataclass
class AttendanceReportRequest:
    event_id: str
    reported_at: datetime  # when the resident scanned the code, as the API received it


@dataclass
class ReviewDecisionRequest:
    review_id: str
    decision: str  # approve | reject
    reason: str | None
    actor: str


@dataclass
class ApplicationStatus:
    status: str  # waiting | refused | granted | pending_review | finished
    refusal_code: str | None
    grants: list[GrantView]
    receipts: list[ReceiptProgress]


@dataclass
class ApplicationState:
    """Everything the workflow knows; it survives continue-as-new whole."""

    input: ApplicationKey
    decision: ApplicationDecision | None = None
    refusal_code: str | None = None
    grants: dict[str, GrantView] = field(default_factory=dict)
    receipts: dict[str, ReceiptProgress] = field(default_factory=dict)
    receipts_to_start: list[str] = field(default_factory=list)
    acknowledgements: dict[str, Acknowledgement] = field(default_factory=dict)
    deadline_passed: bool = False
    revoked: bool = False
    forfeited: bool = False
    reviews: dict[str, ReviewPlan] = field(default_factory=dict)
    reported_events: list[str] = field(default_factory=list)
    runs: int = 1  # how many runs this application has had (continue-as-new)


@dataclass
class ApplicationInput(ApplicationKey):
    """The workflow's input: the key, and the state carried over by continue-as-new."""

    carried: ApplicationState | None = None

    def key(self) -> ApplicationKey:
        return ApplicationKey(
            self.measure_id,
            self.mykey_id,
            self.application_id,
            self.existing,
            self.history_limit,
            self.revision,
        )
