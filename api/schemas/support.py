"""What support staff (問合せ窓口) read and send (SPEC §5 Support). MyKey IDs and account IDs
are masked but for their last four characters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from api.free_text import FreeText
from api.pagination import encode_cursor
from api.schemas.common import (
    Body,
    Grant,
    LocalizedText,
    Page,
    Receipt,
    Strict,
    Timestamp,
    example,
)
from domain.mykeys import MyKeyStatus
from domain.provider_errors import CODES

_UNAVAILABLE = {
    "ja": CODES["provider_unavailable"].ja,
    "en": CODES["provider_unavailable"].en,
}
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
        attempts=10,
        last_error='ProviderTransientError: provider error 503: {"error":"maintenance"}',
        last_error_code="provider_unavailable",
        last_error_message=_UNAVAILABLE,
        provider_paused=False,
        workflow_id="application-msr_01J9ZK…-5b1f…",
    )

    provider_id: str
    municipality_code: str
    mykey_id: str
    reasons: list[str]
    stuck_since: Timestamp | None
    attempts: int
    last_error: str | None = Field(description="the raw detail of the last provider failure")
    last_error_code: str | None = Field(
        None, description="its stable code (docs/providers.md, 失敗コード / failure codes)"
    )
    last_error_message: LocalizedText | None = Field(None, description="the code, to read")
    provider_paused: bool = Field(
        False, description="the provider is paused: the receipt waits for an operator to resume it"
    )
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
        last_error_code=None,
        last_error_message=None,
        provider_paused=False,
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
    last_error: str | None = Field(description="the raw detail of the last provider failure")
    last_error_code: str | None = Field(None, description="its stable code")
    last_error_message: LocalizedText | None = Field(None, description="the code, to read")
    provider_paused: bool = Field(False, description="the provider is paused: the receipt waits")
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


# ----- reconciliation breaks (SPEC §7) ------------------------------------------------------

_BREAK: dict[str, Any] = {
    "break_id": "brk_42",
    "kind": "points_mismatch",
    "receipt_id": "app_7Q2…-g1-r1",
    "provider_id": "paysim",
    "business_date": "2026-12-04",
    "hub": {"state": "credited", "points": 1000},
    "provider": {
        "points": 1100,
        "provider_reference": "PS-20261204-000123",
        "credited_at": "2026-12-04T01:15:03Z",
    },
    "status": "open",
    "opened_at": "2026-12-05T02:00:03Z",
    "municipality_code": "131016",
    "measure_id": "msr_01J9ZK…",
    "resolution": None,
    "note": None,
    "resolved_by": None,
    "resolved_at": None,
}


_BESIDE: dict[str, Any] = {
    "receipt_id": "app_7Q2…-g1-r1",
    "state": "credited",
    "points": 1000,
    "municipality_code": "131016",
    "measure_id": "msr_01J9ZK…",
    "measure_title": "子育て応援ポイント",
    "grant_id": "app_7Q2…-g1",
    "grant_state": "credited",
    "mykey_id": "****9Q2X",
    "account_id": "********5678",
    "provider_reference": "PS-20261204-000123",
    "finished_at": "2026-12-04T01:15:02Z",
    "workflow_id": "application-msr_01J9ZK…-5b1f…",
    "timeline": [
        {
            "at": "2026-12-04T01:15:00Z",
            "state": "requested",
            "actor": "resident:****9Q2X",
            "detail": None,
        },
        {"at": "2026-12-04T01:15:02Z", "state": "credited", "actor": "workflow", "detail": None},
    ],
}


class HubSide(Body):
    """The hub's receipt as reconciliation found it."""

    model_config = example(state="credited", points=1000)

    state: str | None = Field(description="the receipt's state when found; null: no such receipt")
    points: int | None


class ProviderSide(Body):
    """The provider's row on its statement."""

    model_config = example(
        points=1100, provider_reference="PS-20261204-000123", credited_at="2026-12-04T01:15:03Z"
    )

    points: int
    provider_reference: str | None
    credited_at: datetime | None = None


class ReconciliationBreak(Body):
    """Where a provider's statement and the hub's ledger disagree (照合差異): `hub` and
    `provider` show each side, null where that side has nothing."""

    model_config = example(**_BREAK)

    break_id: str
    kind: str = Field(
        description="missing_at_provider | missing_at_hub | points_mismatch | statement_missing"
    )
    receipt_id: str | None = None
    provider_id: str
    business_date: date
    hub: HubSide | None = None
    provider: ProviderSide | None = None
    status: str = Field(description="open | resolved")
    opened_at: datetime
    municipality_code: str | None = None
    measure_id: str | None = None
    resolution: str | None = None
    note: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None


class ReconciliationBreakPage(Page[ReconciliationBreak]):
    """Breaks, newest first; the next page starts after this page's last break."""

    model_config = example(items=[_BREAK], next_cursor=encode_cursor(42))


class TimelineEntry(Body):
    """One step of a receipt's history, at the time the hub recorded it."""

    model_config = example(
        at="2026-12-04T01:15:02Z", state="credited", actor="workflow", detail=None
    )

    at: datetime
    state: str
    actor: str
    detail: str | None


class ReceiptBeside(Body):
    """The hub's receipt of a break, masked, with its timeline, to read beside the provider's
    row."""

    model_config = example(**_BESIDE)

    receipt_id: str
    state: str
    points: int
    municipality_code: str
    measure_id: str
    measure_title: str | None
    grant_id: str
    grant_state: str | None
    mykey_id: str = Field(description="masked")
    account_id: str = Field(description="masked")
    provider_reference: str | None
    finished_at: datetime | None
    workflow_id: str
    timeline: list[TimelineEntry]


class ReconciliationBreakDetail(Body):
    """A break, the hub's receipt beside it (null for a missing statement or an unknown
    receipt), and the resolutions staff may choose."""

    model_config = example(
        **{
            "break": _BREAK,
            "receipt": _BESIDE,
            "allowed_resolutions": ["accepted_difference"],
        }
    )

    break_: ReconciliationBreak = Field(alias="break")
    receipt: ReceiptBeside | None
    allowed_resolutions: list[str]


class ProviderStatusCheck(Body):
    """What the provider answered just now about the break's receipt."""

    model_config = example(
        break_id="brk_42",
        receipt_id="app_7Q2…-g1-r1",
        provider_status="credited",
        provider_reference="PS-20261204-000123",
    )

    break_id: str
    receipt_id: str
    provider_status: str = Field(description="credited | rejected | pending | not_found")
    provider_reference: str | None = None


class BreakResolutionBody(Strict):
    """How support resolves a break, and why (the note is kept on the audit log and the
    receipt's timeline)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "resolution": "accepted_difference",
                    "note": "事業者に確認済み：明細の1,100は入力誤り、付与は1,000ポイント",
                },
                {
                    "resolution": "provider_confirmed_credit",
                    "note": "事業者に照会し付与済みを確認（PS-20261204-000123）",
                },
            ]
        },
    )

    resolution: Literal[
        "provider_confirmed_credit", "provider_confirmed_no_credit", "accepted_difference"
    ]
    note: FreeText = Field(min_length=1, max_length=2000)
