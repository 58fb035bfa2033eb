"""Onboarding a benchmark through the operator and municipality APIs, as staff would.

One municipality (千代田区), the three simulated providers of the run (sync, webhook and batch
file), a payment service each, and a municipality key. Measures are made per scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from simulators.providers import SimProviderConfig, hub_side_config

MUNICIPALITY = ("131016", "千代田区")
# Every simulated provider gets the same policy, generous enough never to be the limit: the
# scenarios measure the hub, not a provider's rate limit or a retry back-off.
POLICY: dict[str, Any] = {
    "ack_deadline_s": 6 * 3600,
    "rate_limit_per_s": 2000,
    "timeout_s": 30,
    "retry": {"initial_interval_s": 0.5, "backoff": 2, "max_interval_s": 10, "max_attempts": 30},
}
# The batch provider's cut-off: a file as soon as 1,000 requests wait or the oldest waited 1 s.
BATCH_CUTOFF: dict[str, Any] = {
    "cutoff_records": 1000,
    "cutoff_s": 1,
    "max_batch_records": 10000,
    "poll_s": 0.5,
}


@dataclass
class Catalog:
    municipality_code: str
    municipality_key: str
    services: dict[str, str]  # provider mode (sync, webhook, batch) → payment service ID
    providers: dict[str, str]  # provider mode → provider ID


def _ok(response: httpx.Response, *expected: int) -> dict[str, Any]:
    if response.status_code not in expected:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:500]}"
        )
    body: dict[str, Any] = response.json() if response.content else {}
    return body


async def onboard(
    http: httpx.AsyncClient, operator_key: str, sims: list[SimProviderConfig], sim_url: str
) -> Catalog:
    operator = {"authorization": f"Bearer {operator_key}"}
    code, name = MUNICIPALITY
    _ok(
        await http.post(
            "/v1/operator/municipalities", json={"code": code, "name": name}, headers=operator
        ),
        201,
        409,
    )
    services: dict[str, str] = {}
    providers: dict[str, str] = {}
    for sim in sims:
        adapter, connection = hub_side_config(sim, sim_url)
        config = {**connection, **POLICY}
        if adapter == "batch_file":
            config.update(BATCH_CUTOFF)
        body = {"provider_id": sim.provider_id, "name": sim.provider_id, "adapter": adapter}
        _ok(
            await http.post(
                "/v1/operator/providers", json={**body, "config": config}, headers=operator
            ),
            201,
        )
        service_id = f"{sim.provider_id}-pay"
        _ok(
            await http.post(
                "/v1/operator/payment-services",
                json={
                    "payment_service_id": service_id,
                    "name": f"{sim.provider_id} ペイ",
                    "provider_id": sim.provider_id,
                },
                headers=operator,
            ),
            201,
        )
        services[sim.mode] = service_id
        providers[sim.mode] = sim.provider_id
    key = _ok(
        await http.post(
            "/v1/operator/api-keys",
            json={"role": "municipality", "scope": code},
            headers=operator,
        ),
        201,
    )["key"]
    return Catalog(code, str(key), services, providers)


def measure_body(service_ids: list[str], title: str, **overrides: Any) -> dict[str, Any]:
    """An application measure open now, no budget limit, every given service available."""
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "title": title,
        "description": "性能測定用の施策です。",
        "kind": "application",
        "points_per_grant": 1000,
        "per_person_cap": 1000,
        "budget_points": None,
        "opens_at": (now - timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=30)).isoformat(),
        "receipt_deadline": (now + timedelta(days=60)).isoformat(),
        "target_list_only": False,
        "review_required": False,
        "late_report_days": 0,
        "payment_services": [
            {"payment_service_id": s, "available_from": (now - timedelta(days=1)).isoformat()}
            for s in service_ids
        ],
    }
    body.update(overrides)
    return body


async def create_measure(
    http: httpx.AsyncClient, catalog: Catalog, body: dict[str, Any], *, publish: bool
) -> str:
    staff = {"authorization": f"Bearer {catalog.municipality_key}"}
    base = f"/v1/municipalities/{catalog.municipality_code}/measures"
    measure_id = str(_ok(await http.post(base, json=body, headers=staff), 201)["measure_id"])
    if publish:
        await publish_measure(http, catalog, measure_id)
    return measure_id


async def publish_measure(http: httpx.AsyncClient, catalog: Catalog, measure_id: str) -> None:
    staff = {"authorization": f"Bearer {catalog.municipality_key}"}
    path = f"/v1/municipalities/{catalog.municipality_code}/measures/{measure_id}/publish"
    _ok(await http.post(path, headers=staff), 200)


async def upload_targets(
    http: httpx.AsyncClient, catalog: Catalog, measure_id: str, mykey_ids: list[str]
) -> dict[str, Any]:
    body = ("mykey_id\r\n" + "".join(f"{m}\r\n" for m in mykey_ids)).encode()
    return _ok(
        await http.put(
            f"/v1/municipalities/{catalog.municipality_code}/measures/{measure_id}/targets",
            content=body,
            headers={
                "authorization": f"Bearer {catalog.municipality_key}",
                "content-type": "text/csv",
            },
        ),
        200,
    )
