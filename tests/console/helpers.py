"""A console user over plain HTTP: sign in with a key, read the CSRF token off a page, post forms.

Municipality tests use their own municipalities (not the shared 131016), so review queues and
measure lists on their pages hold only what the test made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.scenario import add_provider, ensure_municipality
from tests.support.stack import Hub

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# Municipalities of these tests alone (valid check digits; no other test uses them).
OSAKA, YOKOHAMA, NAGOYA, KYOTO, KITAKYUSHU = "271004", "141003", "231002", "262013", "401005"


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def new_key(hub: Hub, role: str, scope: str | None = None) -> str:
    body: dict[str, Any] = {"role": role}
    if scope is not None:
        body["scope"] = scope
    response = await hub.http.post("/v1/operator/api-keys", json=body, headers=hub.operator_headers)
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


@dataclass
class ConsoleClient:
    http: httpx.AsyncClient

    async def page(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params or None)

    async def token(self, path: str = "/console/login") -> str:
        response = await self.http.get(path)
        assert response.status_code == 200, response.text
        return csrf_of(response.text)

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, token_from: str | None = None
    ) -> httpx.Response:
        token = await self.token(token_from or "/console/login")
        return await self.http.post(path, data={**(data or {}), "csrf_token": token})

    async def sign_in(self, key: str) -> httpx.Response:
        return await self.post("/console/login", {"api_key": key})


def console_client(hub: Hub) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=hub.api_url, timeout=30, follow_redirects=False)


async def municipality_with_service(hub: Hub, code: str, name: str) -> tuple[str, str, str]:
    """(staff key, provider ID, payment service ID) of a municipality of the test's own."""
    await ensure_municipality(hub, code, name)
    provider_id, service_id = await add_provider(hub)
    return await new_key(hub, "municipality", code), provider_id, service_id
