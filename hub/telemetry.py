"""OpenTelemetry traces: one tracer provider per process; console or OTLP export when configured.

One lifecycle is one trace: the API request span (FastAPI instrumentation) is the parent of the
Temporal client call, whose context the `TracingInterceptor` carries in workflow headers into the
workflow, its activities and, through the provider adapter's span, the provider HTTP call
(httpx instrumentation, which also sends `traceparent` to the provider).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler, SamplingResult
from temporalio.contrib.opentelemetry import TracingInterceptor

from hub.settings import Settings

_configured = False


def _otlp_traces_url(settings: Settings) -> str | None:
    """`HUB_OTEL_ENDPOINT` is the collector's base URL (`http://otel-collector:4318`)."""
    base = settings.otel_endpoint.rstrip("/")
    if not base:
        return None  # the exporter falls back to OTEL_EXPORTER_OTLP_* variables
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def instrument_http_clients() -> None:
    """Spans (and `traceparent`) for every outgoing httpx call: provider and linking service."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


class _RecordWhenExported(Sampler):
    """Spans record only once an exporter reads them; until then they still carry IDs (logs and
    `traceparent` keep them) but cost next to nothing, where recording would build and drop
    several spans for every request and activity."""

    def __init__(self) -> None:
        self.exporting = False

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        chosen = ALWAYS_ON if self.exporting else ALWAYS_OFF
        return chosen.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "RecordWhenExported"


_sampler = _RecordWhenExported()


def configure_tracing(
    settings: Settings, service_name: str, *, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Install the process's tracer provider once; spans are recorded when something exports
    them: the configured exporter, or `exporter` (tests collect spans in memory)."""
    global _configured
    if _configured and exporter is None:
        installed = trace.get_tracer_provider()
        return installed if isinstance(installed, TracerProvider) else None
    if exporter is None:
        if settings.otel_exporter == "console":
            exporter = ConsoleSpanExporter()
        elif settings.otel_exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=_otlp_traces_url(settings))
    if _configured:
        installed = trace.get_tracer_provider()
        provider = installed if isinstance(installed, TracerProvider) else None
    else:
        provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}), sampler=_sampler
        )
        trace.set_tracer_provider(provider)
        instrument_http_clients()
        _configured = True
    if provider is not None and exporter is not None:
        processor = (
            BatchSpanProcessor(exporter)
            if settings.otel_exporter == "otlp"
            else SimpleSpanProcessor(exporter)
        )
        provider.add_span_processor(processor)
        _sampler.exporting = True
    return provider


def spans_exported() -> bool:
    """Whether anything reads this process's spans (an exporter is configured or collecting)."""
    return _sampler.exporting


def temporal_interceptors() -> list[TracingInterceptor]:
    """Carries the trace from the API's client call into workflows and activities."""
    return [TracingInterceptor()]
