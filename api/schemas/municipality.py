"""What municipality staff send and read (SPEC §5 Municipality)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from api.free_text import FreeText
from api.schemas.common import (
    EXAMPLE_SETTLEMENT_LINE,
    EXAMPLE_SETTLEMENT_REPORT,
    EXAMPLE_SETTLEMENT_TOTALS,
    Body,
    GrantBrief,
    Page,
    SettlementTotals,
    Strict,
    Timestamp,
    example,
)
from domain.measures import MeasureState
from domain.reviews import Decision, ReviewKind, ReviewStatus
from domain.settlement import sha256_hex

_MEASURE_EXAMPLE = {
    "title": "子育て応援ポイント",
    "description": "18歳以下の子がいる世帯に1,000ポイント",
    "kind": "application",
    "points_per_grant": 1000,
    "per_person_cap": 1000,
    "budget_points": 1_000_000,
    "opens_at": "2026-11-01T00:00:00+09:00",
    "closes_at": "2026-12-31T23:59:59+09:00",
    "receipt_deadline": "2027-02-28T23:59:59+09:00",
    "target_list_only": False,
    "auto_grant": False,
    "review_required": False,
    "late_report_days": 0,
    "payment_services": [
        {"payment_service_id": "paysim-pay", "available_from": "2026-11-01T00:00:00+09:00"}
    ],
}


def _strict_example(values: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [values]})


class OfferBody(Strict):
    """A payment service eligible for the measure, shown to residents from `available_from`."""

    payment_service_id: str = Field(min_length=1, max_length=64)
    available_from: AwareDatetime


class MeasureBody(Strict):
    """A new measure, created as a draft."""

    model_config = _strict_example(_MEASURE_EXAMPLE)

    title: FreeText = Field(min_length=1, max_length=200)
    description: FreeText = Field("", max_length=5000)
    kind: str = Field(pattern=r"^(application|event)$")
    points_per_grant: int = Field(ge=1, le=1_000_000)
    per_person_cap: int = Field(ge=1, le=100_000_000)
    budget_points: int | None = Field(None, ge=1, le=10**13)
    opens_at: AwareDatetime
    closes_at: AwareDatetime
    receipt_deadline: AwareDatetime
    target_list_only: bool = False
    auto_grant: bool = False
    review_required: bool = False
    late_report_days: int = Field(0, ge=0, le=365)
    payment_services: list[OfferBody] = Field(min_length=1, max_length=50)
    yen_per_point: int = Field(1, ge=1, le=10_000, description="yen paid per point (精算)")


class MeasurePatch(Strict):
    """Changes to a draft: only the fields sent change."""

    model_config = _strict_example(
        {"title": "子育て応援ポイント（第2弾）", "budget_points": 2_000_000}
    )

    title: FreeText | None = Field(None, min_length=1, max_length=200)
    description: FreeText | None = Field(None, max_length=5000)
    kind: str | None = Field(None, pattern=r"^(application|event)$")
    points_per_grant: int | None = Field(None, ge=1, le=1_000_000)
    per_person_cap: int | None = Field(None, ge=1, le=100_000_000)
    budget_points: int | None = Field(None, ge=1, le=10**13)
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None
    receipt_deadline: AwareDatetime | None = None
    target_list_only: bool | None = None
    auto_grant: bool | None = None
    review_required: bool | None = None
    late_report_days: int | None = Field(None, ge=0, le=365)
    payment_services: list[OfferBody] | None = Field(None, min_length=1, max_length=50)
    yen_per_point: int | None = Field(None, ge=1, le=10_000)


class EventBody(Strict):
    """An event of an event measure; its QR code is made at once."""

    model_config = _strict_example(
        {
            "title": "防災訓練",
            "starts_at": "2026-12-06T10:00:00+09:00",
            "ends_at": "2026-12-06T12:00:00+09:00",
            "points": 100,
        }
    )

    title: FreeText = Field(min_length=1, max_length=200)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    points: int = Field(ge=1, le=1_000_000)


class Event(Body):
    """An event and its signed QR payload (print it from `qr.png` or `qr.svg`)."""

    model_config = example(
        event_id="evt_01J9ZP…",
        measure_id="msr_01J9ZK…",
        title="防災訓練",
        starts_at="2026-12-06T01:00:00+00:00",
        ends_at="2026-12-06T03:00:00+00:00",
        points=100,
        qr_payload="MPQ1.evt_01J9ZP….1798675199.Q2h…",
        qr_expires_at="2027-02-28T14:59:59+00:00",
        created_at="2026-11-27T03:00:00+00:00",
    )

    event_id: str
    measure_id: str
    title: str
    starts_at: Timestamp
    ends_at: Timestamp
    points: int
    qr_payload: str
    qr_expires_at: Timestamp
    created_at: Timestamp


class EventPage(Page[Event]):
    """A measure's events, in order of start."""


class ReviewedEvent(Body):
    event_id: str
    title: str
    starts_at: Timestamp
    ends_at: Timestamp
    points: int


