"""OpenTelemetry traces: one tracer provider per process; console or OTLP export when configured.

One lifecycle is one trace: the API request span (FastAPI instrumentation) is the parent of the
Temporal client call, whose context the `TracingInterceptor` carries in workflow headers into the
workflow, its activities and, through the provider adapter's span, the provider HTTP call
(httpx instrumentation, which also sends `traceparent` to the provider).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
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


def configure_tracing(
    settings: Settings, service_name: str, *, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Install the process's tracer provider once. `exporter` lets tests collect spans in memory."""
    global _configured
    if _configured:
        provider = trace.get_tracer_provider()
        return provider if isinstance(provider, TracerProvider) else None
    if exporter is None:
        if settings.otel_exporter == "console":
            exporter = ConsoleSpanExporter()
        elif settings.otel_exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=_otlp_traces_url(settings))
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is not None:
        processor = (
            SimpleSpanProcessor(exporter)
            if settings.otel_exporter != "otlp"
            else BatchSpanProcessor(exporter)
        )
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    instrument_http_clients()
    _configured = True
    return provider


def temporal_interceptors() -> list[TracingInterceptor]:
    """Carries the trace from the API's client call into workflows and activities."""
    return [TracingInterceptor()]
