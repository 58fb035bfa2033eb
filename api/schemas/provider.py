"""What payment providers send to the hub and read from it (SPEC §5 Provider)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import ConfigDict, Field

from adapters.providers.contract import REFERENCE_MAX
from api.free_text import FreeText
from api.schemas.common import Body, Page, Strict, Timestamp, example
from services.acknowledgements import AckVerdict


class WebhookReceipt(Body):
    """What the hub did with a signed webhook: `recorded`, or a harmless `duplicate` /
    `ignored_replay` (a `webhook-id` seen before), or `accounts_closed`."""

    model_config = example(
        event="credit.completed", outcome="recorded", registrations_invalidated=0
    )

    event: str = Field(description="credit.completed | credit.rejected | account.closed")
    outcome: str
    registrations_invalidated: int


class CreditRequest(Body):
    """A credit the hub asks the provider to make; `receipt_id` is its idempotency key."""

    model_config = example(
        receipt_id="app_7Q2…-g1-r1",
        account_id="acct-12345678",
        points=1000,
        measure_id="msr_01J9ZK…",
        municipality_code="131016",
        requested_at="2026-11-27T03:05:00+00:00",
    )

    receipt_id: str
    account_id: str
    points: int
    measure_id: str
    municipality_code: str
    requested_at: Timestamp


class CreditRequestPage(Page[CreditRequest]):
    """Credit requests waiting for this provider's acknowledgement, oldest first."""


class AckBody(Strict):
    """The provider's answer to one credit request."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"status": "credited", "provider_reference": "PS-20261127-000123"},
                {"status": "rejected", "reason": "account_closed"},
            ]
        },
    )

    status: Literal["credited", "rejected"]
    reason: FreeText | None = Field(None, min_length=1, max_length=200)
    # The provider's own identifier, not prose: a 12-digit transaction number that happens to
    # pass the My Number check digit is still the provider's reference, and refusing it would
    # leave a credit the provider made unrecorded.
    provider_reference: str | None = Field(None, min_length=1, max_length=REFERENCE_MAX)


class Acknowledgement(Body):
    """`recorded` the first time, `duplicate` for the same answer again."""

    model_config = example(receipt_id="app_7Q2…-g1-r1", status="credited", result="recorded")

    receipt_id: str
    status: Literal["credited", "rejected"]
    result: AckVerdict


class RequestFile(Body):
    batch_id: str
    status: str = Field(description="assigned | written")
    file_name: str | None
    record_count: int
    total_points: int
    sha256: str | None
    written_at: Timestamp | None


class ResultFile(Body):
    file_name: str
    sha256: str
    status: str = Field(description="ingested | refused")
    record_count: int
    applied: int
    duplicates: int
    conflicts: int
    unknown_receipt_ids: list[str]
    detail: str | None
    landed_at: Timestamp | None = Field(
        description="when the file was complete in the inbox (its manifest's modification time)"
    )
    received_at: Timestamp = Field(description="when the hub took the file in")


class BatchFiles(Body):
    """The latest request files written for the provider and result files received from it."""

    model_config = example(
        request_files=[
            {
                "batch_id": "bat_01J9ZS…",
                "status": "written",
                "file_name": "credits-bat_01J9ZS….csv",
                "record_count": 2,
                "total_points": 2000,
                "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "written_at": "2026-11-27T03:10:00+00:00",
            }
        ],
        result_files=[
            {
                "file_name": "results-bat_01J9ZS….csv",
                "sha256": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
                "status": "ingested",
                "record_count": 2,
                "applied": 2,
                "duplicates": 0,
                "conflicts": 0,
                "unknown_receipt_ids": [],
                "detail": None,
                "landed_at": "2026-11-27T03:10:58+00:00",
                "received_at": "2026-11-27T03:11:00+00:00",
            }
        ],
    )

    request_files: list[RequestFile]
    result_files: list[ResultFile]


# A statement and the hub's own record of one business day (SPEC §7), as the CSV both send.
STATEMENT_CSV = (
    "receipt_id,points,credited_at,provider_reference\n"
    "app_7Q2…-g1-r1,1000,2026-12-04T10:15:03+09:00,PS-20261204-000123\n"
    "app_9K4…-g1-r1,500,2026-12-04T23:59:58+09:00,PS-20261204-000124\n"
)
CREDITS_CSV = (
    "receipt_id,points,measure_id,municipality_code,credited_at,provider_reference\n"
    "app_7Q2…-g1-r1,1000,msr_01J9ZK…,131016,2026-12-04T10:15:03+09:00,PS-20261204-000123\n"
    "app_9K4…-g1-r1,500,msr_01J9ZK…,131016,2026-12-04T23:59:58+09:00,PS-20261204-000124\n"
)


class StatementResult(Body):
    """How a statement was taken and how its day reconciled."""

    model_config = example(
        business_date="2026-12-04",
        records=2,
        total_points=1500,
        matched=1,
        breaks=1,
        new_breaks=1,
        outcome="accepted",
        statement_id="stm_3f1aee51040fe76502ff",
        sha256="b111c6e1d318f203063e5c16bab43c108326af0aa2f7b65760c95547a43dbe52",
    )

    business_date: date
    records: int = Field(description="rows in the statement")
    total_points: int
    matched: int = Field(description="rows that match the hub's ledger")
    breaks: int = Field(description="open breaks of the day after reconciling it")
    new_breaks: int = Field(description="breaks this statement opened")
    outcome: str = Field(description="accepted | replaced | unchanged (same content again)")
    statement_id: str
    sha256: str = Field(description="SHA-256 of the statement's bytes")
