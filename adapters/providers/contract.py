"""The one contract every payment provider adapter fulfils, and its one error taxonomy.

Transient failures (time-out, connection, 5xx, 429) raise `TransientProviderError` and are
retried by Temporal with the provider's own policy; permanent ones (validation, a key reused
with another body) raise `PermanentProviderError` and are not retried. An account the provider
refuses is not an error: it is a `rejected` outcome that sends the points back to the resident.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Temporal ApplicationError types, shared by activities and workflows.
PROVIDER_PERMANENT = "ProviderPermanentError"
PROVIDER_TRANSIENT = "ProviderTransientError"
# A provider's reference for a credit is an identifier the hub keeps as given, up to this length.
REFERENCE_MAX = 128


@dataclass(frozen=True)
class CreditRequest:
    receipt_id: str
    account_id: str
    points: int
    measure_id: str
    municipality_code: str


@dataclass(frozen=True)
class CreditOutcome:
    """`credited` and `rejected` are final; `accepted` waits for the provider's acknowledgement
    (webhook or pull); `queued` asks the hub to deliver the request in the provider's next batch
    file (the adapter writes no database, so the `credit` activity queues it)."""

    status: str  # credited | accepted | rejected | queued
    provider_reference: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class AccountCheck:
    valid: bool
    status: str  # active | closed | unknown


@dataclass(frozen=True)
class CreditStatus:
    status: str  # credited | rejected | pending | not_found
    provider_reference: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ProviderEvent:
    """One thing a provider tells the hub on its own initiative (a webhook, a result row)."""

    message_id: str
    type: str  # credit.completed | credit.rejected | account.closed
    receipt_id: str | None = None
    reason: str | None = None
    provider_reference: str | None = None
    payment_service_id: str | None = None
    account_id: str | None = None

    @property
    def ack_status(self) -> str | None:
        """The acknowledgement this event carries, if it is one."""
        return {"credit.completed": "credited", "credit.rejected": "rejected"}.get(self.type)


class TransientProviderError(Exception):
    """Worth retrying: the provider may answer differently later."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentProviderError(Exception):
    """Retrying cannot help: the request itself is wrong for this provider."""


class ProviderAdapter(Protocol):
    provider_id: str

    async def verify_account(self, account_id: str, security_code: str) -> AccountCheck: ...

    async def credit(self, request: CreditRequest) -> CreditOutcome: ...

    async def credit_status(self, receipt_id: str) -> CreditStatus: ...

    async def aclose(self) -> None: ...


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def classify_http_failure(status: int, retry_after: str | None, body: str) -> Exception:
    """Every non-success HTTP answer of every provider goes through here."""
    excerpt = body[:200]
    if status == 429:
        return TransientProviderError(
            f"rate limited (429): {excerpt}", retry_after_s=parse_retry_after(retry_after)
        )
    if status >= 500 or status in (408, 425):
        return TransientProviderError(
            f"provider error {status}: {excerpt}", retry_after_s=parse_retry_after(retry_after)
        )
    return PermanentProviderError(f"provider refused the request ({status}): {excerpt}")
