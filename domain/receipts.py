"""Receipt states: one receipt carries one grant's points to one payment service account.

Annotations are evaluated (no `from __future__ import annotations`): the payload converter
resolves these types inside the workflow sandbox, where string annotations do not resolve.
"""

from dataclasses import dataclass
from enum import StrEnum

from domain.providers import ProviderPolicy


class ReceiptState(StrEnum):
    REQUESTED = "requested"  # written with the receipt request; not yet sent
    CREDITING = "crediting"  # credit call under way (or being retried)
    ACCEPTED = "accepted"  # provider accepted; acknowledgement awaited (webhook, pull, batch)
    CREDITED = "credited"  # terminal: the provider credited the points
    REJECTED = "rejected"  # terminal: the provider refused the account; points back to unreceived
    RETURNED = "returned"  # terminal: support returned the points after the provider said no
    FORFEITED = "forfeited"  # terminal: MyKey revoked before any credit


TERMINAL_RECEIPT_STATES = frozenset(
    {ReceiptState.CREDITED, ReceiptState.REJECTED, ReceiptState.RETURNED, ReceiptState.FORFEITED}
)


def receipt_id_for(grant_id: str, sequence: int) -> str:
    """Receipt IDs come from the business key: the grant and how many receipts it had before.

    A grant whose account was rejected can be requested again to another service; each such
    attempt is a new receipt with its own idempotency key, and the same attempt can never be
    created twice.
    """
    return f"{grant_id}-r{sequence}"


@dataclass
class ReceiptPlan:
    """What a workflow needs to carry one receipt: never the account ID."""

    receipt_id: str
    grant_id: str
    provider_id: str
    points: int
    policy: ProviderPolicy
    # Queued for a `batch_file` provider's next file in the claim's own transaction: the
    # receipt is already accepted and only the result file's answer is awaited.
    queued: bool = False
