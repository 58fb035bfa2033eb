"""In-memory span and metric readers attached to the test process's providers, once per process.

The tracer and meter providers are process-wide and can be installed only once, so every test
that reads telemetry shares these readers; a test clears the span exporter before it starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hub.metrics import configure_metrics, installed_meter_provider
from hub.settings import Settings
from hub.telemetry import configure_tracing


@dataclass
class Observed:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader | None


@lru_cache(maxsize=1)
def observed() -> Observed:
    spans = InMemorySpanExporter()
    provider = configure_tracing(Settings(), "mph-test", exporter=spans)
    assert provider is not None, "the process has a foreign tracer provider"
    reader = InMemoryMetricReader()
    # Another test of this process may have installed the meter provider first.
    fresh = installed_meter_provider() is None
    configure_metrics(Settings(metrics_exporter="prometheus"), "mph-test", readers=[reader])
    return Observed(spans, reader if fresh else None)


def metric_points(reader: InMemoryMetricReader, name: str) -> list[tuple[dict[str, Any], Any]]:
    """(attributes, data point) of every point of metric `name` collected now."""
    data = reader.get_metrics_data()
    found: list[tuple[dict[str, Any], Any]] = []
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    found += [(dict(p.attributes or {}), p) for p in metric.data.data_points]
    return found


def subtree(spans: list[ReadableSpan], root: ReadableSpan) -> list[ReadableSpan]:
    """`root` and every span below it, in start order."""
    children: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        if span.parent is not None:
            children.setdefault(span.parent.span_id, []).append(span)
    found, todo = [], [root]
    while todo:
        span = todo.pop()
        found.append(span)
        todo += children.get(span.context.span_id, [])
    return sorted(found, key=lambda s: s.start_time or 0)


def ancestors(spans: list[ReadableSpan], span: ReadableSpan) -> list[str]:
    by_id = {s.context.span_id: s for s in spans}
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        above = by_id[parent.span_id]
        names.append(above.name)
        parent = above.parent
    return names


_KEPT_ATTRIBUTES = (
    "hub.",
    "http.method",
    "http.request.method",
    "http.route",
    "http.status_code",
    "http.response.status_code",
    "url.path",
    "temporal",
)


_WORKER_SPANS = (
    "RunWorkflow:",
    "HandleUpdate:",
    "ValidateUpdate:",
    "HandleSignal:",
    "StartActivity:",
    "RunActivity:",
    "CompleteWorkflow:",
    "provider.",
)


def runs_in(spans: list[ReadableSpan], span: ReadableSpan) -> str:
    """Which process emits `span` in a deployment (the test runs them all in one process)."""
    if span.name.startswith(_WORKER_SPANS):
        return "mph-worker"
    by_id = {s.context.span_id: s for s in spans}
    parent = by_id.get(span.parent.span_id) if span.parent else None
    if span.name.startswith("POST /p/") or (parent is not None and "/p/" in parent.name):
        return "provider"
    if parent is not None and parent.name.startswith("provider."):
        return "mph-worker"
    return "mph-api"


def trace_document(spans: list[ReadableSpan]) -> dict[str, Any]:
    """A readable JSON form of one trace: times relative to its first span, in milliseconds."""
    start = min(s.start_time or 0 for s in spans)
    rows = []
    for span in spans:
        attributes = {
            k: v for k, v in (span.attributes or {}).items() if k.startswith(_KEPT_ATTRIBUTES)
        }
        rows.append(
            {
                "name": span.name,
                "kind": span.kind.name,
                "span_id": f"{span.context.span_id:016x}",
                "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                "runs_in": runs_in(spans, span),
                "start_ms": round(((span.start_time or 0) - start) / 1e6, 2),
                "duration_ms": round(((span.end_time or 0) - (span.start_time or 0)) / 1e6, 2),
                "status": span.status.status_code.name,
                "attributes": attributes,
            }
        )
    return {"trace_id": f"{spans[0].context.trace_id:032x}", "spans": rows}


def write_trace(path: Path, spans: list[ReadableSpan]) -> None:
    path.write_text(json.dumps(trace_document(spans), indent=2, ensure_ascii=False) + "\n")
