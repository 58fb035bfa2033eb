"""A provider that is misconfigured or refuses the hub is paused, not its receipts (issue 17).

The receipt carrier reports each provider failure here (`record_failure`) and each answer
(`record_success`). `pause` failures (401, 403, an unknown route: `domain.provider_errors`)
that come `PAUSE_AFTER_FAILURES` times in a row with no answer in between pause the provider:
its receipts wait (the credit activity asks `is_paused` before calling it again) instead of
turning stuck one by one. A receipt whose call failed that way waits from the first such
failure (`record_failure` answers True), so none is given up on while the run builds up.

A pause raises an alert: an error in the log, the `hub.provider.paused` counter, the console's
provider page. Only an operator resumes it (`resume`), audited; a transient outage (5xx, 429,
time-outs) never pauses a provider: it keeps retrying under the provider's own policy.

Each function works in the caller's session and transaction, so the failure, the pause and
their audit entries commit with the receipt change that caused them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from opentelemetry import metrics
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import RuleViolation
from domain.provider_errors import PAUSE_AFTER_FAILURES, ProviderFailure, describe
from services.context import HubContext
from storage import audit, provider_status
from storage.models import PaymentProvider
from storage.models.provider_status import ProviderStatus

log = logging.getLogger(__name__)
HUB_ACTOR = "hub"
OPERATOR_PAUSED = "operator_paused"  # the paused_reason of a pause an operator asked for

_meter = metrics.get_meter("hub.providers")
_failures = _meter.create_counter(
    "hub.provider.failures",
    description="Provider failures recorded for receipts, by provider, code and kind",
)
_paused = _meter.create_counter(
    "hub.provider.paused",
    description="Providers paused, by provider and reason (alert on any increase)",
)


@dataclass(frozen=True)
class PauseState:
    """What the operator API and the console show of one provider's queue."""

    provider_id: str
    status: str  # active | paused
    paused_reason: str | None
    paused_reason_ja: str | None
    paused_reason_en: str | None
    paused_detail: str | None
    paused_at: datetime | None
    paused_by: str | None
    consecutive_failures: int
    last_failure_code: str | None
    last_failure_at: datetime | None
    resumed_at: datetime | None
    resumed_by: str | None
    resume_note: str | None
    waiting_receipts: int | None  # counted for one provider's view, not for lists


def reason_message(code: str | None, lang: str) -> str | None:
    if code is None:
        return None
    if code == OPERATOR_PAUSED:
        return "運用者が一時停止しました。" if lang == "ja" else "Paused by an operator."
    return describe(code, lang)


async def record_failure(
    session: AsyncSession, provider_id: str, failure: ProviderFailure, *, now: datetime
) -> bool:
    """Record one failure of a call to `provider_id`. True when its receipt should wait for the
    provider instead of counting as failed: the provider is paused (by this failure or before
    it), or this is a `pause` failure that counts towards pausing it (401, 403, an unknown
    route: every receipt would fail the same way, so none is given up on for it)."""
    _failures.add(1, {"provider": provider_id, "code": failure.code, "kind": failure.kind})
    run = await provider_status.note_failure(
        session,
        provider_id,
        code=failure.code,
        detail=failure.detail,
        counts=failure.pauses_provider,
        now=now,
    )
    reached = failure.pauses_provider and run >= PAUSE_AFTER_FAILURES
    if reached and await provider_status.pause(
        session, provider_id, reason=failure.code, detail=failure.detail, actor=HUB_ACTOR, now=now
    ):
        _alert(session, provider_id, failure, run, now)
        return True
    return failure.pauses_provider or await provider_status.is_paused(session, provider_id)


def _alert(
    session: AsyncSession, provider_id: str, failure: ProviderFailure, run: int, now: datetime
) -> None:
    _paused.add(1, {"provider": provider_id, "reason": failure.code})
    log.error(
        "provider %s paused after %d %s failures in a row: %s Its receipts wait until an "
        "operator resumes it (POST /v1/operator/providers/%s/resume).",
        provider_id,
        run,
        failure.code,
        failure.message_en,
        provider_id,
    )
    audit.record(
        session,
        actor=HUB_ACTOR,
        action="pause_provider",
        object_type="provider",
        object_id=provider_id,
        outcome="paused",
        detail={"reason": failure.code, "failures_in_a_row": run, "error": failure.detail},
        at=now,
    )


async def record_success(
    session: AsyncSession, provider_id: str, *, now: datetime | None = None
) -> None:
    """The provider answered: its run of configuration failures starts again from zero."""
    await provider_status.note_success(session, provider_id, now=now or audit.utcnow())


