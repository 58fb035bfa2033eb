"""The one contract every payment provider adapter fulfils, and its one error taxonomy.

Transient failures (time-out, connection, 5xx, 429) raise `TransientProviderError` and are
retried by Temporal with the provider's own policy; permanent ones (validation, a key reused
with another body) raise `PermanentProviderError` and are not retried. An account the provider
refuses is not an error: it is a `rejected` outcome that sends the points back to the resident.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Protocol

from domain.provider_errors import CODES, code_for

log = logging.getLogger(__name__)

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


class ProviderError(Exception):
    """A failed provider call, with the facts `domain.provider_errors.classify` reads: what went
    wrong before an answer (`reason`: timeout, connection, invalid_json, unknown_status, ...),
    the HTTP status, the provider's own error code and its `Retry-After`."""

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        reason: str | None = None,
        http_status: int | None = None,
        provider_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.reason = reason
        self.http_status = http_status
        self.provider_code = provider_code


class TransientProviderError(ProviderError):
    """Worth retrying: the provider may answer differently later."""


class PermanentProviderError(ProviderError):
    """Retrying cannot help: the request itself (or the provider's configuration) is wrong."""

    # Read by `classify` when nothing more is known (no status, no reason): raised without
    # facts, it is the hub's configuration (an unknown provider ID, a call of the wrong style).
    fallback_reason = "config"


class ProviderAdapter(Protocol):
    provider_id: str

    async def verify_account(self, account_id: str, security_code: str) -> AccountCheck: ...

    async def credit(self, request: CreditRequest) -> CreditOutcome: ...

    async def credit_status(self, receipt_id: str) -> CreditStatus: ...

    async def aclose(self) -> None: ...


def bounded_reference(value: str | None) -> str | None:
    """A provider's reference as the hub stores it: as given up to `REFERENCE_MAX` characters;
    a longer one keeps its beginning and ends in `~` and 16 hex digits of the SHA-256 of the
    whole, so it still fits, stays the same for the same reference (a status check and the
    credit answer agree) and two long references sharing a beginning stay apart."""
    if value is None or len(value) <= REFERENCE_MAX:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:16]
    bounded = f"{value[: REFERENCE_MAX - 17]}~{digest}"
    # The whole reference stays findable: the log line pairs it with the stored form.
    log.warning(
        "provider reference of %d characters stored as %s; the whole reference: %s",
        len(value),
        bounded,
        value[:4096],
    )
    return bounded


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def classify_http_failure(
    status: int,
    retry_after: str | None,
    body: str,
    *,
    adapter_style: str = "hub_rest",
    provider_code: str | None = None,
) -> ProviderError:
    """Every non-success HTTP answer of every provider goes through here: the adapter style's
    table (`domain.provider_errors`) decides whether it is worth retrying."""
    excerpt = body[:200]
    code = code_for(adapter_style, http_status=status, provider_code=provider_code)
    error_type = (
        TransientProviderError if CODES[code].kind == "transient" else PermanentProviderError
    )
    if error_type is TransientProviderError:
        message = (
            f"rate limited (429): {excerpt}"
            if status == 429
            else f"provider error {status}: {excerpt}"
        )
    else:
        message = f"provider refused the request ({status}): {excerpt}"
    return error_type(
        message,
        retry_after_s=parse_retry_after(retry_after),
        http_status=status,
        provider_code=provider_code,
    )
