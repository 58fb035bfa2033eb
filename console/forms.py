"""HTML forms read into the same request bodies the API validates, with errors per field.

A form's fields are checked by the API's own schemas (`MeasureBody`, `EventBody`), so a limit is
written once; this module only turns form text into their input (dates typed in JST, numbers
written with separators or full-width digits) and their errors into messages next to each field.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from api.routers.municipality import draft_of
from api.schemas.municipality import EventBody, MeasureBody
from services.measures import MeasureDraft

from .i18n import JST, from_jst_input, jst_input

MEASURE_TEXT = ("title", "description", "kind")
MEASURE_NUMBERS = ("points_per_grant", "per_person_cap", "budget_points", "late_report_days")
MEASURE_TIMES = ("opens_at", "closes_at", "receipt_deadline")
MEASURE_FLAGS = ("target_list_only", "auto_grant", "review_required")
MEASURE_FIELDS = MEASURE_TEXT + MEASURE_NUMBERS + MEASURE_TIMES
EVENT_FIELDS = ("title", "starts_at", "ends_at", "points")

_ERROR_KEYS = {
    "missing": "form.required",
    "string_too_short": "form.required",
    "string_too_long": "form.too_long",
    "int_parsing": "form.integer",
    "int_type": "form.integer",
    "int_from_float": "form.integer",
    "greater_than_equal": "form.at_least",
    "less_than_equal": "form.at_most",
    "datetime_parsing": "form.datetime",
    "datetime_from_date_parsing": "form.datetime",
    "datetime_type": "form.datetime",
    "timezone_aware": "form.datetime",
    "string_pattern_mismatch": "form.choice",
    "too_short": "form.choose_service",
    "contains_my_number": "form.contains_my_number",
}


@dataclass(frozen=True)
class FieldError:
    key: str  # message key in the catalogue
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class MeasureForm:
    values: dict[str, str]
    flags: dict[str, bool]
    offers: dict[str, str]  # chosen payment service → available from (datetime-local, JST)
    errors: dict[str, FieldError] = field(default_factory=dict)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _number(raw: str) -> str | None:
    """ "１，０００" and "1,000" are 1000; an empty optional number is absent."""
    text = unicodedata.normalize("NFKC", raw).replace(",", "").replace("_", "").strip()
    return text or None


def blank_measure_form(now: datetime) -> MeasureForm:
    """Sensible defaults: open from the next hour for 30 days, receivable for 30 more."""
    opens = now.astimezone(JST).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return MeasureForm(
        values={
            "title": "",
            "description": "",
            "kind": "application",
            "points_per_grant": "1000",
            "per_person_cap": "1000",
            "budget_points": "",
            "late_report_days": "0",
            "opens_at": jst_input(opens),
            "closes_at": jst_input(opens + timedelta(days=30)),
            "receipt_deadline": jst_input(opens + timedelta(days=60)),
        },
        flags=dict.fromkeys(MEASURE_FLAGS, False),
        offers={},
    )


def measure_form_of(draft: MeasureDraft) -> MeasureForm:
    values = {name: str(getattr(draft, name)) for name in MEASURE_TEXT}
    for name in MEASURE_NUMBERS:
        number = getattr(draft, name)
        values[name] = "" if number is None else str(number)
    for name in MEASURE_TIMES:
        values[name] = jst_input(getattr(draft, name))
    return MeasureForm(
        values=values,
        flags={name: bool(getattr(draft, name)) for name in MEASURE_FLAGS},
        offers={o.payment_service_id: jst_input(o.available_from) for o in draft.payment_services},
    )


def read_measure_form(form: FormData) -> MeasureForm:
    chosen = [v for v in form.getlist("service") if isinstance(v, str)]
    return MeasureForm(
        values={name: _field(form, name) for name in MEASURE_FIELDS},
        flags={name: form.get(name) is not None for name in MEASURE_FLAGS},
        offers={sid: _field(form, f"available_from.{sid}") for sid in dict.fromkeys(chosen)},
    )


def _errors(exc: ValidationError, name_of: Any) -> dict[str, FieldError]:
    found: dict[str, FieldError] = {}
    for error in exc.errors():
        name = name_of(error.get("loc", ()))
        key = _ERROR_KEYS.get(str(error.get("type")), "form.invalid")
        context = error.get("ctx") or {}
        params: dict[str, Any] = {k: context[k] for k in ("ge", "le", "max_length") if k in context}
        found.setdefault(name, FieldError(key, params))
    return found


def _validated(model: type[BaseModel], data: dict[str, Any], name_of: Any) -> Any:
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        return None, _errors(exc, name_of)


def measure_draft(form: MeasureForm) -> MeasureDraft | None:
    """The draft the services take, or None with `form.errors` filled in."""
    data: dict[str, Any] = {name: form.values.get(name, "") for name in MEASURE_TEXT}
    for name in MEASURE_NUMBERS:
        data[name] = _number(form.values.get(name, ""))
    for name in MEASURE_TIMES:
        data[name] = from_jst_input(form.values.get(name, ""))
    data.update(form.flags)
    services = list(form.offers)
    data["payment_services"] = [
        {"payment_service_id": sid, "available_from": from_jst_input(form.offers[sid])}
        for sid in services
    ]
    if data["late_report_days"] is None:
        data["late_report_days"] = 0

    def name_of(loc: tuple[Any, ...]) -> str:
        if len(loc) >= 2 and loc[0] == "payment_services" and isinstance(loc[1], int):
            return f"available_from.{services[loc[1]]}"
        return str(loc[0]) if loc else "form"

    body, form.errors = _validated(MeasureBody, data, name_of)
    return None if body is None else draft_of(body)


def event_body(form: FormData) -> tuple[dict[str, str], EventBody | None, dict[str, FieldError]]:
    values = {name: _field(form, name) for name in EVENT_FIELDS}
    data = {
        "title": values["title"],
        "starts_at": from_jst_input(values["starts_at"]),
        "ends_at": from_jst_input(values["ends_at"]),
        "points": _number(values["points"]),
    }
    body, errors = _validated(EventBody, data, lambda loc: str(loc[0]) if loc else "form")
    return values, body, errors