class Review(Body):
    """A late attendance report or a review-required application, without who the resident is."""

    model_config = example(
        review_id="rev_01J9ZR…",
        kind="late_report",
        status="pending",
        measure_id="msr_01J9ZK…",
        measure_title="防災訓練ポイント",
        application_id="app_7Q2…",
        event={
            "event_id": "evt_01J9ZP…",
            "title": "防災訓練",
            "starts_at": "2026-12-06T01:00:00+00:00",
            "ends_at": "2026-12-06T03:00:00+00:00",
            "points": 100,
        },
        reported_at="2026-12-08T01:00:00+00:00",
        late_by_s=165600,
        opened_at="2026-12-08T01:00:00+00:00",
        remind_at="2026-12-11T01:00:00+00:00",
        reminded_at=None,
        decide_by="2026-12-22T01:00:00+00:00",
        default_decision="reject",
        decided_at=None,
        decided_by=None,
        reason=None,
    )

    review_id: str
    kind: ReviewKind
    status: ReviewStatus
    measure_id: str
    measure_title: str
    application_id: str
    event: ReviewedEvent | None
    reported_at: Timestamp | None
    late_by_s: int | None
    opened_at: Timestamp
    remind_at: Timestamp | None
    reminded_at: Timestamp | None
    decide_by: Timestamp | None
    default_decision: str | None
    decided_at: Timestamp | None
    decided_by: str | None
    reason: str | None


class ReviewPage(Page[Review]):
    """The review queue, oldest first."""


class DecisionBody(Strict):
    """Approve or reject; a rejection needs a reason. The same decision again changes nothing."""

    model_config = _strict_example({"decision": "reject", "reason": "参加記録が確認できません"})

    decision: Decision
    reason: FreeText | None = Field(None, max_length=2000)


class ReviewOutcome(Body):
    """The review after the decision; `changed` is false when it was already so decided."""

    model_config = example(
        review_id="rev_01J9ZR…",
        status="approved",
        changed=True,
        grant={"grant_id": "app_7Q2…-evt_01J9ZP…", "points": 100, "state": "unreceived"},
    )

    review_id: str
    status: ReviewStatus
    changed: bool
    grant: GrantBrief | None


class ApplicationFigures(Body):
    total: int
    by_state: dict[str, int] = Field(
        description="granted, registered, pending_review, rejected: every state listed"
    )


class PointFigures(Body):
    granted: int
    by_state: dict[str, int]


class BudgetFigures(Body):
    budget_points: int | None
    budget_used: int
    budget_left: int | None


class CountAndPoints(Body):
    count: int
    points: int


class ReceiptFigures(Body):
    by_provider: dict[str, dict[str, CountAndPoints]] = Field(
        description="provider ID → receipt state → count and points"
    )


class MeasureStats(Body):
    """A measure's figures; every state is listed, zero or not."""

    model_config = example(
        measure_id="msr_01J9ZK…",
        state="published",
        applications={
            "total": 1,
            "by_state": {"granted": 1, "registered": 0, "pending_review": 0, "rejected": 0},
        },
        grants={"unreceived": 0, "credited": 1},
        points={"granted": 1000, "by_state": {"unreceived": 0, "credited": 1000}},
        budget={"budget_points": 1_000_000, "budget_used": 1000, "budget_left": 999_000},
        receipts={"by_provider": {"paysim": {"credited": {"count": 1, "points": 1000}}}},
    )

    measure_id: str
    state: MeasureState
    applications: ApplicationFigures
    grants: dict[str, int] = Field(description="grant state → number of grants")
    points: PointFigures
    budget: BudgetFigures
    receipts: ReceiptFigures


class TargetUpload(Body):
    """What a target list upload added; uploading the same file again adds nothing."""

    model_config = example(
        measure_id="msr_01J9ZK…", received=3, added=2, already_listed=1, total=1002
    )

    measure_id: str
    received: int
    added: int
    already_listed: int
    total: int


class TargetCount(Body):
    model_config = example(measure_id="msr_01J9ZK…", total=1002)

    measure_id: str
    total: int


class TargetsCleared(Body):
    model_config = example(measure_id="msr_01J9ZK…", removed=1002, total=0)

    measure_id: str
    removed: int
    total: int


# ----- settlement (精算, SPEC §7) -------------------------------------------------------------

_SETTLEMENT_LINE = {
    **asdict(EXAMPLE_SETTLEMENT_LINE),
    "amount_yen": EXAMPLE_SETTLEMENT_LINE.amount_yen,
}
# The month's report as staff download it (UTF-8; the file starts with a BOM, CRLF line ends).
SETTLEMENT_CSV = EXAMPLE_SETTLEMENT_REPORT.decode("utf-8-sig")


class SettlementLine(Body):
    """One provider and measure of a month: what the hub credited, what the provider's
    statements say, and what the municipality pays."""

    model_config = example(**_SETTLEMENT_LINE)

    provider_id: str
    provider_name: str
    measure_id: str
    measure_title: str
    credited_points: int = Field(description="points the hub credited at this provider")
    statement_points: int = Field(description="points on the provider's statements")
    matched_points: int = Field(description="credited points the provider agrees with")
    open_breaks: int
    yen_per_point: int
    amount_yen: int = Field(description="(credited_points + adjustment) × yen_per_point")
    adjustment: int = Field(description="corrections of closed months, in points")


class Settlement(Body):
    """A municipality's month: open months as they stand, closed months as frozen."""

    model_config = example(
        month="2026-11",
        status="closed",
        report_sha256=sha256_hex(EXAMPLE_SETTLEMENT_REPORT),
        closed_at="2026-12-03T01:00:00+00:00",
        lines=[_SETTLEMENT_LINE],
        totals=EXAMPLE_SETTLEMENT_TOTALS.as_dict(),
    )

    month: str
    status: Literal["open", "closed"]
    report_sha256: str | None = Field(
        None, description="closed months: SHA-256 of the UTF-8 CSV report"
    )
    closed_at: str | None = None
    lines: list[SettlementLine]
    totals: SettlementTotals
