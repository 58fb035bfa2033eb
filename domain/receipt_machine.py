"""The receipt carrier as one state machine: where a receipt is in its journey to the provider,
the moves allowed from there, and the decisions taken on the provider's answers. Pure: the
workflow (`workflows/receipts.py`) only orchestrates what this module decides.

The invariant it serves (issue 17): whatever a provider does, no application workflow fails;
waiting is not failure; every receipt ends credited, rejected or returned exactly once.

    ready ──credit──▶ crediting ──accepted──▶ awaiting ──deadline──▶ polling
      ▲                  │  │                    │                      │
      │     paused ◀─────┘  └──exhausted──▶ stuck ◀── (answers, support) ┘
      └── retry_now (after a status answer that allows it) ──┘
    every phase but crediting ──answer / return──▶ final

Annotations are evaluated (no `from __future__ import annotations`): the payload converter
resolves these types inside the workflow sandbox, where string annotations do not resolve.
"""

from enum import StrEnum

from domain.receipts import ReceiptState


class Phase(StrEnum):
    READY = "ready"  # to be sent to the provider (first time, or again after support asked)
    CREDITING = "crediting"  # a credit call, with the provider's retries, is under way
    AWAITING = "awaiting"  # the provider accepted: its answer is awaited (webhook, pull, file)
    POLLING = "polling"  # no answer by the deadline: the provider's status is asked, backing off
    STUCK = "stuck"  # the credit's attempts are exhausted: an answer or support moves it on
    PAUSED = "paused"  # the provider is paused: the credit waits (a timer) and is sent again
    FINAL = "final"  # credited, rejected, returned or forfeited


MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.READY: frozenset({Phase.CREDITING, Phase.FINAL}),
    Phase.CREDITING: frozenset({Phase.AWAITING, Phase.STUCK, Phase.PAUSED, Phase.FINAL}),
    Phase.AWAITING: frozenset({Phase.POLLING, Phase.FINAL}),
    Phase.POLLING: frozenset({Phase.FINAL}),
    Phase.STUCK: frozenset({Phase.READY, Phase.AWAITING, Phase.FINAL}),
    Phase.PAUSED: frozenset({Phase.READY, Phase.FINAL}),
    Phase.FINAL: frozenset(),
}

FINAL_RECEIPT_STATES = frozenset(
    {
        ReceiptState.CREDITED.value,
        ReceiptState.REJECTED.value,
        ReceiptState.RETURNED.value,
        ReceiptState.FORFEITED.value,
    }
)
# Answers of a status check that say the provider did not credit (and will not).
NOT_CREDITED = frozenset({"not_found", "rejected"})
STATUS_WORDS = frozenset({"credited", "rejected", "pending", "not_found"})


class IllegalMove(ValueError):
    """A move the machine does not allow: a bug in the carrier, never a provider's doing."""


def move(current: Phase | str, to: Phase) -> Phase:
    """The checked move; staying in the same phase is always allowed."""
    here = Phase(current)
    if to != here and to not in MOVES[here]:
        raise IllegalMove(f"a receipt cannot move from {here} to {to}")
    return to


def phase_of(receipt_state: str, *, stuck: bool, queued: bool) -> Phase:
    """The phase of a receipt known only by its database state (a run started from state
    carried over before the machine existed)."""
    if receipt_state in FINAL_RECEIPT_STATES:
        return Phase.FINAL
    if receipt_state == ReceiptState.ACCEPTED.value or queued:
        return Phase.POLLING if stuck else Phase.AWAITING
    if stuck:
        return Phase.STUCK
    return Phase.READY


def status_applies(status: str, receipt_state: str) -> bool:
    """A status answer that is the receipt's outcome. A rejection counts only once the provider
    had accepted the request; before that, the credit call itself says it again."""
    if status == "credited":
        return True
    return status == "rejected" and receipt_state == ReceiptState.ACCEPTED.value


def after_retry_status(status: str) -> Phase:
    """`retry_now` on a stuck receipt asks the provider first: credited is recorded, pending
    means the provider has it (its answer is awaited), anything else is credited again (the
    receipt ID is the idempotency key, so the provider never credits it twice)."""
    if status == "credited":
        return Phase.FINAL
    if status == "pending":
        return Phase.AWAITING
    return Phase.READY


def may_return(phase: Phase | str, status: str) -> bool:
    """Support may return the points only with a provider answer saying it did not credit them,
    taken while no credit call was under way."""
    return Phase(phase) not in (Phase.CREDITING, Phase.FINAL) and status in NOT_CREDITED


def backoff_s(previous_s: float, *, first_s: float, cap_s: float) -> float:
    """Status polling and waits for a paused provider back off: the first wait, then doubling up
    to the cap, and on at the cap until an answer or support ends it."""
    if previous_s <= 0:
        return first_s
    return min(previous_s * 2, cap_s)
