"""Onboarding through the operator and municipality APIs, as staff would do it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.stack import Hub

MUNICIPALITY = "131016"


@dataclass
class Onboarded:
    provider_id: str
    payment_service_id: str
    municipality_code: str
    municipality_key: str
    measure_id: str

    @property
    def staff(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.municipality_key}"}


async def ensure_municipality(hub: Hub, code: str = MUNICIPALITY, name: str = "千代田区") -> None:
    response = await hub.http.post(
        "/v1/operator/municipalities",
        json={"code": code, "name": name},
        headers=hub.operator_headers,
    )
    assert response.status_code in (201, 409), response.text


async def add_provider(hub: Hub, *, mode: str = "sync", **config: Any) -> tuple[str, str]:
    """A simulated provider and its payment service; returns (provider_id, payment_service_id)."""
    provider_id = f"sim-{secrets.token_hex(4)}"
    sim = hub.add_sim_provider(provider_id, mode)
    body = {
        "provider_id": provider_id,
        "name": f"Simulated {provider_id}",
        "adapter": "hub_rest",
        "config": {
            "base_url": f"{hub.sim_url}/p/{provider_id}",
            "signing_secret": sim.signing_secret,
            "webhook_secrets": [sim.webhook_secret],
            "ack_mode": mode,
            "ack_deadline_s": 60,
            "rate_limit_per_s": 100,
            "retry": {
                "initial_interval_s": 0.2,
                "backoff": 2,
                "max_interval_s": 2,
                "max_attempts": 10,
            },
            **config,
        },
    }
    response = await hub.http.post(
        "/v1/operator/providers", json=body, headers=hub.operator_headers
    )
    assert response.status_code == 201, response.text
    service_id = f"{provider_id}-pay"
    response = await hub.http.post(
        "/v1/operator/payment-services",
        json={
            "payment_service_id": service_id,
            "name": f"{provider_id} ペイ",
            "provider_id": provider_id,
        },
        headers=hub.operator_headers,
    )
    assert response.status_code == 201, response.text
    return provider_id, service_id


async def municipality_key(hub: Hub, code: str = MUNICIPALITY) -> str:
    response = await hub.http.post(
        "/v1/operator/api-keys",
        json={"role": "municipality", "scope": code},
        headers=hub.operator_headers,
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def measure_body(service_ids: list[str], **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "title": "子育て応援ポイント",
        "description": "テスト用の施策です。",
        "kind": "application",
        "points_per_grant": 1000,
        "per_person_cap": 1000,
        "budget_points": 1_000_000,
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


async def publish_measure(
    hub: Hub, key: str, service_ids: list[str], code: str = MUNICIPALITY, **overrides: Any
) -> str:
    headers = {"authorization": f"Bearer {key}"}
    response = await hub.http.post(
        f"/v1/municipalities/{code}/measures",
        json=measure_body(service_ids, **overrides),
        headers=headers,
    )
    assert response.status_code == 201, response.text
    measure_id: str = response.json()["measure_id"]
    response = await hub.http.post(
        f"/v1/municipalities/{code}/measures/{measure_id}/publish", headers=headers
    )
    assert response.status_code == 200, response.text
    return measure_id


async def onboard(hub: Hub, *, mode: str = "sync", **measure: Any) -> Onboarded:
    await ensure_municipality(hub)
    provider_id, service_id = await add_provider(hub, mode=mode)
    key = await municipality_key(hub)
    measure_id = await publish_measure(hub, key, [service_id], **measure)
    return Onboarded(provider_id, service_id, MUNICIPALITY, key, measure_id)
