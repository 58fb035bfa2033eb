"""Login and resident writes are limited per client address and per MyKey ID: 429 problem
details with code `rate_limited` and a `Retry-After`, before any work is done."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from api.app import create_app
from simulators.resident_app import ResidentApp
from tests.support.servers import serve
from tests.support.stack import Hub


@asynccontextmanager
async def limited_api(hub: Hub, **limits: str) -> AsyncIterator[httpx.AsyncClient]:
    """A second API process on the same database and Temporal, with tight limits."""
    settings = hub.settings.model_copy(update=limits)
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_login_is_limited_per_client_address(hub: Hub) -> None:
    async with limited_api(hub, rate_limit_login="3/minute") as http:
        answers = [await http.post("/v1/auth/challenges") for _ in range(4)]
        assert [a.status_code for a in answers[:3]] == [201, 201, 201]
        assert_limited(answers[3])
        assert_limited(await http.post("/v1/auth/sessions", json={}))
        assert (await http.get("/healthz")).status_code == 200  # reads are not limited
        audit = await hub.http.get(
            "/v1/operator/audit",
            params={"request_id": answers[3].headers["x-request-id"]},
            headers=hub.operator_headers,
        )
        [entry] = audit.json()["items"]
        assert entry["outcome"] == "429 rate_limited"


async def resident_on(http: httpx.AsyncClient, hub: Hub) -> ResidentApp:
    resident = ResidentApp(http, hub.card())
    assert (await resident.login()).status_code == 201
    return resident


async def test_resident_writes_are_limited_per_mykey_id(hub: Hub) -> None:
    async with limited_api(hub, rate_limit_resident_writes="2/minute") as http:
        first, second = await resident_on(http, hub), await resident_on(http, hub)
        report = {"qr_payload": "MPQ1.nothing.0.0"}
        tries = [await first.post("/v1/me/attendance-reports", report) for _ in range(3)]
        assert [t.status_code for t in tries[:2]] == [422, 422]  # refused, and counted
        assert_limited(tries[2])
        assert (await first.get("/v1/me/points")).status_code == 200  # reads go on
        other = await second.post("/v1/me/attendance-reports", report)
        assert other.status_code == 422  # another MyKey ID has its own budget


async def test_resident_writes_are_limited_per_client_address(hub: Hub) -> None:
    async with limited_api(hub, rate_limit_address_writes="3/minute") as http:
        residents = [await resident_on(http, hub) for _ in range(2)]
        report = {"qr_payload": "MPQ1.nothing.0.0"}
        codes = [
            (await residents[n % 2].post("/v1/me/attendance-reports", report)).status_code
            for n in range(4)
        ]
        assert codes == [422, 422, 422, 429]


def redis_reachable() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not redis_reachable(), reason="no Redis on 127.0.0.1:6379")
async def test_api_processes_share_limits_through_redis(hub: Hub) -> None:
    shared = {
        "rate_limit_storage": "redis://127.0.0.1:6379/15",
        "rate_limit_login": f"4 per {secrets.randbelow(10**5) + 2} minutes",  # a fresh key
    }
    async with limited_api(hub, **shared) as first, limited_api(hub, **shared) as second:
        answers = [await (first, second)[n % 2].post("/v1/auth/challenges") for n in range(5)]
    assert [a.status_code for a in answers[:4]] == [201, 201, 201, 201]
    assert answers[4].status_code == 429 and answers[4].json()["code"] == "rate_limited"
