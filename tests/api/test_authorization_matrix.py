"""Every route of the OpenAPI schema, called by every kind of caller: no credentials, a resident
session, each staff role, and another municipality's and another provider's key. Each outcome
is the table's (`tests/api/routes.py`): 401, 403, 404 for another tenant, or allowed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.roles import FOREIGN, HOME, api_key
from tests.api.routes import CALLERS, ROUTES, Rule, expected_refusal, role_of
from tests.audit.lifecycle import credited_resident
from tests.support.scenario import measure_body
from tests.support.stack import Hub

MISSING = {  # identifiers of nothing: an allowed call finds no object and changes nothing
    "measure_id": "msr_0000000000missing",
    "event_id": "evt_0000000000missing",
    "review_id": "rev_0000000000missing",
    "receipt_id": "app_missing-g1-r1",
    "mykey_id": "ZZZZ9999",
    "key_id": "key_0000000000missing",
    "business_date": "2000-01-04",
    "break_id": "brk_999999999999",
    "month": "1999-13",
}
LAST = {("DELETE", "/v1/auth/sessions/current")}  # it ends the session the others use


@dataclass
class World:
    headers: dict[str, dict[str, str]]
    home_provider: str
    foreign_provider: str
    service_id: str
    measure_id: str  # HOME's, published, with a credited receipt
    receipt_id: str  # of home_provider
    event_measure_id: str
    event_id: str
    review_id: str


def event_times() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "title": "防災訓練",
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=1, hours=2)).isoformat(),
        "points": 100,
    }


async def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
async def world(hub: Hub) -> World:
    done = await credited_resident(hub)  # municipality HOME, its provider, a credited receipt
    staff = {"authorization": f"Bearer {done.setup.municipality_key}"}
    http = hub.http
    base = f"/v1/municipalities/{HOME}/measures"
    service = done.setup.payment_service_id
    event_measure = await created(
        await http.post(base, json=measure_body([service], kind="event"), headers=staff)
    )
    event_measure_id = event_measure["measure_id"]
    await created(await http.post(f"{base}/{event_measure_id}/publish", headers=staff))
    event = await created(
        await http.post(f"{base}/{event_measure_id}/events", json=event_times(), headers=staff)
    )
    reviewed = await created(
        await http.post(base, json=measure_body([service], review_required=True), headers=staff)
    )
    await created(await http.post(f"{base}/{reviewed['measure_id']}/publish", headers=staff))
    applied = await done.resident.apply(reviewed["measure_id"])
    assert applied.status_code == 201, applied.text
    reviews = await created(
        await http.get(
            f"/v1/municipalities/{HOME}/reviews", params={"status": "pending"}, headers=staff
        )
    )
    [review] = [r for r in reviews["items"] if r["measure_id"] == reviewed["measure_id"]]
    response = await http.post(
        "/v1/operator/municipalities",
        json={"code": FOREIGN, "name": "中央区"},
        headers=hub.operator_headers,
    )
    assert response.status_code in (201, 409)
    foreign_provider = f"{done.setup.provider_id}-other"
    response = await http.post(
        "/v1/operator/providers",
        json={
            "provider_id": foreign_provider,
            "name": "Other",
            "adapter": "hub_rest",
            "config": {
                "base_url": "http://127.0.0.1:9",
                "signing_secret": "whsec_" + "QUJD" * 8,
                "ack_mode": "pull",
            },
        },
        headers=hub.operator_headers,
    )
    assert response.status_code == 201, response.text
    headers = {
        "none": {},
        "resident": done.resident.auth,
        "municipality": staff,
        "foreign_municipality": await api_key(hub, "municipality", FOREIGN),
        "provider": await api_key(hub, "provider", done.setup.provider_id),
        "foreign_provider": await api_key(hub, "provider", foreign_provider),
        "support": await api_key(hub, "support"),
        "operator": hub.operator_headers,
    }
    return World(
        headers,
        done.setup.provider_id,
        foreign_provider,
        service,
        done.setup.measure_id,
        done.receipt_id,
        event_measure_id,
        event["event_id"],
        review["review_id"],
    )


def valid_body(method: str, path: str, world: World) -> dict[str, Any] | None:
    """Bodies that pass validation, so a scoped route reaches its tenant check."""
    if path.endswith("/measures") and method == "POST":
        return measure_body([world.service_id])
    if path.endswith("/measures/{measure_id}") and method == "PATCH":
        return {"title": "更新"}
    if path.endswith("/events") and method == "POST":
        return event_times()
    if path.endswith("/decision"):
        return {"decision": "approve"}
    if path.endswith("/ack"):
        return {"status": "credited"}
    return None


async def call(
    hub: Hub,
    method: str,
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
    body: dict[str, Any] | None,
) -> httpx.Response:
    url = path.format(**params)
    if method == "PUT":  # the target list is CSV
        return await hub.http.request(
            method, url, content=b"mykey_id\n", headers={**headers, "content-type": "text/csv"}
        )
    if method in ("POST", "PATCH"):
        return await hub.http.request(method, url, json=body or {}, headers=headers)
    return await hub.http.request(method, url, headers=headers)


def schema_routes(hub: Hub) -> set[tuple[str, str]]:
    app = hub_app_schema(hub)
    return {(m.upper(), p) for p, ops in app["paths"].items() for m in ops}


def hub_app_schema(hub: Hub) -> dict[str, Any]:
    from api.app import create_app

    schema: dict[str, Any] = create_app(hub.settings).openapi()
    return schema


def test_every_route_in_the_schema_has_a_rule(hub: Hub) -> None:
    routes = schema_routes(hub)
    assert sorted(routes - ROUTES.keys()) == [], "new routes need a rule in tests/api/routes.py"
    assert sorted(ROUTES.keys() - routes) == [], "rules for routes that no longer exist"


async def test_every_caller_gets_the_outcome_its_role_allows(hub: Hub, world: World) -> None:
    own = {"code": HOME, "provider_id": world.home_provider, **MISSING}
    failures: list[str] = []
    cases = sorted(schema_routes(hub) & ROUTES.keys(), key=lambda r: (r in LAST, r))
    for method, path in cases:
        rule = ROUTES[(method, path)]
        for caller in CALLERS:
            response = await call(
                hub, method, path, own, world.headers[caller], valid_body(method, path, world)
            )
            expected = outcome(rule, caller)
            if expected == "allowed":
                ok = response.status_code not in (401, 403) and response.status_code < 500
            else:
                ok = response.status_code == expected
            if not ok:
                failures.append(
                    f"{method} {path} as {caller}: {response.status_code}, expected {expected}"
                )
    assert failures == []


def outcome(rule: Rule, caller: str) -> int | str:
    refusal = expected_refusal(rule, caller)
    if refusal is not None:
        return refusal
    if caller.startswith("foreign_") and rule.scope == role_of(caller):
        return 404  # the path names the home tenant: its existence is not disclosed
    return "allowed"


async def test_another_tenants_objects_are_not_found(hub: Hub, world: World) -> None:
    """The foreign key on its own tenant's path, naming the home tenant's real objects; the home
    key reaches the same objects, so the 404 is about the tenant, not a missing object."""
    scoped = [r for r, rule in ROUTES.items() if rule.scope == "municipality"]
    objects = {
        "measure_id": world.event_measure_id,
        "event_id": world.event_id,
        "review_id": world.review_id,
    }
    failures: list[str] = []
    for method, path in sorted(scoped):
        if path.endswith("/measures") or path.endswith("/reviews"):
            continue  # collections: checked below by what they list
        if "/settlements/" in path:
            continue  # a month names no object: each municipality reads its own figures
        body = valid_body(method, path, world)
        foreign = await call(
            hub,
            method,
            path,
            {"code": FOREIGN, **objects},
            world.headers["foreign_municipality"],
            body,
        )
        if foreign.status_code != 404:
            failures.append(f"{method} {path}: {foreign.status_code}")
        if method == "GET":
            home = await call(
                hub, method, path, {"code": HOME, **objects}, world.headers["municipality"], None
            )
            assert home.status_code == 200, f"{path}: {home.status_code} {home.text}"
    assert failures == []

    listed = await hub.http.get(
        f"/v1/municipalities/{FOREIGN}/measures", headers=world.headers["foreign_municipality"]
    )
    assert world.measure_id not in listed.text
    reviews = await hub.http.get(
        f"/v1/municipalities/{FOREIGN}/reviews", headers=world.headers["foreign_municipality"]
    )
    assert world.review_id not in reviews.text

    ack = await hub.http.post(
        f"/v1/providers/{world.foreign_provider}/credit-requests/{world.receipt_id}/ack",
        json={"status": "credited"},
        headers=world.headers["foreign_provider"],
    )
    assert ack.status_code == 404, ack.text
    pending = await hub.http.get(
        f"/v1/providers/{world.home_provider}/credit-requests",
        headers=world.headers["foreign_provider"],
    )
    assert pending.status_code == 404
    mine = await hub.http.get(
        f"/v1/providers/{world.home_provider}/credit-requests", headers=world.headers["provider"]
    )
    assert mine.status_code == 200
