"""Metrics: the hub's own (receipts by state, stuck count, provider calls) and the Temporal SDK's.

One OpenTelemetry meter provider per process, read by Prometheus (`/metrics` on the API, a port
of its own on a worker) and/or pushed by OTLP to a collector, as `HUB_METRICS_EXPORTER` says.
Receipt counts come from the database, which is the truth every replica shares, so each replica
reports the same figures: aggregate them with `max`, never `sum`. Provider latency, errors and
retries are measured where the calls happen (`adapters/providers/instrumented.py`), in whichever
process made them. The Temporal SDK (Rust core) has its own exporter: Prometheus on
`HUB_TEMPORAL_METRICS_BIND`, or OTLP to the same collector.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from sqlalchemy import func, select
from temporalio.runtime import OpenTelemetryConfig, PrometheusConfig, Runtime, TelemetryConfig

from hub.settings import Settings
from storage.database import SessionFactory
from storage.models.provider_status import ProviderStatus
from storage.models.receipts import Receipt

log = logging.getLogger(__name__)

_provider: MeterProvider | None = None


def exporters(settings: Settings) -> set[str]:
    return {part.strip() for part in settings.metrics_exporter.split(",") if part.strip()} - {
        "none"
    }


def otlp_url(settings: Settings, signal: str) -> str | None:
    """`HUB_OTEL_ENDPOINT` is the collector's base URL; each signal has its own path under it."""
    base = settings.otel_endpoint.rstrip("/")
    if not base:
        return None
    return base if base.endswith(f"/v1/{signal}") else f"{base}/v1/{signal}"


def installed_meter_provider() -> MeterProvider | None:
    """The meter provider `configure_metrics` installed in this process, if any."""
    return _provider


def configure_metrics(
    settings: Settings, service_name: str, *, readers: Sequence[MetricReader] = ()
) -> MeterProvider | None:
    """Install the process's meter provider once; `readers` lets tests read metrics in memory."""
    global _provider
    if _provider is not None:
        return _provider
    chosen = list(readers)
    wanted = exporters(settings)
    if "prometheus" in wanted:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        chosen.append(PrometheusMetricReader())
    if "otlp" in wanted:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        chosen.append(
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=otlp_url(settings, "metrics")),
                export_interval_millis=15_000,
            )
        )
    if not chosen:
        return None
    _provider = MeterProvider(
        metric_readers=chosen, resource=Resource.create({"service.name": service_name})
    )
    metrics.set_meter_provider(_provider)
    return _provider