async def is_paused(session: AsyncSession, provider_id: str) -> bool:
    return await provider_status.is_paused(session, provider_id)


async def standing(session: AsyncSession, provider_id: str) -> tuple[bool, bool]:
    """(paused, failing) in one read, before a call goes out: whether the provider is paused,
    and whether a run of configuration failures is open, for a success to end it
    (`record_success` then; most calls need no write at all)."""
    return standing_of(await provider_status.get(session, provider_id))


def standing_of(row: ProviderStatus | None) -> tuple[bool, bool]:
    """`standing` of a pause book row already read (none: the provider never failed)."""
    if row is None:
        return False, False
    return row.status == provider_status.PAUSED, row.consecutive_failures > 0


async def _require_provider(session: AsyncSession, provider_id: str) -> None:
    if await session.get(PaymentProvider, provider_id) is None:
        raise RuleViolation("not_found", "no such provider", status=404)


async def pause(
    session: AsyncSession,
    provider_id: str,
    *,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> None:
    """An operator pauses a provider (planned maintenance, a suspected leak of its keys)."""
    await _require_provider(session, provider_id)
    now = now or audit.utcnow()
    if not await provider_status.pause(
        session, provider_id, reason=OPERATOR_PAUSED, detail=reason, actor=actor, now=now
    ):
        raise RuleViolation("provider_paused", "the provider is already paused", status=409)
    _paused.add(1, {"provider": provider_id, "reason": OPERATOR_PAUSED})
    log.warning("provider %s paused by %s: %s", provider_id, actor, reason)
    audit.record(
        session,
        actor=actor,
        action="pause_provider",
        object_type="provider",
        object_id=provider_id,
        outcome="paused",
        detail={"reason": OPERATOR_PAUSED, "note": reason},
        at=now,
    )


async def resume(
    session: AsyncSession,
    provider_id: str,
    *,
    actor: str,
    note: str | None,
    now: datetime | None = None,
) -> None:
    """An operator resumes a paused provider: its waiting receipts go on at their carrier's
    next check, each still exactly once (the receipt ID stays the idempotency key)."""
    await _require_provider(session, provider_id)
    now = now or audit.utcnow()
    before = await provider_status.get(session, provider_id)
    if not await provider_status.resume(session, provider_id, actor=actor, note=note, now=now):
        raise RuleViolation("provider_not_paused", "the provider is not paused", status=409)
    log.warning("provider %s resumed by %s", provider_id, actor)
    audit.record(
        session,
        actor=actor,
        action="resume_provider",
        object_type="provider",
        object_id=provider_id,
        outcome="active",
        detail={
            "note": note,
            "paused_reason": before.paused_reason if before else None,
            "paused_at": before.paused_at.isoformat() if before and before.paused_at else None,
        },
        at=now,
    )


async def state(session: AsyncSession, provider_id: str) -> PauseState:
    """The provider's queue as the operator API and the console show it."""
    row = await provider_status.get(session, provider_id)
    return _state(provider_id, row, await provider_status.open_receipts(session, provider_id))


async def paused_states(session: AsyncSession) -> dict[str, PauseState]:
    """Every paused provider's state (waiting receipts not counted), by provider ID."""
    return {
        row.provider_id: _state(row.provider_id, row, None)
        for row in await provider_status.paused(session)
    }


async def paused_ids(ctx: HubContext) -> set[str]:
    """The providers paused now (few or none): receipts of theirs wait."""
    async with ctx.sessions() as session:
        return {row.provider_id for row in await provider_status.paused(session)}


def _state(provider_id: str, row: ProviderStatus | None, waiting: int | None) -> PauseState:
    paused = row is not None and row.status == provider_status.PAUSED
    reason = row.paused_reason if row is not None and paused else None
    return PauseState(
        provider_id=provider_id,
        status=provider_status.PAUSED if paused else provider_status.ACTIVE,
        paused_reason=reason,
        paused_reason_ja=reason_message(reason, "ja"),
        paused_reason_en=reason_message(reason, "en"),
        paused_detail=row.paused_detail if row is not None and paused else None,
        paused_at=row.paused_at if row is not None and paused else None,
        paused_by=row.paused_by if row is not None and paused else None,
        consecutive_failures=row.consecutive_failures if row is not None else 0,
        last_failure_code=row.last_failure_code if row is not None else None,
        last_failure_at=row.last_failure_at if row is not None else None,
        resumed_at=row.resumed_at if row is not None else None,
        resumed_by=row.resumed_by if row is not None else None,
        resume_note=row.resume_note if row is not None else None,
        waiting_receipts=waiting,
    )
