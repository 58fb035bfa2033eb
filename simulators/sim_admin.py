"""The simulator's unsigned admin endpoints, for tests, demos and chaos runs: ledgers, accounts,
fault knobs at runtime, and providers added while it runs."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from simulators.providers import (
    FAULT_KNOBS,
    MODES,
    SimProvider,
    SimProviderConfig,
    queue_webhook,
)

_KNOB_TYPES = {f.name: f.type for f in fields(SimProviderConfig) if f.name in FAULT_KNOBS}


def _missing() -> JSONResponse:
    return JSONResponse({"error": "unknown provider"}, status_code=404)


def _knob_value(name: str, value: Any) -> Any:
    """The knob's value in its own type; raises ValueError for anything else."""
    kind = str(_KNOB_TYPES[name])
    if name == "protocol_faults":
        from simulators.faults import PROTOCOL_FAULTS

        if not isinstance(value, list) or not set(value) <= PROTOCOL_FAULTS.keys():
            raise ValueError(f"protocol_faults is a list of {sorted(PROTOCOL_FAULTS)}")
        return [str(v) for v in value]
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} is true or false")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"{name} is a string")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} is a non-negative number")
    if name == "auth_error_status" and value not in (0, 401, 403):
        raise ValueError("auth_error_status is 0, 401 or 403")
    if name.endswith("_rate") and value > 1:
        raise ValueError(f"{name} is between 0 and 1")
    return float(value) if kind == "float" else int(value)


def admin_routes(providers: dict[str, SimProvider]) -> APIRouter:
    router = APIRouter()

    @router.post("/admin/providers", status_code=201)
    async def add_provider(request: Request) -> Any:
        data = await request.json()
        try:
            config = SimProviderConfig(**data)
        except TypeError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        if config.mode not in MODES:
            return JSONResponse({"error": f"mode is one of {sorted(MODES)}"}, status_code=422)
        if config.provider_id in providers:
            return JSONResponse({"error": "provider exists"}, status_code=409)
        providers[config.provider_id] = SimProvider(config)
        return {"provider_id": config.provider_id}

    @router.get("/p/{provider_id}/admin/ledger")
    async def ledger(provider_id: str) -> Any:
        provider = providers.get(provider_id)
        if provider is None:
            return _missing()
        return {
            "credits": [asdict(c) for c in provider.credits.values()],
            "balances": provider.balances,
            "stats": {**provider.stats, "calls": provider.calls},
        }

    @router.post("/p/{provider_id}/admin/accounts")
    async def seed_account(provider_id: str, request: Request) -> Any:
        provider = providers.get(provider_id)
        if provider is None:
            return _missing()
        data = await request.json()
        provider.accounts[str(data["account_id"])] = {
            "security_code": str(data.get("security_code", "1234")),
            "status": str(data.get("status", "active")),
        }
        return {"ok": True}

    @router.post("/p/{provider_id}/admin/accounts/{account_id}/close")
    async def close_account(provider_id: str, account_id: str, request: Request) -> Any:
        """The account closes; a webhook provider tells the hub with `account.closed`."""
        provider = providers.get(provider_id)
        if provider is None:
            return _missing()
        data = await request.json() if await request.body() else {}
        seeded = provider.accounts.get(account_id, {"security_code": "1234"})
        provider.accounts[account_id] = {**seeded, "status": "closed"}
        service = str(data.get("payment_service_id") or f"{provider_id}-pay")
        queue_webhook(
            provider, "account.closed", {"payment_service_id": service, "account_id": account_id}
        )
        return {"ok": True}

    @router.post("/p/{provider_id}/admin/credits/{receipt_id}/resend")
    async def resend_answer(provider_id: str, receipt_id: str) -> Any:
        """The provider's answer for one credit sent again (a dashboard's "resend" button, or
        a provider that answers once its own incident is over): a late webhook."""
        provider = providers.get(provider_id)
        if provider is None:
            return _missing()
        entry = provider.credits.get(receipt_id)
        if entry is None:
            return JSONResponse({"error": "no such credit"}, status_code=404)
        if entry.status == "credited":
            data = {"receipt_id": receipt_id, "provider_reference": entry.provider_reference}
            queue_webhook(provider, "credit.completed", data)
        else:
            queue_webhook(
                provider, "credit.rejected", {"receipt_id": receipt_id, "reason": entry.reason}
            )
        return {"queued": entry.status}

    @router.get("/p/{provider_id}/admin/faults")
    async def get_faults(provider_id: str) -> Any:
        provider = providers.get(provider_id)
        if provider is None:
            return _missing()
        return {name: getattr(provider.config, name) for name in sorted(FAULT_KNOBS)}

    @router.patch("/p/{provider_id}/admin/faults")
    async def set_faults(provider_id: str, request: Request) -> Any:
        provider = providers.get(provider_id)
        if provider is None:
            return _missing()
        data = await request.json()
        if not isinstance(data, dict) or not set(data) <= FAULT_KNOBS:
            return JSONResponse({"error": f"knobs are {sorted(FAULT_KNOBS)}"}, status_code=422)
        try:
            values = {name: _knob_value(name, value) for name, value in data.items()}
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        for name, value in values.items():
            setattr(provider.config, name, value)
        return {name: getattr(provider.config, name) for name in sorted(FAULT_KNOBS)}

    @router.post("/p/{provider_id}/admin/tokens/revoke")
    async def revoke_tokens(provider_id: str) -> Any:
        """PayLite: every token issued so far stops working now."""
        provider = providers.get(provider_id)
        if provider is None:
            return _missing()
        revoked = len(provider.tokens)
        provider.tokens.clear()
        return {"revoked": revoked}

    return router
