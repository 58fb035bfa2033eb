"""What the Mynapoint app sends and reads (SPEC §5 Resident)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from api.schemas.common import (
    Body,
    CardProofBody,
    Grant,
    GrantBrief,
    Page,
    Receipt,
    Strict,
    Timestamp,
    example,
)
from domain.applications import ApplicationStatus
from domain.attendance import ReportStatus
from domain.mykeys import MyKeyStatus
from domain.points import GrantState
from domain.receipts import ReceiptState


class Challenge(Body):
    """A random nonce for the card to sign: single use, valid five minutes."""

    model_config = example(challenge_id="chl_4f9c2d1e8a7b6c5d", nonce="q1Jx0m2mZ8w5d4V9…")

    challenge_id: str
    nonce: str = Field(description="base64; the card signs these bytes")


class Session(Body):
    """A resident session: send `Authorization: Bearer <token>` until `expires_at`."""

    model_config = example(
        token="hubs_Vt3q…",
        expires_at="2026-11-27T04:00:00+00:00",
        mykey_id="7K3M9Q2X",
        mykey_issued=True,
    )

    token: str
    expires_at: Timestamp
    mykey_id: str = Field(description="マイキーID: 8 characters [0-9A-Z]")
    mykey_issued: bool = Field(description="true on the first login of this card's MyKey ID")


class Registration(Body):
    """A My Payment Service registration (マイ決済サービス). Lists show `account_id` masked but
    for its last four characters; the security code is never stored."""

    model_config = example(
        registration_id="reg_01J9ZM…",
        payment_service_id="paysim-pay",
        account_id="********5678",
        status="active",
        created_at="2026-11-27T03:01:00+00:00",
    )

    registration_id: str
    payment_service_id: str
    account_id: str
    status: str = Field(description="active | invalid (the provider closed the account)")
    created_at: Timestamp


class RegistrationPage(Page[Registration]):
    """The resident's registrations, oldest first, account IDs masked."""


class Me(Body):
    """The logged-in resident."""

    model_config = example(
        mykey_id="7K3M9Q2X",
        status="active",
        issued_at="2026-11-27T03:00:00+00:00",
        payment_services=[
            {
                "registration_id": "reg_01J9ZM…",
                "payment_service_id": "paysim-pay",
                "account_id": "acct-12345678",
                "status": "active",
                "created_at": "2026-11-27T03:01:00+00:00",
            }
        ],
    )

    mykey_id: str
    status: MyKeyStatus
    issued_at: Timestamp
    payment_services: list[Registration]


class RegistrationBody(Strict):
    """Register an account of a payment service; the provider verifies it with the security
    code, which the hub never stores. Needs a fresh card proof."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "payment_service_id": "paysim-pay",
                    "account_id": "acct-12345678",
                    "security_code": "1234",
                    "card_proof": {
                        "challenge_id": "chl_4f9c2d1e8a7b6c5d",
                        "certificate": "MIIDdzCCAl+gAwIBAgIU…",
                        "signature": "kq3Vb0y9…",
                    },
                }
            ]
        },
    )

    payment_service_id: str = Field(min_length=1, max_length=64)
    account_id: str = Field(min_length=1, max_length=128)
    security_code: str = Field(min_length=1, max_length=64)
    card_proof: CardProofBody | None = None


class ApplicationBody(Strict):
    """Apply to a measure; naming a registration fixes the destination for good (FAQ)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"payment_service_registration_id": "reg_01J9ZM…"}]},
    )

    payment_service_registration_id: str | None = Field(None, max_length=64)


class ApplicationDecision(Body):
    """What became of an application, decided in the same round trip."""

    model_config = example(
        application_id="app_7Q2…",
        measure_id="msr_01J9ZK…",
        status="granted",
        grants=[{"grant_id": "app_7Q2…-g1", "points": 1000, "state": "unreceived"}],
        receipt_deadline="2027-02-28T14:59:59+00:00",
    )

    application_id: str
    measure_id: str
    status: ApplicationStatus
    grants: list[GrantBrief]
    receipt_deadline: Timestamp | None


