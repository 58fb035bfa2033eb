"""Fixtures of the municipal tests: a municipality with its key and a payment service, onboarded
through the operator API of the shared running hub."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from storage.identity import open_session
from tests.support.direct import new_resident
from tests.support.scenario import (
    MUNICIPALITY,
    add_provider,
    ensure_municipality,
    measure_body,
    municipality_key,
)
from tests.support.stack import Hub


@dataclass
class Staff:
    hub: Hub
    key: str
    provider_id: str
    payment_service_id: str
    code: str = MUNICIPALITY

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}"}

    def path(self, tail: str = "") -> str:
        return f"/v1/municipalities/{self.code}{tail}"

    async def get(self, tail: str, **params: Any) -> httpx.Response:
        return await self.hub.http.get(self.path(tail), params=params or None, headers=self.headers)

    async def post(self, tail: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.hub.http.post(self.path(tail), json=body, headers=self.headers)

    async def patch(self, tail: str, body: dict[str, Any]) -> httpx.Response:
        return await self.hub.http.patch(self.path(tail), json=body, headers=self.headers)

    async def put_csv(self, measure_id: str, data: bytes) -> httpx.Response:
        return await self.hub.http.put(
            self.path(f"/measures/{measure_id}/targets"),
            content=data,
            headers={**self.headers, "content-type": "text/csv"},
        )

    def body(self, **overrides: Any) -> dict[str, Any]:
        return measure_body([self.payment_service_id], **overrides)

    async def draft(self, **overrides: Any) -> str:
        response = await self.post("/measures", self.body(**overrides))
        assert response.status_code == 201, response.text
        measure_id: str = response.json()["measure_id"]
        return measure_id

    async def published(self, **overrides: Any) -> str:
        measure_id = await self.draft(**overrides)
        response = await self.post(f"/measures/{measure_id}/publish")
        assert response.status_code == 200, response.text
        return measure_id


@pytest.fixture
async def staff(hub: Hub) -> Staff:
    await ensure_municipality(hub)
    provider_id, service_id = await add_provider(hub)
    return Staff(hub, await municipality_key(hub), provider_id, service_id)


async def resident_session(hub: Hub) -> tuple[str, dict[str, str]]:
    """A resident with a session, made in the database: many residents, no card per resident."""
    mykey_id = await new_resident(hub.ctx)
    async with hub.ctx.sessions.begin() as session:
        token, _ = await open_session(
            session,
            mykey_id=mykey_id,
            serial_hex=f"test-{mykey_id}",
            now=datetime.now(UTC),
            ttl=timedelta(hours=1),
        )
    return mykey_id, {"authorization": f"Bearer {token}"}


def csv_of(mykey_ids: list[str]) -> bytes:
    return ("mykey_id\n" + "".join(f"{m}\n" for m in mykey_ids)).encode()
