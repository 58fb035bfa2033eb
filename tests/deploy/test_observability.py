"""One lifecycle is one trace; provider calls and receipts are measured; logs carry trace IDs.

Spans and metrics are read with in-memory readers on the process's providers, while the API,
the worker and the simulator run on real sockets against the Temporal dev server. Set
HUB_RECORD_TRACE=1 to rewrite the recorded trace in `docs/traces/`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from adapters.providers.contract import CreditRequest, TransientProviderError
from adapters.providers.instrumented import instrument
from api.app import create_app
from hub.logs import JsonFormatter, RedactingFormatter
from hub.metrics import ReceiptGauges, prometheus_text
from hub.settings import Settings
from hub.telemetry import temporal_interceptors
from hub.temporal import connect
from simulators.jpki import TestCA
from tests.deploy.observed import (
    ancestors,
    metric_points,
    observed,
    subtree,
    trace_document,
    write_trace,
)
from tests.support.databases import fresh_database
from tests.support.scenario import add_provider, onboard
from tests.support.stack import Hub, running_hub

DOCS = Path(__file__).parents[2] / "docs"
RECORDED_TRACE = DOCS / "traces" / "lifecycle.json"
APPLY_ROUTE = "POST /v1/measures/{measure_id}/applications"
RECEIPT_ROUTE = "POST /v1/me/receipts"
MY_NUMBER = "123456789018"  # check digit valid


@dataclasses.dataclass
class Lifecycle:
    hub: Hub
    provider_id: str
    unreachable_provider_id: str
    receipt_id: str
    spans: list[ReadableSpan]


@pytest.fixture(scope="module")
async def traced_hub(
    temporal_env: WorkflowEnvironment, session_tmp: Path, test_ca: TestCA
) -> AsyncIterator[Hub]:
    observed()
    address = temporal_env.client.service_client.config.target_host
    client = await connect(Settings(temporal_address=address), interceptors=temporal_interceptors())
    with fresh_database(session_tmp, backend="sqlite") as url:
        async with running_hub(
            database_url=url, client=client, tmp_dir=session_tmp, ca=test_ca
        ) as hub:
            yield hub


@pytest.fixture(scope="module")
async def lifecycle(traced_hub: Hub) -> Lifecycle:
    hub = traced_hub
    spans = observed().spans
    setup = await onboard(hub)
    _, unreachable_service = await add_provider(hub, base_url="http://127.0.0.1:9")
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    spans.clear()
    applied = await resident.apply(setup.measure_id)
    assert applied.status_code == 201, applied.text
    [grant] = applied.json()["grants"]
    registered = await resident.register_service(setup.payment_service_id, "acct-trace")
    assert registered.status_code == 201, registered.text
    refused = await resident.register_service(unreachable_service, "acct-trace-2")
    assert refused.status_code >= 400
    receipt = await resident.request_receipt(
        [grant["grant_id"]], registered.json()["registration_id"]
    )
    assert receipt.status_code == 202, receipt.text
    [planned] = receipt.json()["receipts"]
    for _ in range(300):
        names = {s.name for s in spans.get_finished_spans()}
        if "CompleteWorkflow:Application" in names:
            break
        await asyncio.sleep(0.1)
    return Lifecycle(
        hub,
        setup.provider_id,
        unreachable_service.removesuffix("-pay"),
        planned["receipt_id"],
        list(spans.get_finished_spans()),
    )


def lifecycle_trace(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    """The receipt request's trace: the application was decided in its own request (no
    workflow), so the workflow starts, and its trace begins, with the first receipt request."""
    [api] = [s for s in spans if s.name == RECEIPT_ROUTE and s.kind.name == "SERVER"]
    return subtree(spans, api)


def test_an_application_without_review_is_answered_without_a_workflow(
    lifecycle: Lifecycle,
) -> None:
    [api] = [s for s in lifecycle.spans if s.name == APPLY_ROUTE and s.kind.name == "SERVER"]
    names = {s.name for s in subtree(lifecycle.spans, api)}
    assert not {n for n in names if "Workflow" in n or n.startswith(("HandleUpdate", "Run"))}


async def test_one_lifecycle_is_one_connected_trace(lifecycle: Lifecycle) -> None:
    spans = lifecycle_trace(lifecycle.spans)
    assert len({s.context.trace_id for s in spans}) == 1
    names = [s.name for s in spans]
    for expected in (
        "SignalWithStartWorkflow:Application",
        "RunWorkflow:Application",
        "HandleSignal:receipts_claimed",
        "RunActivity:credit",
        "provider.credit",
        "CompleteWorkflow:Application",
    ):
        assert expected in names, f"{expected} missing from {names}"
    # Claimed in the request; the credit call recorded the provider's answer itself (workflow
    # revision 1): no database step of the workflow's own.
    assert not {"RunActivity:claim_receipts", "RunActivity:record_credit_outcome"} & set(names)

    [credit] = [s for s in spans if s.name == "provider.credit"]
    assert credit.attributes is not None
    assert credit.attributes["hub.provider_id"] == lifecycle.provider_id
    assert credit.attributes["hub.receipt_id"] == lifecycle.receipt_id
    assert ancestors(spans, credit)[:2] == ["RunActivity:credit", "StartActivity:credit"]
    assert ancestors(spans, credit)[-1] == RECEIPT_ROUTE
    # The provider HTTP call itself, below the adapter's span, to the provider's /credits.
    http_calls = [
        s
        for s in spans
        if s.kind.name == "CLIENT" and s.parent and s.parent.span_id == credit.context.span_id
    ]
    assert http_calls, "no HTTP span below provider.credit"
    url = str(
        (http_calls[0].attributes or {}).get("http.url")
        or (http_calls[0].attributes or {}).get("url.full")
    )
    assert url.endswith(f"/p/{lifecycle.provider_id}/credits")

    if os.environ.get("HUB_RECORD_TRACE"):
        RECORDED_TRACE.parent.mkdir(parents=True, exist_ok=True)
        write_trace(RECORDED_TRACE, spans)


def test_the_recorded_trace_is_one_lifecycle_and_documented() -> None:
    recorded = json.loads(RECORDED_TRACE.read_text())
    rows: list[dict[str, Any]] = recorded["spans"]
    ids = {r["span_id"] for r in rows}
    roots = [r for r in rows if r["parent_id"] not in ids]
    assert [r["name"] for r in roots] == [RECEIPT_ROUTE]
    operations = (DOCS / "operations.md").read_text()
    significant = {
        r["name"] for r in rows if not r["name"].endswith((" http send", " http receive"))
    }
    for name in significant:
        generic = re.sub(r"/p/[^/]+/", "/p/{provider_id}/", name)
        assert f"`{generic}`" in operations, f"span {name} is not explained in operations.md"


def test_the_trace_document_keeps_nothing_personal(lifecycle: Lifecycle) -> None:
    document = json.dumps(trace_document(lifecycle_trace(lifecycle.spans)))
    assert "acct-trace" not in document
    assert "security_code" not in document


async def test_provider_calls_are_measured_by_provider(lifecycle: Lifecycle) -> None:
    reader = observed().metrics
    if reader is None:
        pytest.fail("the meter provider was installed without the test reader")
    latency = metric_points(reader, "hub.provider.call.duration")
    credited = [
        p
        for a, p in latency
        if a.get("provider") == lifecycle.provider_id
        and a.get("operation") == "credit"
        and a.get("outcome") == "credited"
    ]
    assert credited and credited[0].count >= 1
    errors = metric_points(reader, "hub.provider.call.errors")
    unreachable = [
        p.value
        for a, p in errors
        if a.get("provider") == lifecycle.unreachable_provider_id and a.get("kind") == "transient"
    ]
    assert unreachable and unreachable[0] >= 1


async def test_receipt_gauges_count_from_the_database(lifecycle: Lifecycle) -> None:
    reader = observed().metrics
    assert reader is not None
    gauges = ReceiptGauges(lifecycle.hub.ctx.sessions)
    for _ in range(100):
        snapshot = await gauges.refresh()
        if snapshot.by_state.get((lifecycle.provider_id, "credited")) == 1:
            break
        await asyncio.sleep(0.1)
    assert snapshot.by_state[(lifecycle.provider_id, "credited")] == 1
    assert snapshot.stuck[lifecycle.provider_id] == 0
    points = metric_points(reader, "hub.receipts")
    assert ({"provider": lifecycle.provider_id, "state": "credited"}, 1) in [
        (a, p.value) for a, p in points
    ]
    stuck = metric_points(reader, "hub.receipts.stuck")
    assert ({"provider": lifecycle.provider_id}, 0) in [(a, p.value) for a, p in stuck]

    body, content_type = prometheus_text()
    text = body.decode()
    assert content_type.startswith("text/plain")
    scraped = rf'hub_receipts\{{[^}}]*provider="{lifecycle.provider_id}",state="credited"\}} 1.0'
    assert re.search(scraped, text), text[-2000:]
    assert "hub_provider_call_duration_seconds_bucket{" in text
    assert "hub_provider_call_errors_total{" in text


async def test_the_api_serves_prometheus_metrics(lifecycle: Lifecycle) -> None:
    settings = lifecycle.hub.settings.model_copy(update={"metrics_exporter": "prometheus"})
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert "hub_provider_call_duration_seconds" in response.text
    without = create_app(lifecycle.hub.settings)  # metrics_exporter=none: no endpoint
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=without), base_url="http://hub"
    ) as http:
        assert (await http.get("/metrics")).status_code == 404


class FailingAdapter:
    provider_id = "flaky"

    async def credit(self, request: CreditRequest) -> Any:
        raise TransientProviderError("provider error 503")


async def test_a_retried_credit_counts_as_a_retry() -> None:
    reader = observed().metrics
    assert reader is not None

    def total(name: str, **wanted: str) -> float:
        return sum(
            p.value
            for a, p in metric_points(reader, name)
            if all(a.get(k) == v for k, v in wanted.items())
        )

    before = total("hub.provider.retries", provider="flaky")
    errors_before = total("hub.provider.call.errors", provider="flaky", kind="transient")
    adapter = instrument(FailingAdapter())  # type: ignore[arg-type]
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=3)
    request = CreditRequest("g-r1", "acct", 100, "m", "131016")
    with pytest.raises(TransientProviderError):
        await env.run(adapter.credit, request)
    assert total("hub.provider.retries", provider="flaky") == before + 1
    assert "hub_provider_retries_total{" in prometheus_text()[0].decode()
    assert total("hub.provider.call.errors", provider="flaky", kind="transient") == (
        errors_before + 1
    )


def log_record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("hub.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_json_logs_carry_the_trace_and_redact_my_numbers() -> None:
    observed()
    formatter = JsonFormatter("mph-worker")
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        line = formatter.format(
            log_record(
                "resident wrote %s", f"my number {MY_NUMBER}", note="１２３４ ５６７８ ９０１８"
            )
        )
        context = span.get_span_context()
    entry = json.loads(line)
    assert entry["trace_id"] == f"{context.trace_id:032x}"
    assert entry["span_id"] == f"{context.span_id:016x}"
    assert entry["service"] == "mph-worker" and entry["level"] == "WARNING"
    assert MY_NUMBER not in line and "[redacted]" in entry["message"]
    assert entry["note"] == "[redacted]"
    assert "1234" not in line


def test_text_logs_redact_my_numbers_and_tracebacks() -> None:
    formatter = RedactingFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError(f"bad input {MY_NUMBER}")
    except ValueError:
        import sys

        record = log_record("failed for 1234-5678-9018")
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert MY_NUMBER not in line and "1234-5678-9018" not in line
    assert line.count("[redacted]") == 2
    assert JsonFormatter("x").format(record).count("[redacted]") == 2
