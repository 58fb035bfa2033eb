"""Who may call each route of the v1 API: the table the authorization matrix test walks.

A route in the OpenAPI schema that is missing here fails the test: a new endpoint needs a rule.
"""

from __future__ import annotations

from dataclasses import dataclass

PUBLIC = "public"  # no credentials needed
SIGNED = "signed"  # a provider's webhook signature, no bearer token
RESIDENT = "resident"
MUNICIPALITY = "municipality"
PROVIDER = "provider"
SUPPORT = "support"
OPERATOR = "operator"


@dataclass(frozen=True)
class Rule:
    role: str
    scope: str | None = None  # "municipality" or "provider": another tenant gets 404


M, P = "municipality", "provider"
ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): Rule(PUBLIC),
    ("GET", "/readyz"): Rule(PUBLIC),
    ("POST", "/v1/auth/challenges"): Rule(PUBLIC),
    ("POST", "/v1/auth/sessions"): Rule(PUBLIC),
    ("DELETE", "/v1/auth/sessions/current"): Rule(RESIDENT),
    ("GET", "/v1/me"): Rule(RESIDENT),
    ("GET", "/v1/measures"): Rule(RESIDENT),
    ("GET", "/v1/measures/{measure_id}"): Rule(RESIDENT),
    ("GET", "/v1/me/payment-services"): Rule(RESIDENT),
    ("POST", "/v1/me/payment-services"): Rule(RESIDENT),
    ("GET", "/v1/measures/{measure_id}/applications"): Rule(RESIDENT),
    ("POST", "/v1/measures/{measure_id}/applications"): Rule(RESIDENT),
    ("GET", "/v1/me/points"): Rule(RESIDENT),
    ("GET", "/v1/me/receipts"): Rule(RESIDENT),
    ("POST", "/v1/me/receipts"): Rule(RESIDENT),
    ("GET", "/v1/me/attendance-reports"): Rule(RESIDENT),
    ("POST", "/v1/me/attendance-reports"): Rule(RESIDENT),
    ("POST", "/v1/municipalities/{code}/measures"): Rule(MUNICIPALITY, M),
    ("GET", "/v1/municipalities/{code}/measures"): Rule(MUNICIPALITY, M),
    ("GET", "/v1/municipalities/{code}/measures/{measure_id}"): Rule(MUNICIPALITY, M),
    ("PATCH", "/v1/municipalities/{code}/measures/{measure_id}"): Rule(MUNICIPALITY, M),
    ("POST", "/v1/municipalities/{code}/measures/{measure_id}/publish"): Rule(MUNICIPALITY, M),
    ("POST", "/v1/municipalities/{code}/measures/{measure_id}/close"): Rule(MUNICIPALITY, M),
    ("POST", "/v1/municipalities/{code}/measures/{measure_id}/events"): Rule(MUNICIPALITY, M),
    ("GET", "/v1/municipalities/{code}/measures/{measure_id}/events"): Rule(MUNICIPALITY, M),
    ("GET", "/v1/municipalities/{code}/measures/{measure_id}/events/{event_id}"): Rule(
        MUNICIPALITY, M
    ),
    ("GET", "/v1/municipalities/{code}/measures/{measure_id}/events/{event_id}/qr.png"): Rule(
        MUNICIPALITY, M
    ),
    ("GET", "/v1/municipalities/{code}/measures/{measure_id}/events/{event_id}/qr.svg"): Rule(
        MUNICIPALITY, M
    ),
    ("GET", "/v1/municipalities/{code}/reviews"): Rule(MUNICIPALITY, M),
    ("POST", "/v1/municipalities/{code}/reviews/{review_id}/decision"): Rule(MUNICIPALITY, M),
    ("GET", "/v1/municipalities/{code}/measures/{measure_id}/stats"): Rule(MUNICIPALITY, M),
    ("GET", "/v1/municipalities/{code}/measures/{measure_id}/grants.csv"): Rule(MUNICIPALITY, M),
    ("PUT", "/v1/municipalities/{code}/measures/{measure_id}/targets"): Rule(MUNICIPALITY, M),
    ("GET", "/v1/municipalities/{code}/measures/{measure_id}/targets"): Rule(MUNICIPALITY, M),
    ("DELETE", "/v1/municipalities/{code}/measures/{measure_id}/targets"): Rule(MUNICIPALITY, M),
    ("POST", "/v1/providers/{provider_id}/webhooks"): Rule(SIGNED),
    ("GET", "/v1/providers/{provider_id}/credit-requests"): Rule(PROVIDER, P),
    ("POST", "/v1/providers/{provider_id}/credit-requests/{receipt_id}/ack"): Rule(PROVIDER, P),
    ("GET", "/v1/providers/{provider_id}/batch-files"): Rule(PROVIDER, P),
    ("PUT", "/v1/providers/{provider_id}/statements/{business_date}"): Rule(PROVIDER, P),
    ("GET", "/v1/providers/{provider_id}/credits.csv"): Rule(PROVIDER, P),
    ("GET", "/v1/municipalities/{code}/settlements/{month}"): Rule(MUNICIPALITY, M),
    ("GET", "/v1/municipalities/{code}/settlements/{month}.csv"): Rule(MUNICIPALITY, M),
    ("POST", "/v1/operator/settlements/{month}/close"): Rule(OPERATOR),
    ("GET", "/v1/support/reconciliation/breaks"): Rule(SUPPORT),
    ("GET", "/v1/support/reconciliation/breaks/{break_id}"): Rule(SUPPORT),
    ("POST", "/v1/support/reconciliation/breaks/{break_id}/provider-status"): Rule(SUPPORT),
    ("POST", "/v1/support/reconciliation/breaks/{break_id}/resolve"): Rule(SUPPORT),
    ("GET", "/v1/support/receipts/stuck"): Rule(SUPPORT),
    ("GET", "/v1/support/receipts/{receipt_id}"): Rule(SUPPORT),
    ("POST", "/v1/support/receipts/{receipt_id}/actions"): Rule(SUPPORT),
    ("GET", "/v1/support/residents/{mykey_id}"): Rule(SUPPORT),
    ("GET", "/v1/operator/municipalities"): Rule(OPERATOR),
    ("POST", "/v1/operator/municipalities"): Rule(OPERATOR),
    ("GET", "/v1/operator/providers"): Rule(OPERATOR),
    ("POST", "/v1/operator/providers"): Rule(OPERATOR),
    ("GET", "/v1/operator/providers/{provider_id}"): Rule(OPERATOR),
    ("PATCH", "/v1/operator/providers/{provider_id}"): Rule(OPERATOR),
    ("POST", "/v1/operator/providers/{provider_id}/pause"): Rule(OPERATOR),
    ("POST", "/v1/operator/providers/{provider_id}/resume"): Rule(OPERATOR),
    ("GET", "/v1/operator/payment-services"): Rule(OPERATOR),
    ("POST", "/v1/operator/payment-services"): Rule(OPERATOR),
    ("GET", "/v1/operator/api-keys"): Rule(OPERATOR),
    ("POST", "/v1/operator/api-keys"): Rule(OPERATOR),
    ("POST", "/v1/operator/api-keys/{key_id}/revoke"): Rule(OPERATOR),
    ("GET", "/v1/operator/audit"): Rule(OPERATOR),
    ("POST", "/v1/operator/audit/verify"): Rule(OPERATOR),
    ("POST", "/v1/operator/codec/encode"): Rule(OPERATOR),
    ("POST", "/v1/operator/codec/decode"): Rule(OPERATOR),
    ("POST", "/v1/operator/mykeys/{mykey_id}/suspend"): Rule(OPERATOR),
    ("POST", "/v1/operator/mykeys/{mykey_id}/resume"): Rule(OPERATOR),
    ("POST", "/v1/operator/mykeys/{mykey_id}/revoke"): Rule(OPERATOR),
    ("GET", "/v1/operator/mykeys/{mykey_id}"): Rule(OPERATOR),
}

STAFF_ROLES = (MUNICIPALITY, PROVIDER, SUPPORT, OPERATOR)
CALLERS = ("none", RESIDENT, *STAFF_ROLES, "foreign_municipality", "foreign_provider")


def role_of(caller: str) -> str:
    return caller.removeprefix("foreign_")


def expected_refusal(rule: Rule, caller: str) -> int | None:
    """The status a caller must get before any work is done; None: authorization passes."""
    if rule.role == PUBLIC:
        return None
    if rule.role == SIGNED or caller == "none":
        return 401
    role = role_of(caller)
    if rule.role == RESIDENT or role == RESIDENT:
        return None if role == rule.role else 401  # a session is no API key and vice versa
    return None if role == rule.role else 403
