"""How rows are shown: one function per resource, shared by every audience that sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.points import GrantView
from storage.models import Grant, Measure, MeasurePaymentService, Receipt


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def measure_view(
    measure: Measure,
    offers: list[tuple[MeasurePaymentService, str]],
    *,
    now: datetime,
    hide_future_services: bool,
) -> dict[str, Any]:
    """A service not yet started is absent from what residents see (FAQ)."""
    services = [
        {
            "payment_service_id": offer.payment_service_id,
            "name": name,
            "available_from": iso(offer.available_from),
        }
        for offer, name in offers
        if not hide_future_services or offer.available_from <= now
    ]
    budget_left = None
    if measure.budget_points is not None:
        budget_left = max(measure.budget_points - measure.budget_used, 0)
    return {
        "measure_id": measure.id,
        "municipality_code": measure.municipality_code,
        "title": measure.title,
        "description": measure.description,
        "kind": measure.kind,
        "state": measure.state,
        "points_per_grant": measure.points_per_grant,
        "per_person_cap": measure.per_person_cap,
        "budget_points": measure.budget_points,
        "budget_left": budget_left,
        "opens_at": iso(measure.opens_at),
        "closes_at": iso(measure.closes_at),
        "receipt_deadline": iso(measure.receipt_deadline),
        "target_list_only": measure.target_list_only,
        "auto_grant": measure.auto_grant,
        "review_required": measure.review_required,
        "late_report_days": measure.late_report_days,
        "yen_per_point": measure.yen_per_point,
        "payment_services": services,
    }


def grant_view(grant: Grant) -> dict[str, Any]:
    return {
        "grant_id": grant.id,
        "measure_id": grant.measure_id,
        "event_id": grant.event_id,
        "points": grant.points,
        "state": grant.state,
        "created_at": iso(grant.created_at),
    }


def grant_brief(grant: GrantView | None) -> dict[str, Any] | None:
    """A grant as a workflow reported it (no resident, no times)."""
    if grant is None:
        return None
    return {"grant_id": grant.grant_id, "points": grant.points, "state": grant.state}


def receipt_view(receipt: Receipt) -> dict[str, Any]:
    return {
        "receipt_id": receipt.id,
        "grant_id": receipt.grant_id,
        "measure_id": receipt.measure_id,
        "payment_service_id": receipt.payment_service_id,
        "points": receipt.points,
        "state": receipt.state,
        "created_at": iso(receipt.created_at),
        "finished_at": iso(receipt.finished_at),
    }


def mask(value: str, keep: int = 4) -> str:
    """All but the last `keep` characters hidden, for support staff."""
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]
