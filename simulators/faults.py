"""Faults of a simulated provider, applied the same way whatever API style it speaks.

Two kinds: transport knobs real networks and providers have (latency, 503s, 429 bursts, answers
too late), and `protocol_faults`, each breaking one rule of the Hub Provider Protocol the way a
provider's own implementation might. `mph provider-check` must name the case each one breaks
(`PROTOCOL_FAULTS`: fault → what the provider does wrong → the kit's cases that catch it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse

from simulators.providers import SimProvider

ErrorBody = Callable[[str], dict[str, Any]]  # "rate_limited" | "unavailable" → response body

WRONG_WEBHOOK_SECRET = "whsec_" + "d3Jvbmctc2VjcmV0LWZvci13ZWJob29rcw=="

PROTOCOL_FAULTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "signature_unchecked": (
        "never verifies the hub's signature (switched off in a sandbox, then shipped)",
        ("signature.tampered", "signature.stale", "signature.wrong_secret", "signature.missing"),
    ),
    "signature_optional": (
        "verifies a signature when one is sent, but takes unsigned requests",
        ("signature.missing",),
    ),
    "signature_ignores_timestamp": (
        "checks the HMAC but not how old or new `webhook-timestamp` is (replays pass)",
        ("signature.stale",),
    ),
    "single_signing_secret": (
        "keeps one signing secret: the hub's next secret is refused during rotation",
        ("signature.rotated",),
    ),
    "idempotency_reapplies": (
        "credits the account again when a request with the same Idempotency-Key comes back",
        ("idempotency.same_body",),
    ),
    "idempotency_ignores_body": (
        "answers a reused Idempotency-Key with the first answer even when the body differs",
        ("idempotency.other_body",),
    ),
    "verify_ignores_security_code": (
        "says an active account is valid whatever security code comes with it",
        ("accounts.wrong_security_code",),
    ),
    "credited_without_reference": (
        "answers `credited` without its `provider_reference`",
        ("credits.credited",),
    ),
    "rejected_as_error": (
        "refuses a closed account with 400 and an error of its own, not 422 `rejected`",
        ("credits.rejected",),
    ),
    "status_own_words": (
        "reports a credit's status in its own words (`done`) at GET /credits/{receipt_id}",
        ("status.credited",),
    ),
    "no_retry_after": (
        "answers 429 without `Retry-After`",
        ("rate_limit.retry_after",),
    ),
    "webhook_wrong_secret": (
        "signs its webhooks with a secret the hub was never given",
        ("webhooks.signature",),
    ),
    "webhook_unknown_event": (
        "sends `credit.succeeded`, an event type of its own, for a completed credit",
        ("webhooks.event_types",),
    ),
    "batch_manifest_wrong_sha256": (
        "writes a result file's manifest with a SHA-256 that is not the file's",
        ("batch.manifest",),
    ),
    "batch_result_header_wrong": (
        "writes result files with column names of its own",
        ("batch.result_rows",),
    ),
}


async def before_call(provider: SimProvider, error_body: ErrorBody) -> JSONResponse | None:
    """Latency first; then a 401/403, a 429 burst or a 503, or None when the call may proceed."""
    config = provider.config
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    provider.calls += 1
    if config.auth_error_status in (401, 403):
        provider.count(f"answered_{config.auth_error_status}")
        kind = "unauthorized" if config.auth_error_status == 401 else "forbidden"
        return JSONResponse(error_body(kind), status_code=config.auth_error_status)
    if provider.burst_left > 0 or (config.burst_every and provider.calls % config.burst_every == 0):
        provider.burst_left = (
            provider.burst_left - 1 if provider.burst_left else max(config.burst_length - 1, 0)
        )
        provider.count("answered_429")
        headers = (
            {} if provider.broken("no_retry_after") else {"retry-after": str(config.retry_after_s)}
        )
        return JSONResponse(error_body("rate_limited"), status_code=429, headers=headers)
    if config.error_rate and provider.rng.random() < config.error_rate:
        provider.count("answered_503")
        return JSONResponse(error_body("unavailable"), status_code=503)
    return None


async def after_apply(provider: SimProvider) -> None:
    """Sometimes the credit is applied and the answer comes too late: the caller times out."""
    config = provider.config
    if config.timeout_after_apply_rate and provider.rng.random() < config.timeout_after_apply_rate:
        provider.count("answered_too_late")
        await asyncio.sleep(config.timeout_after_apply_ms / 1000)


def status_fault(provider: SimProvider, error_body: ErrorBody) -> JSONResponse | None:
    """A status endpoint that fails on its own (500) or answers a word of its own; None when the
    status check may be answered truthfully."""
    config = provider.config
    if config.status_error_rate and provider.rng.random() < config.status_error_rate:
        provider.count("status_answered_500")
        return JSONResponse(error_body("internal_error"), status_code=500)
    if config.status_word:
        provider.count("status_own_word")
        return JSONResponse({"status": config.status_word}, status_code=200)
    return None
