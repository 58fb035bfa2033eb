"""Every route answers malformed JSON, unknown IDs and missing credentials with problem details
and a stable `code`, never a 500. Routes are read from the OpenAPI schema, so a new route is
covered the day it is added."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.providers.support import provider_key
from tests.support.scenario import add_provider, ensure_municipality, municipality_key
from tests.support.stack import Hub

PUBLIC = {"/healthz", "/readyz", "/v1/auth/challenges", "/v1/auth/sessions"}
PROBLEM_KEYS = {"type", "title", "status", "code", "detail"}


async def routes(hub: Hub) -> list[tuple[str, str, bool]]:
    schema = (await hub.http.get("/openapi.json")).json()
    found = []
    for path, methods in schema["paths"].items():
        for method, spec in methods.items():
            # A raw body (a signed webhook, a CSV file) is the route's own to check, not JSON
            # parsed against a schema first.
            content = spec.get("requestBody", {}).get("content", {})
            json_body = "application/json" in content and not spec.get("x-raw-body")
            found.append((method.upper(), path, json_body))
    return found


async def credentials(hub: Hub) -> dict[str, dict[str, str]]:
    await ensure_municipality(hub)
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    return {
        "/v1/operator": hub.operator_headers,
        "/v1/municipalities": {"authorization": f"Bearer {await municipality_key(hub)}"},
        "/v1/me": resident.auth,
        "/v1/measures": resident.auth,
        "/v1/providers": {"authorization": f"Bearer {await a_provider_key(hub)}"},
        "/v1/support": {"authorization": f"Bearer {await support_key(hub)}"},
    }


async def support_key(hub: Hub) -> str:
    response = await hub.http.post(
        "/v1/operator/api-keys", json={"role": "support"}, headers=hub.operator_headers
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


async def a_provider_key(hub: Hub) -> str:
    provider_id, _ = await add_provider(hub)
    return await provider_key(hub, provider_id)


def headers_for(path: str, creds: dict[str, dict[str, str]]) -> dict[str, str]:
    for prefix, headers in creds.items():
        if path.startswith(prefix):
            return headers
    raise AssertionError(f"no credentials known for {path}: add them to this test")


def concrete(path: str) -> str:
    return re.sub(r"\{code\}", "131016", re.sub(r"\{(?!code)[^}]+\}", "does-not-exist", path))


def assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, (response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["code"] == code, body


async def test_missing_credentials_are_401_on_every_protected_route(hub: Hub) -> None:
    for method, path, _ in await routes(hub):
        if path in PUBLIC or not path.startswith("/v1"):
            continue
        response = await hub.http.request(method, concrete(path))
        assert_problem(response, 401, "unauthenticated")


async def test_malformed_json_is_400_everywhere(hub: Hub) -> None:
    creds = await credentials(hub)
    for method, path, has_body in await routes(hub):
        if not has_body:
            continue
        headers = {} if path in PUBLIC else headers_for(path, creds)
        response = await hub.http.request(
            method,
            concrete(path),
            content=b'{"oops": ',
            headers={**headers, "content-type": "application/json"},
        )
        assert_problem(response, 400, "malformed_json")


async def test_unknown_ids_are_404_everywhere(hub: Hub) -> None:
    creds = await credentials(hub)
    checked = 0
    for method, path, has_body in await routes(hub):
        if "{" not in path.replace("{code}", ""):
            continue
        response = await hub.http.request(
            method,
            concrete(path),
            headers=headers_for(path, creds),
            json={} if has_body else None,
        )
        if response.status_code == 422:  # the body is checked before the ID is looked up
            assert response.json()["code"] == "validation_error"
            continue
        assert_problem(response, 404, "not_found")
        checked += 1
    assert checked >= 4


async def test_another_municipalitys_path_is_404(hub: Hub) -> None:
    creds = await credentials(hub)
    response = await hub.http.post(
        "/v1/municipalities/011002/measures", json={}, headers=creds["/v1/municipalities"]
    )
    assert response.status_code in (404, 422)
    response = await hub.http.get(
        "/v1/municipalities/011002/measures/x", headers=creds["/v1/municipalities"]
    )
    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/nowhere"), ("DELETE", "/v1/auth/challenges")]
)
async def test_unknown_routes_and_methods_are_problems(hub: Hub, method: str, path: str) -> None:
    response = await hub.http.request(method, path)
    assert response.status_code in (404, 405)
    assert response.json()["code"] in ("not_found", "method_not_allowed")


async def test_wrong_role_is_403_with_a_code(hub: Hub) -> None:
    creds = await credentials(hub)
    response = await hub.http.post(
        "/v1/operator/municipalities",
        json={"code": "011002", "name": "札幌市"},
        headers=creds["/v1/municipalities"],
    )
    assert_problem(response, 403, "forbidden")