def prometheus_text() -> tuple[bytes, str]:
    """The body and content type of a Prometheus scrape of this process."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


@dataclass
class ReceiptSnapshot:
    by_state: dict[tuple[str, str], int] = field(default_factory=dict)  # (provider, state)
    stuck: dict[str, int] = field(default_factory=dict)  # provider
    paused: dict[str, str] = field(default_factory=dict)  # provider -> the pause's reason code


class ReceiptGauges:
    """Receipts by provider and state, and stuck receipts by provider, read from the database.

    Gauge callbacks run on the exporter's thread and cannot await the database, so a task in
    the event loop refreshes a snapshot (and a Prometheus scrape refreshes it first) and the
    callbacks report the latest snapshot.
    """

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions
        self.snapshot = ReceiptSnapshot()
        meter = metrics.get_meter("hub.receipts")
        meter.create_observable_gauge(
            "hub.receipts",
            callbacks=[self._observe_states],
            description="Receipts by provider and state (database-wide: aggregate with max)",
        )
        meter.create_observable_gauge(
            "hub.receipts.stuck",
            callbacks=[self._observe_stuck],
            description="Receipts marked stuck, by provider (database-wide: aggregate with max)",
        )
        meter.create_observable_gauge(
            "hub.providers.paused",
            callbacks=[self._observe_paused],
            description="1 for each provider whose queue is paused, with the reason's code",
        )

    def _observe_states(self, _options: CallbackOptions) -> Iterable[Observation]:
        for (provider, state), count in self.snapshot.by_state.items():
            yield Observation(count, {"provider": provider, "state": state})

    def _observe_stuck(self, _options: CallbackOptions) -> Iterable[Observation]:
        for provider, count in self.snapshot.stuck.items():
            yield Observation(count, {"provider": provider})

    def _observe_paused(self, _options: CallbackOptions) -> Iterable[Observation]:
        for provider, reason in self.snapshot.paused.items():
            yield Observation(1, {"provider": provider, "reason": reason})

    async def refresh(self) -> ReceiptSnapshot:
        async with self.sessions() as session:
            states = await session.execute(
                select(Receipt.provider_id, Receipt.state, func.count()).group_by(
                    Receipt.provider_id, Receipt.state
                )
            )
            stuck = await session.execute(
                select(Receipt.provider_id, func.count())
                .where(Receipt.stuck.is_(True))
                .group_by(Receipt.provider_id)
            )
            paused = await session.execute(
                select(ProviderStatus.provider_id, ProviderStatus.paused_reason).where(
                    ProviderStatus.status == "paused"
                )
            )
            snapshot = ReceiptSnapshot(
                by_state={(p, s): int(n) for p, s, n in states.all()},
                stuck={p: int(n) for p, n in stuck.all()},
                paused={p: r or "unknown" for p, r in paused.all()},
            )
        # A provider whose stuck receipts all cleared reports 0, not a stale last value.
        for provider in {p for p, _ in snapshot.by_state}:
            snapshot.stuck.setdefault(provider, 0)
        self.snapshot = snapshot
        return snapshot

    async def run(self, interval_s: float = 15.0) -> None:
        """Refresh until cancelled; a database outage only skips a refresh."""
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # the gauges keep their last values; the outage is logged
                log.warning("receipt gauges not refreshed: %s", type(exc).__name__)
            await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def receipt_gauges(
    settings: Settings, sessions: SessionFactory
) -> AsyncIterator[ReceiptGauges | None]:
    """Runs the receipt gauges while a process serves, when metrics are exported at all."""
    if _provider is None or not exporters(settings):
        yield None
        return
    gauges = ReceiptGauges(sessions)
    task = asyncio.create_task(gauges.run(), name="receipt-gauges")
    try:
        yield gauges
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def add_metrics_route(app: FastAPI, settings: Settings) -> None:
    """`GET /metrics` for Prometheus; a scrape refreshes the receipt gauges first."""
    if "prometheus" not in exporters(settings):
        return

    async def scrape(request: Request) -> Response:
        gauges = getattr(request.app.state, "receipt_gauges", None)
        if isinstance(gauges, ReceiptGauges):
            try:
                await gauges.refresh()
            except Exception as exc:  # a scrape reports what it has; the outage is logged
                log.warning("receipt gauges not refreshed: %s", type(exc).__name__)
        body, content_type = prometheus_text()
        return Response(body, media_type=content_type)

    app.add_api_route("/metrics", scrape, methods=["GET"], include_in_schema=False)


def temporal_runtime(settings: Settings, service_name: str) -> Runtime | None:
    """The Temporal SDK's own metrics (task latencies, activity failures = retries, polls).

    The SDK's Rust core keeps writing its few warnings to stderr itself: forwarding them into
    Python logging calls back into the interpreter from the core's threads, which can abort a
    worker while it exits.
    """
    metric_config: PrometheusConfig | OpenTelemetryConfig | None = None
    if settings.temporal_metrics_bind:
        metric_config = PrometheusConfig(bind_address=settings.temporal_metrics_bind)
    elif "otlp" in exporters(settings) and otlp_url(settings, "metrics"):
        metric_config = OpenTelemetryConfig(url=str(otlp_url(settings, "metrics")), http=True)
    if metric_config is None:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=metric_config, global_tags={"service_name": service_name})
    )


def install_temporal_runtime(settings: Settings, service_name: str) -> None:
    """Make the SDK runtime with metrics the default, before any client connects."""
    runtime = temporal_runtime(settings, service_name)
    if runtime is not None:
        Runtime.set_default(runtime, error_if_already_set=False)