class Application(Body):
    """The resident's application to a measure (one at most; it cannot be cancelled)."""

    model_config = example(
        application_id="app_7Q2…",
        measure_id="msr_01J9ZK…",
        state="granted",
        points_granted=1000,
        fixed_registration_id="reg_01J9ZM…",
        created_at="2026-11-27T03:02:00+00:00",
        decided_at="2026-11-27T03:02:00+00:00",
    )

    application_id: str
    measure_id: str
    state: ApplicationStatus
    points_granted: int
    fixed_registration_id: str | None = Field(description="the destination fixed at application")
    created_at: Timestamp
    decided_at: Timestamp | None


class ApplicationPage(Page[Application]):
    """The resident's own application to the measure: none or one."""


class Points(Body):
    """Every grant of the resident, and points per grant state (every state listed)."""

    model_config = example(
        totals={state.value: 1000 if state == GrantState.CREDITED else 0 for state in GrantState},
        grants=[
            {
                "grant_id": "app_7Q2…-g1",
                "measure_id": "msr_01J9ZK…",
                "event_id": None,
                "points": 1000,
                "state": "credited",
                "created_at": "2026-11-27T03:00:00+00:00",
            }
        ],
    )

    totals: dict[GrantState, int]
    grants: list[Grant]


class ReceiptPage(Page[Receipt]):
    """The resident's receipts, newest first."""


class ReceiptRequestBody(Strict):
    """Ask to receive unreceived grants in one registered service (受取申請); needs a card
    proof. Once requested the destination is fixed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "grant_ids": ["app_7Q2…-g1"],
                    "payment_service_registration_id": "reg_01J9ZM…",
                    "card_proof": {
                        "challenge_id": "chl_9a8b7c6d5e4f3a2b",
                        "certificate": "MIIDdzCCAl+gAwIBAgIU…",
                        "signature": "Zm9v…",
                    },
                }
            ]
        },
    )

    grant_ids: list[str] = Field(min_length=1, max_length=100)
    payment_service_registration_id: str = Field(min_length=1, max_length=64)
    card_proof: CardProofBody | None = None


class RequestedReceipt(Body):
    receipt_id: str
    grant_id: str
    points: int
    state: ReceiptState


class RequestedReceipts(Body):
    """One receipt per grant, each on its way to the provider; follow them in
    `GET /v1/me/receipts` or `GET /v1/me/points`."""

    model_config = example(
        receipts=[
            {
                "receipt_id": "app_7Q2…-g1-r1",
                "grant_id": "app_7Q2…-g1",
                "points": 1000,
                "state": "requested",
            }
        ]
    )

    receipts: list[RequestedReceipt]


class AttendanceBody(Strict):
    """The text of an event's QR code, as scanned."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"qr_payload": "MPQ1.evt_01J9ZP….1798675199.Q2h…"}]},
    )

    qr_payload: str = Field(min_length=1, max_length=512)


class ReportedAttendance(Body):
    """One of the resident's attendance reports; a late one waits for review."""

    model_config = example(
        report_id="rpt_01J9ZQ…",
        event_id="evt_01J9ZP…",
        measure_id="msr_01J9ZK…",
        status="pending_review",
        timing="late",
        reported_at="2026-12-08T01:00:00+00:00",
        grant_id=None,
        review_id="rev_01J9ZR…",
    )

    report_id: str
    event_id: str
    measure_id: str
    status: ReportStatus
    timing: str = Field(description="on_time | late")
    reported_at: Timestamp
    grant_id: str | None
    review_id: str | None


class ReportedAttendancePage(Page[ReportedAttendance]):
    """The resident's attendance reports, newest first."""


class AttendanceReport(Body):
    """On time: accepted and granted; late: waits for the municipality's review."""

    model_config = example(
        report_id="rpt_01J9ZQ…",
        event_id="evt_01J9ZP…",
        status="accepted",
        grant={"grant_id": "app_7Q2…-evt_01J9ZP…", "points": 100, "state": "unreceived"},
    )

    report_id: str
    event_id: str
    status: ReportStatus
    grant: GrantBrief | None
