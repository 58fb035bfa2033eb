"""A caller of every kind, for tests that walk the whole API: residents, staff of two
municipalities, two providers, support staff, operators, and no one."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.support.scenario import add_provider, ensure_municipality
from tests.support.stack import Hub

HOME = "131016"  # 千代田区
FOREIGN = "131024"  # 中央区: another tenant


@dataclass
class Callers:
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    provider_id: str = ""
    foreign_provider_id: str = ""
    payment_service_id: str = ""
    mykey_id: str = ""


async def api_key(hub: Hub, role: str, scope: str | None = None) -> dict[str, str]:
    response = await hub.http.post(
        "/v1/operator/api-keys",
        json={"role": role, "scope": scope} if scope else {"role": role},
        headers=hub.operator_headers,
    )
    assert response.status_code == 201, response.text
    return {"authorization": f"Bearer {response.json()['key']}"}


async def every_caller(hub: Hub) -> Callers:
    await ensure_municipality(hub, HOME, "千代田区")
    await ensure_municipality(hub, FOREIGN, "中央区")
    provider_id, service_id = await add_provider(hub)
    foreign_provider_id, _ = await add_provider(hub)
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    callers = Callers(
        provider_id=provider_id,
        foreign_provider_id=foreign_provider_id,
        payment_service_id=service_id,
        mykey_id=resident.mykey_id or "",
    )
    callers.headers = {
        "none": {},
        "resident": resident.auth,
        "municipality": await api_key(hub, "municipality", HOME),
        "foreign_municipality": await api_key(hub, "municipality", FOREIGN),
        "provider": await api_key(hub, "provider", provider_id),
        "foreign_provider": await api_key(hub, "provider", foreign_provider_id),
        "support": await api_key(hub, "support"),
        "operator": hub.operator_headers,
    }
    return callers
