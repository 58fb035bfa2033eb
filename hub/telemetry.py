"""OpenTelemetry: one tracer provider per process; console or OTLP export when configured."""

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

            exporter = OTLPSpanExporter(endpoint=settings.otel_endpoint or None)
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is not None:
        processor = (
            SimpleSpanProcessor(exporter)
            if settings.otel_exporter != "otlp"
            else BatchSpanProcessor(exporter)
        )
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _configured = True
    return provider


def temporal_interceptors() -> list[TracingInterceptor]:
    """Carries the trace from the API's client call into workflows and activities."""
    return [TracingInterceptor()]
