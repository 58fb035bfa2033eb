from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import RuleViolation
from domain.measures import (
    ApplicantStanding,
    MeasureKind,
    MeasureTerms,
    ServiceOffer,
    check_application,
    check_destination,
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
