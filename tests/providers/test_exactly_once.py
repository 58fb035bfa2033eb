"""Exactly once, whatever fails: 200 receipts across the sync, webhook and pull modes (and a batch
provider beside them) while the simulator injects every fault it knows and the worker process is
killed with SIGKILL and restarted again and again. Afterwards every receipt is credited or
rejected, each credit reached its account exactly once, the hub and the providers agree, and the
hub's points ledger adds up.

The API and the worker are `mph api` and `mph worker` processes; the simulator runs in the test
process so its ledger and knobs can be read and turned directly.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from adapters.signing import new_secret
from simulators.providers import SimProvider, SimProviderConfig, create_sim_app, hub_side_config
from storage.database import create_engine, session_factory
from storage.models import Receipt
from storage.models.providers import ProviderAcknowledgement
from tests.drills.cluster import (
    OPERATOR,
    Cluster,
    Journey,
    Proc,
    hub_books,
    new_journey,
    wait_http,
)
from tests.support.databases import fresh_database
from tests.support.scenario import MUNICIPALITY, measure_body
from tests.support.servers import free_port, serve

# receipts per mode; the 200 are the three hub_rest modes, the batch provider comes on top
PLAN = {"sync": 70, "webhook": 70, "pull": 60, "batch": 30}
KILLS = 6
CLOSED_SHARE = 0.05  # accounts closed after registration: their credits come back rejected
RETRY = {"initial_interval_s": 0.2, "backoff": 2, "max_interval_s": 2, "max_attempts": 60}
FAULTS: dict[str, dict[str, Any]] = {
    "sync": {
        "error_rate": 0.1,
        "burst_every": 25,
        "burst_length": 3,
        "retry_after_s": 1,
        "timeout_after_apply_rate": 0.1,
        "timeout_after_apply_ms": 3000,
        "latency_ms": 20,
    },
    "webhook": {
        "error_rate": 0.1,
        "burst_every": 30,
        "timeout_after_apply_rate": 0.1,
        "timeout_after_apply_ms": 3000,
        "ack_delay_ms": 1500,
        "ack_duplicate_rate": 0.3,
        "ack_reorder": True,
    },
    "pull": {"error_rate": 0.1, "ack_duplicate_rate": 0.3, "poll_interval_ms": 300},
    "batch": {"error_rate": 0.1},
}


@dataclass
class Run:
    cluster: Cluster
    sims: dict[str, SimProvider]  # by mode
    services: dict[str, str]  # mode → payment service
    measure_id: str


async def onboard(http: httpx.AsyncClient, run: Run, sim_url: str) -> None:
    response = await http.post(
        "/v1/operator/municipalities",
        json={"code": MUNICIPALITY, "name": "千代田区"},
        headers=OPERATOR,
    )
    assert response.status_code in (201, 409), response.text
    for mode, sim in run.sims.items():
        adapter, config = hub_side_config(sim.config, sim_url)
        config.update(
            {"ack_deadline_s": 900, "rate_limit_per_s": 100, "retry": RETRY, "timeout_s": 2}
        )
        if mode == "batch":
            config.update({"cutoff_records": 20, "cutoff_s": 2, "poll_s": 0.5})
        provider_id = sim.config.provider_id
        body = {
            "provider_id": provider_id,
            "name": provider_id,
            "adapter": adapter,
            "config": config,
        }
        response = await http.post("/v1/operator/providers", json=body, headers=OPERATOR)
        assert response.status_code == 201, response.text
        service = {
            "payment_service_id": f"{provider_id}-pay",
            "name": mode,
            "provider_id": provider_id,
        }
        response = await http.post("/v1/operator/payment-services", json=service, headers=OPERATOR)
        assert response.status_code == 201, response.text
        run.services[mode] = f"{provider_id}-pay"
        if mode == "pull":
            response = await http.post(
                "/v1/operator/api-keys",
                json={"role": "provider", "scope": provider_id},
                headers=OPERATOR,
            )
            assert response.status_code == 201, response.text
            sim.config.hub_api_key = response.json()["key"]
    response = await http.post(
        "/v1/operator/api-keys",
        json={"role": "municipality", "scope": MUNICIPALITY},
        headers=OPERATOR,
    )
    staff = {"authorization": f"Bearer {response.json()['key']}"}
    body = measure_body(list(run.services.values()), budget_points=None)
    response = await http.post(
        f"/v1/municipalities/{MUNICIPALITY}/measures", json=body, headers=staff
    )
    assert response.status_code == 201, response.text
    run.measure_id = response.json()["measure_id"]
    response = await http.post(
        f"/v1/municipalities/{MUNICIPALITY}/measures/{run.measure_id}/publish", headers=staff
    )
    assert response.status_code == 200, response.text


@pytest.fixture
async def run(temporal_env: WorkflowEnvironment, session_tmp: Path) -> AsyncIterator[Run]:
    tmp = session_tmp / f"exactly-once-{int(time.time())}"
    tmp.mkdir()
    with fresh_database(tmp) as url:
        cluster = Cluster(tmp, url, temporal_env.client.service_client.config.target_host)
        api_port = free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        sims = {}
        for mode in PLAN:
            config = SimProviderConfig(
                provider_id=f"{mode}-{cluster.task_queue[4:]}",
                signing_secret=new_secret(),
                webhook_secret=new_secret(),
                mode=mode,
                hub_webhook_url=f"{api_url}/v1/providers/{mode}-{cluster.task_queue[4:]}/webhooks",
                hub_api_url=api_url,
                outbox_dir=str(tmp / "batch" / "outbox") if mode == "batch" else "",
                inbox_dir=str(tmp / "batch" / "inbox") if mode == "batch" else "",
                seed=len(mode),
            )
            sims[mode] = config
        app = create_sim_app(list(sims.values()))
        try:
            async with serve(app) as sim_url:
                cluster.sim_url = sim_url
                api = cluster.spawn("api", ["api", "--host", "127.0.0.1", "--port", str(api_port)])
                await wait_http(f"{api_url}/readyz", api)
                cluster.api_urls.append(api_url)
                providers = app.state.providers
                state = Run(cluster, {m: providers[c.provider_id] for m, c in sims.items()}, {}, "")
                async with cluster.http() as http:
                    await onboard(http, state, sim_url)
                yield state
        finally:
            cluster.stop_all()


async def prepare(journey: Journey, run: Run, mode: str) -> None:
    """Login, application, registration; some accounts then close at the provider."""
    await journey.login_apply_register(run.measure_id, run.services[mode])
    if random.random() < CLOSED_SHARE:  # their credits come back rejected
        run.sims[mode].accounts[journey.account_id] = {"security_code": "1234", "status": "closed"}


async def ask_to_receive(journey: Journey) -> None:
    """Like an app on a bad day: when the answer is lost, look whether the receipt exists
    before asking again (a second request for the same grant would be refused)."""
    for _ in range(60):
        try:
            response = await journey.resident.request_receipt(
                [journey.grant_id], journey.registration_id
            )
            if response.status_code == 202:
                journey.receipt_id = response.json()["receipts"][0]["receipt_id"]
                return
            mine = (await journey.resident.get("/v1/me/receipts")).json()["items"]
        except httpx.HTTPError:
            await asyncio.sleep(1)
            continue
        found = [r["receipt_id"] for r in mine if r["grant_id"] == journey.grant_id]
        if found:
            journey.receipt_id = found[0]
            return
        await asyncio.sleep(1)
    raise AssertionError(f"no receipt for {journey.grant_id}")


async def receipts_of(url: str, measure_id: str) -> list[Receipt]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(select(Receipt).where(Receipt.measure_id == measure_id))
            return list(rows.scalars())
    finally:
        await engine.dispose()


async def acknowledgement_counts(url: str, ids: list[str]) -> Counter[str]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(ProviderAcknowledgement.receipt_id).where(
                    ProviderAcknowledgement.receipt_id.in_(ids)
                )
            )
            return Counter(rows.scalars())
    finally:
        await engine.dispose()


async def test_every_receipt_is_credited_exactly_once_through_faults_and_kills(run: Run) -> None:
    cluster = run.cluster
    random.seed(5)
    started = time.monotonic()
    worker: Proc = cluster.start_worker("worker-0")
    async with cluster.http() as http:
        journeys = {m: [new_journey(cluster, http) for _ in range(n)] for m, n in PLAN.items()}
        everyone = [(j, m) for m, js in journeys.items() for j in js]
        gate = asyncio.Semaphore(16)

        async def prepared(journey: Journey, mode: str) -> None:
            async with gate:
                await prepare(journey, run, mode)

        await asyncio.gather(*(prepared(j, m) for j, m in everyone))
        for mode, faults in FAULTS.items():  # every knob on from here
            for name, value in faults.items():
                setattr(run.sims[mode].config, name, value)

        async def requests_in_waves() -> None:
            random.shuffle(everyone)
            for start in range(0, len(everyone), 30):
                wave = everyone[start : start + 30]
                await asyncio.gather(*(ask_to_receive(j) for j, _ in wave))
                await asyncio.sleep(2)

        asking = asyncio.create_task(requests_in_waves())
        kills = 0
        while kills < KILLS:
            await asyncio.sleep(3 + random.random() * 4)
            worker.stop(signal.SIGKILL)
            kills += 1
            await asyncio.sleep(0.5)
            worker = cluster.start_worker(f"worker-{kills}")
        await asking

        requested = {j.receipt_id: m for j, m in everyone}
        deadline = time.monotonic() + 240
        while True:
            receipts = await receipts_of(cluster.database_url, run.measure_id)
            open_ones = [r for r in receipts if r.state not in ("credited", "rejected")]
            if not open_ones and len(receipts) == len(requested):
                break
            if time.monotonic() > deadline:
                states = Counter(r.state for r in receipts)
                acked = await acknowledgement_counts(
                    cluster.database_url, [r.id for r in open_ones]
                )
                detail = [
                    (r.id, r.provider_id, r.state, r.attempts, f"acks={acked[r.id]}")
                    for r in open_ones
                ]
                said = {m: sim.stats for m, sim in run.sims.items()}  # e.g. acks_422 by mode
                raise AssertionError(f"receipts not final: {states}: {detail}; providers: {said}")
            await asyncio.sleep(1)
    elapsed = time.monotonic() - started

    by_id = {r.id: r for r in receipts}
    assert set(by_id) == set(requested)  # no receipt lost, none invented
    figures: dict[str, Any] = {"kills": kills, "seconds": round(elapsed, 1), "modes": {}}
    for mode, sim in run.sims.items():
        mine = [r for r in receipts if requested[r.id] == mode]
        credits = {k: c for k, c in sim.credits.items() if k in requested}
        credited = {r.id for r in mine if r.state == "credited"}
        assert {k for k, c in credits.items() if c.status == "credited"} == credited
        assert all(credits[k].applied == 1 for k in credited)  # exactly once at the provider
        assert all(c.applied == 0 for c in credits.values() if c.status == "rejected")
        rejected = {r.id for r in mine if r.state == "rejected"}
        assert all(credits[k].status == "rejected" for k in rejected)
        attempts = [r.attempts for r in mine]
        figures["modes"][mode] = {
            "receipts": len(mine),
            "credited": len(credited),
            "rejected": len(rejected),
            "requests_at_provider": sum(c.requests for c in credits.values()),
            "attempts_max": max(attempts),
            "attempts_mean": round(statistics.mean(attempts), 2),
            "faults": dict(sorted(sim.stats.items())),
        }
    answered = [r.id for r in receipts if requested[r.id] != "sync"]
    acks = await acknowledgement_counts(cluster.database_url, answered)
    assert set(acks.values()) == {1}  # one recorded answer per receipt, duplicates ignored
    books, adds_up = await hub_books(cluster.database_url, run.measure_id)
    assert adds_up
    assert len(books.receipts) == len(requested)
    print("exactly-once figures:", json.dumps(figures, ensure_ascii=False))
