from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import RuleViolation
from domain.measures import (
    ApplicantStanding,
    EventTerms,
    MeasureKind,
    MeasureState,
    MeasureTerms,
    ServiceOffer,
    check_application,
    check_destination,
    check_editable,
    check_publishable,
    check_state_change,
    validate_event,
    validate_terms,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
TERMS = MeasureTerms(
    kind=MeasureKind.APPLICATION,
    points_per_grant=1000,
    per_person_cap=1000,
    budget_points=3000,
    opens_at=NOW - timedelta(days=1),
    closes_at=NOW + timedelta(days=1),
    receipt_deadline=NOW + timedelta(days=30),
    target_list_only=False,
    auto_grant=False,
    review_required=False,
    late_report_days=0,
    services=(
        ServiceOffer("paysim", NOW - timedelta(days=1)),
        ServiceOffer("later", NOW + timedelta(days=3)),
    ),
)
FRESH = ApplicantStanding(on_target_list=False, points_already_granted=0, budget_used=0)


def code_of(call) -> str:
    with pytest.raises(RuleViolation) as caught:
        call()
    return caught.value.code


def test_a_fresh_applicant_inside_the_window_gets_points_per_grant() -> None:
    assert check_application(TERMS, FRESH, NOW) == 1000


@pytest.mark.parametrize("when", [NOW - timedelta(days=2), NOW + timedelta(days=1)])
def test_outside_the_window_is_refused(when: datetime) -> None:
    assert code_of(lambda: check_application(TERMS, FRESH, when)) == "outside_application_window"


def test_target_list_measures_refuse_residents_not_on_the_list() -> None:
    terms = replace(TERMS, target_list_only=True)
    assert code_of(lambda: check_application(terms, FRESH, NOW)) == "not_in_target_list"
    on_list = replace(FRESH, on_target_list=True)
    assert check_application(terms, on_list, NOW) == 1000


def test_budget_and_cap_are_enforced() -> None:
    spent = replace(FRESH, budget_used=2500)
    assert code_of(lambda: check_application(TERMS, spent, NOW)) == "budget_exhausted"
    capped = replace(FRESH, points_already_granted=1000)
    assert code_of(lambda: check_application(TERMS, capped, NOW)) == "cap_reached"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"closes_at": NOW - timedelta(days=2)}, "closes_at must be after opens_at"),
        ({"receipt_deadline": NOW}, "receipt_deadline must not be before closes_at"),
        ({"per_person_cap": 999}, "per_person_cap must be at least points_per_grant"),
        ({"services": ()}, "a measure needs at least one payment service"),
        ({"auto_grant": True}, "auto_grant needs target_list_only"),
    ],
)
def test_contradictory_measures_are_refused_with_a_reason(change: dict, reason: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        validate_terms(replace(TERMS, **change))
    assert caught.value.code == "invalid_measure"
    assert caught.value.detail == reason


def test_destinations_must_be_listed_and_started() -> None:
    check_destination(TERMS, "paysim", NOW)
    assert code_of(lambda: check_destination(TERMS, "other", NOW)) == "destination_not_eligible"
    assert code_of(lambda: check_destination(TERMS, "later", NOW)) == (
        "destination_not_available_yet"
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"late_report_days": 3}, "late_report_days applies to event measures only"),
        (
            {"auto_grant": True, "target_list_only": True, "review_required": True},
            "auto_grant grants without review",
        ),
        (
            {"auto_grant": True, "target_list_only": True, "kind": MeasureKind.EVENT},
            "auto_grant applies to application measures only",
        ),
        (
            {"services": (ServiceOffer("late", NOW + timedelta(days=40)),)},
            "payment service late starts after the receipt deadline",
        ),
        (
            {"services": (ServiceOffer("a", NOW), ServiceOffer("a", NOW))},
            "a payment service is listed twice",
        ),
        ({"budget_points": 999}, "budget_points must be at least points_per_grant"),
        ({"points_per_grant": 0}, "points_per_grant must be positive"),
    ],
)
def test_more_contradictions_are_refused_with_a_reason(change: dict, reason: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        validate_terms(replace(TERMS, **change))
    assert (caught.value.code, caught.value.detail) == ("invalid_measure", reason)


def test_a_consistent_event_measure_passes() -> None:
    validate_terms(replace(TERMS, kind=MeasureKind.EVENT, late_report_days=7))
    validate_terms(replace(TERMS, target_list_only=True, auto_grant=True))


def test_states_go_draft_published_closed_and_repeat_harmlessly() -> None:
    assert check_state_change(MeasureState.DRAFT, MeasureState.PUBLISHED) is True
    assert check_state_change(MeasureState.PUBLISHED, MeasureState.CLOSED) is True
    assert check_state_change(MeasureState.PUBLISHED, MeasureState.PUBLISHED) is False
    for current, target in [
        (MeasureState.DRAFT, MeasureState.CLOSED),
        (MeasureState.CLOSED, MeasureState.PUBLISHED),
        (MeasureState.PUBLISHED, MeasureState.DRAFT),
    ]:
        assert code_of(lambda c=current, t=target: check_state_change(c, t)) == (
            "invalid_measure_state"
        )
    assert code_of(lambda: check_editable(MeasureState.PUBLISHED)) == "measure_not_draft"
    check_editable(MeasureState.DRAFT)


def test_a_measure_whose_window_is_over_cannot_be_published() -> None:
    check_publishable(TERMS, NOW)
    assert code_of(lambda: check_publishable(TERMS, NOW + timedelta(days=2))) == "invalid_measure"


EVENT_TERMS = replace(TERMS, kind=MeasureKind.EVENT, late_report_days=3, per_person_cap=5000)


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (EventTerms(NOW, NOW + timedelta(hours=2), 500), None),
        (EventTerms(NOW, NOW, 500), "invalid_event"),
        (EventTerms(NOW - timedelta(days=3), NOW, 500), "invalid_event"),
        (EventTerms(NOW, NOW + timedelta(days=31), 500), "invalid_event"),
        (EventTerms(NOW, NOW + timedelta(hours=1), 0), "invalid_event"),
        (EventTerms(NOW, NOW + timedelta(hours=1), 5001), "invalid_event"),
    ],
)
def test_events_fit_inside_their_measure(event: EventTerms, code: str | None) -> None:
    if code is None:
        validate_event(EVENT_TERMS, event)
    else:
        assert code_of(lambda: validate_event(EVENT_TERMS, event)) == code


def test_events_belong_to_event_measures_only() -> None:
    event = EventTerms(NOW, NOW + timedelta(hours=2), 500)
    assert code_of(lambda: validate_event(TERMS, event)) == "not_an_event_measure"
