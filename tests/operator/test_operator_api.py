"""Operators manage keys and providers; secrets are write-only and keys are shown once."""

from __future__ import annotations

from typing import Any

from tests.support.scenario import add_provider, ensure_municipality
from tests.support.stack import Hub


async def every_key(hub: Hub) -> list[dict[str, Any]]:
    """The operator's key list, page after page by its cursor."""
    keys: list[dict[str, Any]] = []
    params: dict[str, str] = {}
    while True:
        page = await hub.http.get(
            "/v1/operator/api-keys", params=params, headers=hub.operator_headers
        )
        assert page.status_code == 200, page.text
        keys += page.json()["items"]
        if page.json()["next_cursor"] is None:
            return keys
        params = {"cursor": page.json()["next_cursor"]}


async def test_keys_are_shown_once_stored_hashed_and_revocable(hub: Hub) -> None:
    await ensure_municipality(hub)
    created = await hub.http.post(
        "/v1/operator/api-keys",
        json={"role": "municipality", "scope": "131016", "label": "窓口"},
        headers=hub.operator_headers,
    )
    assert created.status_code == 201
    key, key_id = created.json()["key"], created.json()["key_id"]
    staff = {"authorization": f"Bearer {key}"}
    reviews = "/v1/municipalities/131016/reviews"
    assert (await hub.http.get(reviews, headers=staff)).status_code == 200

    listed = await every_key(hub)  # every page: the suite's other tests make keys too
    mine = next(k for k in listed if k["key_id"] == key_id)
    assert mine["role"] == "municipality" and mine["scope"] == "131016"
    assert mine["last_used_at"] is not None and mine["revoked_at"] is None
    assert key not in str(listed)

    revoked = await hub.http.post(
        f"/v1/operator/api-keys/{key_id}/revoke", headers=hub.operator_headers
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = await hub.http.get(reviews, headers=staff)
    assert refused.status_code == 401 and refused.json()["code"] == "unauthenticated"


async def test_scoped_keys_need_an_existing_scope(hub: Hub) -> None:
    for body in (
        {"role": "municipality"},
        {"role": "municipality", "scope": "999999"},
        {"role": "provider", "scope": "nobody"},
        {"role": "support", "scope": "x"},
    ):
        response = await hub.http.post(
            "/v1/operator/api-keys", json=body, headers=hub.operator_headers
        )
        assert response.status_code == 422 and response.json()["code"] == "invalid_scope", body


async def test_provider_secrets_are_write_only(hub: Hub) -> None:
    provider_id, _ = await add_provider(hub)
    shown = (
        await hub.http.get(f"/v1/operator/providers/{provider_id}", headers=hub.operator_headers)
    ).json()
    assert "signing_secret" not in shown["config"] and "webhook_secrets" not in shown["config"]
    assert shown["secrets_set"] == ["signing_secret", "webhook_secrets"]
    secret = hub.sim_configs[provider_id].signing_secret
    assert secret not in str(shown)

    changed = await hub.http.patch(
        f"/v1/operator/providers/{provider_id}",
        json={"config": {**shown["config"], "rate_limit_per_s": 7}},
        headers=hub.operator_headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["config"]["rate_limit_per_s"] == 7
    assert changed.json()["secrets_set"] == ["signing_secret", "webhook_secrets"]
    every = (await hub.http.get("/v1/operator/providers", headers=hub.operator_headers)).json()
    assert secret not in str(every)
    invalid = await hub.http.patch(
        f"/v1/operator/providers/{provider_id}",
        json={"config": {"ack_mode": "carrier-pigeon"}},
        headers=hub.operator_headers,
    )
    assert invalid.status_code == 422 and invalid.json()["code"] == "invalid_provider_config"
    missing = await hub.http.patch(
        "/v1/operator/providers/nobody", json={"name": "x"}, headers=hub.operator_headers
    )
    assert missing.status_code == 404
