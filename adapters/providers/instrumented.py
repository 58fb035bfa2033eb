"""A proxy around any provider adapter that measures each call: latency, errors, retries, a span.

It sits in the registry, so every adapter style (and the ones added later) is measured the same
way by provider without knowing about it. It only observes: results and exceptions pass through
unchanged, and nothing personal (account IDs, security codes) goes into a span or a metric.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any, TypeVar

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from adapters.providers.contract import (
    AccountCheck,
    CreditOutcome,
    CreditRequest,
    CreditStatus,
    PermanentProviderError,
    ProviderAdapter,
    TransientProviderError,
)
from domain.provider_errors import classify

T = TypeVar("T")

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _Instruments:
    def __init__(self) -> None:
        meter = metrics.get_meter("hub.providers")
        self.latency = meter.create_histogram(
            "hub.provider.call.duration",
            unit="s",
            description="Provider call latency by provider, operation and outcome",
            explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS_S),
        )
        self.errors = meter.create_counter(
            "hub.provider.call.errors",
            description="Failed provider calls by provider, operation and kind",
        )
        self.retries = meter.create_counter(
            "hub.provider.retries",
            description="Credit attempts after the first (a Temporal activity retry) by provider",
        )
        self.tracer = trace.get_tracer("hub.providers")


@lru_cache(maxsize=1)
def _instruments() -> _Instruments:
    """Created on first use, so the process's meter and tracer providers are in place by then."""
    return _Instruments()


def _attempt() -> int:
    """The Temporal activity attempt when called from an activity, else 1."""
    from temporalio import activity

    return activity.info().attempt if activity.in_activity() else 1


class InstrumentedAdapter:
    """Forwards every call to `inner`; anything not in the contract is forwarded untouched."""

    def __init__(self, inner: ProviderAdapter, style: str = "hub_rest") -> None:
        self.inner = inner
        self.provider_id = inner.provider_id
        self.style = style  # the adapter style, whose table names each failure's code

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _measured(
        self, operation: str, call: Callable[[], Awaitable[T]], attributes: dict[str, Any]
    ) -> T:
        tools = _instruments()
        labels: dict[str, Any] = {"provider": self.provider_id, "operation": operation}
        started = time.perf_counter()
        with tools.tracer.start_as_current_span(
            f"provider.{operation}",
            kind=SpanKind.CLIENT,
            attributes={"hub.provider_id": self.provider_id, **attributes},
            record_exception=False,
        ) as span:
            try:
                result = await call()
            except (TransientProviderError, PermanentProviderError) as error:
                kind = "transient" if isinstance(error, TransientProviderError) else "permanent"
                code = classify(self.style, error).code
                tools.errors.add(1, {**labels, "kind": kind, "code": code})
                tools.latency.record(time.perf_counter() - started, {**labels, "outcome": kind})
                span.set_status(Status(StatusCode.ERROR, f"{kind} provider error: {code}"))
                span.set_attribute("hub.provider_error", kind)
                span.set_attribute("hub.provider_failure_code", code)
                raise
            except Exception:
                tools.errors.add(1, {**labels, "kind": "unexpected"})
                tools.latency.record(time.perf_counter() - started, {**labels, "outcome": "error"})
                span.set_status(Status(StatusCode.ERROR, "unexpected adapter error"))
                raise
            outcome = str(getattr(result, "status", "ok"))
            span.set_attribute("hub.provider_outcome", outcome)
            tools.latency.record(time.perf_counter() - started, {**labels, "outcome": outcome})
            return result

    async def verify_account(self, account_id: str, security_code: str) -> AccountCheck:
        return await self._measured(
            "verify_account", lambda: self.inner.verify_account(account_id, security_code), {}
        )

    async def credit(self, request: CreditRequest) -> CreditOutcome:
        attempt = _attempt()
        if attempt > 1:
            _instruments().retries.add(1, {"provider": self.provider_id})
        return await self._measured(
            "credit",
            lambda: self.inner.credit(request),
            {"hub.receipt_id": request.receipt_id, "hub.attempt": attempt},
        )

    async def credit_status(self, receipt_id: str) -> CreditStatus:
        return await self._measured(
            "credit_status",
            lambda: self.inner.credit_status(receipt_id),
            {"hub.receipt_id": receipt_id},
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def instrument(adapter: ProviderAdapter, style: str = "hub_rest") -> ProviderAdapter:
    if isinstance(adapter, InstrumentedAdapter):
        return adapter
    return InstrumentedAdapter(adapter, style)
