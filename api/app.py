"""The FastAPI application and its lifespan: database, trust store, Temporal client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from adapters.jpki.runtime import jpki_clients, start_crl_refresher, stop_jpki_clients
from adapters.jpki.verifier import TrustStore, load_pem_certificates
from adapters.providers.registry import AdapterRegistry
from api import middleware, problems
from api.audit_writer import AuditWriter
from api.problem_docs import install_openapi, problem_responses
from api.read_cache import ReadCache
from api.routers import all_routers
from console import install as install_console
from hub.metrics import add_metrics_route, receipt_gauges
from hub.settings import Settings, get_settings
from hub.telemetry import configure_tracing, spans_exported, temporal_interceptors
from hub.temporal import connect
from services.context import HubContext, utcnow
from storage.database import create_engine, session_factory
from storage.migrate import check_schema

log = logging.getLogger(__name__)


def build_context(settings: Settings, clock: Callable[[], datetime] | None = None) -> HubContext:
    engine = create_engine(
        settings.effective_database_url,
        pool_size=settings.database_pool_size,
        pool_timeout=settings.api_database_wait_s,
    )
    trust = TrustStore(
        load_pem_certificates(settings.jpki_trust_anchors),
        allow_test_hierarchy=settings.jpki_allow_test_hierarchy and not settings.is_production,
        accepted_policies=settings.jpki_user_authentication_policies,
    )
    crls, links = jpki_clients(settings, trust)
    return HubContext(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        trust=trust,
        registry=AdapterRegistry(require_https=settings.is_production),
        clock=clock or utcnow,
        crls=crls,
        links=links,
    )


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None
) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = build_context(settings, clock)
        await check_schema(ctx.engine)  # never serve a database short of a migration
        ctx.login_limits = app.state.rate_limits
        app.state.hub = ctx
        # Pools of their own, never queued behind the requests in flight on the main pool: the
        # refusal lane's reads (`api/refusal_lane.py`), and the audit writer's group commits
        # (one at a time: one connection), which every write request waits for.
        app.state.lane_engine = lane = create_engine(
            settings.effective_database_url,
            pool_size=settings.api_refusal_lane_pool_size,
            pool_timeout=settings.api_database_wait_s,
        )
        app.state.lane_sessions = session_factory(lane)
        audit_engine = create_engine(settings.effective_database_url, pool_size=1)
        app.state.audit_writer = writer = AuditWriter(session_factory(audit_engine))
        crl_refresher = await start_crl_refresher(ctx.crls, settings.jpki_crl_refresh_s)

        async def connect_temporal() -> None:
            ctx.temporal = await connect(
                settings, interceptors=temporal_interceptors(), wait_s=3600
            )

        connecting = asyncio.create_task(connect_temporal())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(connecting), timeout=10)
        try:
            async with receipt_gauges(settings, ctx.sessions) as gauges:
                app.state.receipt_gauges = gauges
                yield
        finally:
            connecting.cancel()
            await writer.close()
            await stop_jpki_clients(crl_refresher, ctx.links)
            await ctx.registry.aclose()
            await audit_engine.dispose()
            await lane.dispose()
            await ctx.engine.dispose()

    app = FastAPI(
        title="Municipal Mynapoint Hub",
        version="1",
        lifespan=lifespan,
        description="Back end of the 自治体マイナポイント programme (SPEC v1).",
        # Operation IDs are the handlers' names (unique across routers; a test checks), so a
        # generated client reads `resident.apply`, not `apply_v1_measures__measure_id__…_post`.
        generate_unique_id_function=lambda route: route.name,
        # Traces come from the OpenTelemetry instrumentation below (the request span that the
        # Temporal interceptor continues into workflows); FastAPI's own telemetry would trace
        # and measure every request a second time, with spans for each dependency.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.read_cache = ReadCache(settings.catalog_cache_s)
    problems.install(app)
    middleware.install(app, settings)  # request IDs, audit entries, rate limits, codec CORS
    for router in all_routers():
        app.include_router(router, responses=problem_responses())
    install_console(app)  # the staff pages under /console/, outside the OpenAPI schema
    install_openapi(app)  # the document, with problem details as one component
    configure_tracing(settings, "mph-api")
    add_metrics_route(app, settings)
    if spans_exported():  # unread request spans would cost a fifth of a small request
        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    return app
