"""Measures (施策): their kinds, states, field rules and eligibility of an application."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.errors import RuleViolation


class MeasureKind(StrEnum):
    APPLICATION = "application"  # 申請型: apply once, points when eligible
    EVENT = "event"  # イベント型: register, then points for each attended event


class MeasureState(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"


@dataclass(frozen=True)
class ServiceOffer:
    payment_service_id: str
    available_from: datetime


@dataclass(frozen=True)
class MeasureTerms:
    """The fields of a measure that rules look at; everything else is presentation."""

    kind: MeasureKind
    points_per_grant: int
    per_person_cap: int
    budget_points: int | None
    opens_at: datetime
    closes_at: datetime
    receipt_deadline: datetime
    target_list_only: bool
    auto_grant: bool
    review_required: bool
    late_report_days: int
    services: tuple[ServiceOffer, ...] = field(default_factory=tuple)


def validate_terms(terms: MeasureTerms) -> None:
    """Refuse a measure whose fields contradict each other, with one clear reason.

    Staff fix one thing at a time, so the first contradiction found is the one reported; the
    reasons are stable sentences that the tests and the staff pages rely on.
    """
    if terms.points_per_grant <= 0:
        raise RuleViolation("invalid_measure", "points_per_grant must be positive")
    if terms.per_person_cap < terms.points_per_grant:
        raise RuleViolation("invalid_measure", "per_person_cap must be at least points_per_grant")
    if terms.budget_points is not None and terms.budget_points < terms.points_per_grant:
        raise RuleViolation("invalid_measure", "budget_points must be at least points_per_grant")
    if terms.closes_at <= terms.opens_at:
        raise RuleViolation("invalid_measure", "closes_at must be after opens_at")
    if terms.receipt_deadline < terms.closes_at:
        raise RuleViolation("invalid_measure", "receipt_deadline must not be before closes_at")
    if terms.late_report_days < 0:
        raise RuleViolation("invalid_measure", "late_report_days must not be negative")
    if terms.late_report_days > 0 and terms.kind is not MeasureKind.EVENT:
        raise RuleViolation("invalid_measure", "late_report_days applies to event measures only")
    if terms.auto_grant and not terms.target_list_only:
        raise RuleViolation("invalid_measure", "auto_grant needs target_list_only")
    if terms.auto_grant and terms.kind is not MeasureKind.APPLICATION:
        raise RuleViolation("invalid_measure", "auto_grant applies to application measures only")
    if terms.auto_grant and terms.review_required:
        raise RuleViolation("invalid_measure", "auto_grant grants without review")
    if not terms.services:
        raise RuleViolation("invalid_measure", "a measure needs at least one payment service")
    ids = [s.payment_service_id for s in terms.services]
    if len(set(ids)) != len(ids):
        raise RuleViolation("invalid_measure", "a payment service is listed twice")
    for offer in terms.services:
        if offer.available_from >= terms.receipt_deadline:
            raise RuleViolation(
                "invalid_measure",
                f"payment service {offer.payment_service_id} starts after the receipt deadline",
            )


_NEXT_STATE = {
    MeasureState.PUBLISHED: MeasureState.DRAFT,
    MeasureState.CLOSED: MeasureState.PUBLISHED,
}


def check_editable(state: MeasureState) -> None:
    """Residents see a published measure as announced: only a draft may change."""
    if state is not MeasureState.DRAFT:
        raise RuleViolation("measure_not_draft", "only a draft measure can be edited", status=409)


def check_state_change(current: MeasureState, target: MeasureState) -> bool:
    """draft → published → closed. True when the change is due, False when already done
    (publishing twice is harmless), a refusal otherwise."""
    if current is target:
        return False
    if target not in _NEXT_STATE or _NEXT_STATE[target] is not current:
        raise RuleViolation(
            "invalid_measure_state",
            f"a {current.value} measure cannot become {target.value}",
            status=409,
        )
    return True


def check_publishable(terms: MeasureTerms, now: datetime) -> None:
    """A measure whose application window is already over would be published for nobody."""
    if terms.closes_at <= now:
        raise RuleViolation(
            "invalid_measure", "closes_at has passed; this measure can no longer be published"
        )


@dataclass(frozen=True)
class EventTerms:
    """An event of an event measure (SPEC §2): residents who attend it earn `points`."""

    starts_at: datetime
    ends_at: datetime
    points: int


def validate_event(terms: MeasureTerms, event: EventTerms) -> None:
    """An event belongs to an event measure and fits inside it, so its points can be received."""
    if terms.kind is not MeasureKind.EVENT:
        raise RuleViolation(
            "not_an_event_measure", "events belong to event measures only", status=409
        )
    if event.ends_at <= event.starts_at:
        raise RuleViolation("invalid_event", "ends_at must be after starts_at")
    if event.starts_at < terms.opens_at:
        raise RuleViolation("invalid_event", "the event must not start before the measure opens")
    if event.ends_at > terms.receipt_deadline:
        raise RuleViolation("invalid_event", "the event must end before the receipt deadline")
    if event.points <= 0:
        raise RuleViolation("invalid_event", "points must be positive")
    if event.points > terms.per_person_cap:
        raise RuleViolation("invalid_event", "points must not exceed the per-person cap")


@dataclass(frozen=True)
class ApplicantStanding:
    """What the hub knows of one resident and one measure at the moment of application."""

    on_target_list: bool
    points_already_granted: int
    budget_used: int


def check_application(terms: MeasureTerms, standing: ApplicantStanding, now: datetime) -> int:
    """The points an application may be granted now, or the refusal (SPEC §2, §5).

    Budget and cap are first come, first served: the caller must hold the measure's budget
    row locked (or update it conditionally) so that two applications cannot both pass.
    """
    if not terms.opens_at <= now < terms.closes_at:
        raise RuleViolation(
            "outside_application_window",
            "applications are accepted from opens_at until closes_at",
            status=409,
        )
    if terms.target_list_only and not standing.on_target_list:
        raise RuleViolation(
            "not_in_target_list", "this measure is for residents on its target list", status=403
        )
    return points_within_limits(terms, standing)


def points_within_limits(terms: MeasureTerms, standing: ApplicantStanding) -> int:
    """Points of one more grant, or `budget_exhausted` / `cap_reached` when none fit."""
    points = terms.points_per_grant
    if standing.points_already_granted + points > terms.per_person_cap:
        raise RuleViolation(
            "cap_reached", "this resident has reached the measure's per-person cap", status=409
        )
    if terms.budget_points is not None and standing.budget_used + points > terms.budget_points:
        raise RuleViolation("budget_exhausted", "the measure's budget is used up", status=409)
    return points


def service_offer(terms: MeasureTerms, payment_service_id: str) -> ServiceOffer | None:
    return next((s for s in terms.services if s.payment_service_id == payment_service_id), None)


def check_destination(terms: MeasureTerms, payment_service_id: str, now: datetime) -> None:
    """A receipt may go only to a service the measure lists and that has already started."""
    offer = service_offer(terms, payment_service_id)
    if offer is None:
        raise RuleViolation(
            "destination_not_eligible",
            "this payment service cannot receive this measure's points",
            status=422,
        )
    if now < offer.available_from:
        raise RuleViolation(
            "destination_not_available_yet",
            "this payment service starts receiving this measure's points later",
            status=422,
            available_from=offer.available_from.isoformat(),
        )
