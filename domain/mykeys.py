"""MyKey ID states: active, suspended (fraud suspected, resumable), revoked (for ever; FAQ: その他).

Suspension stops logins and new receipts while work already in flight carries on; revocation
forfeits every point not yet credited and can never be undone.
"""

from __future__ import annotations

from enum import StrEnum

from domain.errors import RuleViolation
from domain.identifiers import contains_my_number

REASON_MAX_LENGTH = 1000


class MyKeyStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class MyKeyAction(StrEnum):
    SUSPEND = "suspend"
    RESUME = "resume"
    REVOKE = "revoke"


_TRANSITIONS: dict[MyKeyAction, tuple[frozenset[MyKeyStatus], MyKeyStatus]] = {
    MyKeyAction.SUSPEND: (frozenset({MyKeyStatus.ACTIVE}), MyKeyStatus.SUSPENDED),
    MyKeyAction.RESUME: (frozenset({MyKeyStatus.SUSPENDED}), MyKeyStatus.ACTIVE),
    MyKeyAction.REVOKE: (
        frozenset({MyKeyStatus.ACTIVE, MyKeyStatus.SUSPENDED}),
        MyKeyStatus.REVOKED,
    ),
}


def allowed_from(action: MyKeyAction) -> frozenset[MyKeyStatus]:
    return _TRANSITIONS[action][0]


def next_status(current: MyKeyStatus, action: MyKeyAction) -> MyKeyStatus:
    """The status `action` leads to from `current`, or the refusal an operator sees."""
    sources, target = _TRANSITIONS[action]
    if current is MyKeyStatus.REVOKED:
        raise RuleViolation(
            "mykey_revoked", "this MyKey ID is revoked; revocation is irreversible", status=409
        )
    if current not in sources:
        raise RuleViolation(
            "mykey_status_conflict", f"a {current} MyKey ID cannot be {action}d", status=409
        )
    return target


def check_usable(status: str) -> None:
    """Only an active MyKey ID logs in, proves a card read or asks for a receipt."""
    if status == MyKeyStatus.REVOKED:
        raise RuleViolation("mykey_revoked", "this MyKey ID has been revoked", status=403)
    if status == MyKeyStatus.SUSPENDED:
        raise RuleViolation("mykey_suspended", "this MyKey ID is suspended", status=403)


def check_reason(reason: str) -> str:
    """A status change states why, in free text that must never carry a My Number (SPEC §6)."""
    text = reason.strip()
    if not text or len(text) > REASON_MAX_LENGTH:
        raise RuleViolation(
            "validation_error", f"reason must be 1 to {REASON_MAX_LENGTH} characters", status=422
        )
    if contains_my_number(text):
        raise RuleViolation(
            "contains_my_number", "the reason must not contain a My Number", status=422
        )
    return text
