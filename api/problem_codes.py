"""Which problem `code`s each route can answer with, by status, for the OpenAPI document.

Every route may also answer the codes every route shares (`unauthenticated`, `forbidden`,
`validation_error`, `malformed_json`, `contains_my_number`, `rate_limited`, `not_found`,
`temporal_unavailable`); the ones below are each route's own. The document lists them in the
response's description and in `x-problem-codes`, so a client knows what to branch on. A test
checks that every code named here is one the hub raises.
"""

from __future__ import annotations

Codes = dict[int, tuple[str, ...]]

CARD: Codes = {
    401: (
        "card_proof_required",
        "invalid_signature",
        "untrusted_certificate",
        "certificate_expired",
        "certificate_revoked",
        "certificate_not_yet_active",
        "challenge_expired",
        "challenge_used",
        "unknown_challenge",
    ),
    403: ("mykey_suspended", "mykey_revoked"),
    503: ("revocation_status_unavailable",),
}
PAGED: Codes = {422: ("invalid_cursor",)}
MONTH: Codes = {422: ("invalid_month",)}  # YYYY-MM by schema, but no month 13
MEASURE_EDIT: Codes = {
    409: ("measure_not_draft", "invalid_measure_state"),
    422: ("invalid_measure", "invalid_municipality_code", "unknown_payment_service"),
}

ROUTE_CODES: dict[str, Codes] = {
    "create_session": {
        401: CARD[401][1:],
        403: CARD[403],
        503: ("revocation_status_unavailable", "link_service_unavailable"),
    },
    "list_published_measures": PAGED,
    "list_my_payment_services": PAGED,
    "my_receipts": PAGED,
    "my_applications_to_measure": PAGED,
    "my_attendance_reports": PAGED,
    "register_my_payment_service": {
        **CARD,
        409: ("account_already_registered",),
        422: ("account_verification_failed", "unknown_payment_service"),
        503: ("revocation_status_unavailable", "provider_unavailable"),
    },
    "apply": {
        403: ("not_in_target_list", "mykey_suspended", "mykey_revoked"),
        409: ("already_applied", "outside_application_window", "budget_exhausted", "cap_reached"),
        422: ("registration_invalid", "destination_not_eligible"),
    },
    "request_receipt": {
        **CARD,
        409: ("grant_not_unreceived", "destination_fixed", "receipt_deadline_passed"),
        422: ("destination_not_eligible", "destination_not_available_yet", "registration_invalid"),
    },
    "report_attendance": {
        409: ("already_reported", "not_registered", "report_window_closed", "event_not_started"),
        422: ("invalid_qr",),
    },
    "create_measure": {422: MEASURE_EDIT[422]},
    "edit_measure": MEASURE_EDIT,
    "publish_measure": MEASURE_EDIT,
    "close_measure": {409: ("invalid_measure_state",)},
    "list_measures": {**PAGED, 422: ("invalid_cursor", "invalid_municipality_code")},
    "upload_targets": {
        409: ("not_a_target_list_measure", "measure_not_draft", "invalid_measure_state"),
        413: ("payload_too_large", "target_list_too_large"),
        415: ("unsupported_media_type",),
        422: ("invalid_target_list",),
    },
    "clear_targets": {409: ("measure_not_draft",)},
    "create_event": {
        409: ("not_an_event_measure", "invalid_measure_state"),
        422: ("invalid_event",),
    },
    "list_events": PAGED,
    "list_reviews": PAGED,
    "decide_review": {409: ("review_already_decided",), 422: ("reason_required",)},
    "receive_webhook": {
        401: ("invalid_webhook_signature",),
        413: ("payload_too_large",),
        422: ("invalid_webhook",),
    },
    "pending_credit_requests": PAGED,
    "acknowledge_credit_request": {409: ("ack_conflict",)},
    "stuck_receipts": PAGED,
    "receipt_action": {422: ("unknown_action", "note_required")},
    "create_municipality": {409: ("already_exists",), 422: ("invalid_municipality_code",)},
    "create_provider": {409: ("already_exists",), 422: ("invalid_provider_config",)},
    "update_provider": {422: ("invalid_provider_config",)},
    "pause_provider": {409: ("provider_paused",)},
    "resume_provider": {409: ("provider_not_paused",)},
    "create_payment_service": {409: ("already_exists",), 422: ("unknown_provider",)},
    "create_api_key": {422: ("invalid_scope",)},
    "list_municipalities": PAGED,
    "list_providers": PAGED,
    "list_payment_services": PAGED,
    "list_api_keys": PAGED,
    "list_audit": PAGED,
    "suspend": {409: ("mykey_status_conflict",)},
    "resume": {409: ("mykey_status_conflict",)},
    "revoke": {409: ("mykey_status_conflict", "mykey_revoked")},
    "encode": {422: ("invalid_payload",)},
    "decode": {422: ("invalid_payload", "payload_not_decodable")},
    # Settlement and reconciliation (SPEC §7)
    "put_statement": {
        409: ("settlement_closed",),
        415: ("unsupported_media_type",),
        422: (
            "invalid_statement",
            "statement_totals_mismatch",
            "statement_totals_missing",
            "invalid_business_date",
        ),
    },
    "credits_csv": {422: ("invalid_business_date",)},
    "list_breaks": PAGED,
    "ask_provider": {409: ("resolution_not_allowed",), 503: ("provider_unavailable",)},
    "resolve_break": {
        409: ("break_already_resolved", "resolution_not_allowed"),
        422: ("note_required",),
    },
    "get_settlement": MONTH,
    "settlement_csv": MONTH,
    "close_month": {
        409: ("open_breaks", "month_not_ended", "settlement_closed"),
        422: ("invalid_month", "note_required"),
    },
}


def annotate(document: dict[str, object]) -> None:
    """Name each route's own codes on its problem responses."""
    paths = document.get("paths")
    assert isinstance(paths, dict)
    for item in paths.values():
        for operation in item.values():
            codes = ROUTE_CODES.get(operation.get("operationId", ""), {})
            for status, names in codes.items():
                response = operation["responses"].get(str(status))
                if response is None:
                    continue
                listed = ", ".join(f"`{name}`" for name in names)
                response["description"] = f"{response['description']}: {listed}"
                response["x-problem-codes"] = list(names)
