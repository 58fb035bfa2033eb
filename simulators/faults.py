"""Fault knobs of a simulated provider, applied the same way whatever API style it speaks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse

from simulators.providers import SimProvider

ErrorBody = Callable[[str], dict[str, Any]]  # "rate_limited" | "unavailable" → response body


async def before_call(provider: SimProvider, error_body: ErrorBody) -> JSONResponse | None:
    """Latency first; then a 429 burst or a 503, or None when the call may proceed."""
    config = provider.config
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    provider.calls += 1
    if provider.burst_left > 0 or (config.burst_every and provider.calls % config.burst_every == 0):
        provider.burst_left = (
            provider.burst_left - 1 if provider.burst_left else max(config.burst_length - 1, 0)
        )
        provider.count("answered_429")
        return JSONResponse(
            error_body("rate_limited"),
            status_code=429,
            headers={"retry-after": str(config.retry_after_s)},
        )
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
