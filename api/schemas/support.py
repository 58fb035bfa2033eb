"""What support staff (問合せ窓口) read and send (SPEC §5 Support). MyKey IDs and account IDs
are masked but for their last four characters."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from api.free_text import FreeText
from api.schemas.common import Body, Grant, Page, Receipt, Strict, Timestamp, example
from domain.mykeys import MyKeyStatus

_RECEIPT = {
    "receipt_id": "app_7Q2…-g1-r1",
    "grant_id": "app_7Q2…-g1",
    "measure_id": "msr_01J9ZK…",
    "payment_service_id": "paysim-pay",
    "points": 1000,
    "state": "accepted",
    "created_at": "2026-11-27T03:05:00+00:00",
    "finished_at": None,
    "provider_id": "paysim",
    "municipality_code": "131016",
    "mykey_id": "****9Q2X",
}


class StuckReceipt(Receipt):
    """A receipt with no final answer in time, or failing beyond the threshold."""

    model_config = example(
        **_RECEIPT,
        reasons=["no_acknowledgement"],
        stuck_since="2026-11-27T03:06:00+00:00",
        attempts=1,
        last_error=None,
        workflow_id="application-msr_01J9ZK…-5b1f…",
    )

    provider_id: str
    municipality_code: str
    mykey_id: str
    reasons: list[str]
    stuck_since: Timestamp | None
    attempts: int
    last_error: str | None
    workflow_id: str


class StuckReceiptPage(Page[StuckReceipt]):
    """Stuck receipts, longest stuck first; `total` counts every match, not just this page."""

    total: int


class TimelineEvent(Body):
    at: Timestamp
    state: str
    actor: str
    detail: str | None


class ReceiptDetail(Receipt):
    """One receipt: its timeline, attempts, last error and workflow (with a Temporal UI link)."""

    model_config = example(
        **_RECEIPT,
        measure_title="子育て応援ポイント",
        account_id="********5678",
        grant={
            "grant_id": "app_7Q2…-g1",
            "measure_id": "msr_01J9ZK…",
            "event_id": None,
            "points": 1000,
            "state": "crediting",
            "created_at": "2026-11-27T03:00:00+00:00",
        },
        attempts=1,
        last_error=None,
        provider_reference=None,
        stuck=True,
        reasons=["no_acknowledgement"],
        stuck_since="2026-11-27T03:06:00+00:00",
        workflow_id="application-msr_01J9ZK…-5b1f…",
        temporal_ui="http://127.0.0.1:8233/namespaces/default/workflows/application-…",
        timeline=[
            {
                "at": "2026-11-27T03:05:00+00:00",
                "state": "requested",
                "actor": "resident:****9Q2X",
                "detail": None,
            }
        ],
    )

    provider_id: str
    municipality_code: str
    measure_title: str
    mykey_id: str
    account_id: str
    grant: Grant
    attempts: int
    last_error: str | None
    provider_reference: str | None
    stuck: bool
    reasons: list[str]
    stuck_since: Timestamp | None
    workflow_id: str
    temporal_ui: str
    timeline: list[TimelineEvent]


class ActionBody(Strict):
    """A support action; `return_to_unreceived` only when the provider says it did not credit."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "check_provider_status"},
                {"action": "add_note", "note": "利用者から問い合わせあり"},
            ]
        },
    )

    action: str = Field(
        pattern=r"^(retry_now|check_provider_status|return_to_unreceived|add_note)$"
    )
    note: FreeText | None = Field(None, max_length=2000)


class ActionOutcome(Body):
    model_config = example(
        receipt_id="app_7Q2…-g1-r1",
        action="check_provider_status",
        provider_status="credited",
        receipt_state="credited",
        message="the provider credited it",
    )

    receipt_id: str
    action: str
    provider_status: str | None
    receipt_state: str | None
    message: str


class MaskedRegistration(Body):
    registration_id: str
    payment_service_id: str
    account_id: str
    status: str


class ApplicationSummary(Body):
    application_id: str
    measure_id: str
    state: str
    points_granted: int


class ResidentReceipt(Receipt):
    provider_id: str
    account_id: str


class ResidentOverview(Body):
    """One resident, masked: status, points by state, registrations, applications, receipts."""

    model_config = example(
        mykey_id="****9Q2X",
        status="active",
        issued_at="2026-11-27T03:00:00+00:00",
        points={"credited": 1000},
        registrations=[
            {
                "registration_id": "reg_01J9ZM…",
                "payment_service_id": "paysim-pay",
                "account_id": "********5678",
                "status": "active",
            }
        ],
        applications=[
            {
                "application_id": "app_7Q2…",
                "measure_id": "msr_01J9ZK…",
                "state": "granted",
                "points_granted": 1000,
            }
        ],
        grants=[],
        receipts=[],
    )

    mykey_id: str
    status: MyKeyStatus
    issued_at: Timestamp
    points: dict[str, int] = Field(description="grant state → points")
    registrations: list[MaskedRegistration]
    applications: list[ApplicationSummary]
    grants: list[Grant]
    receipts: list[ResidentReceipt]
