"""Simulated payment providers speaking the Hub Provider Protocol over real HTTP (SPEC §5).

Each provider lives under `/p/{provider_id}`, verifies the hub's signatures with its own secret,
keeps its own ledger of credits (one per idempotency key), and offers unsigned `/admin/...`
endpoints so tests and demos can count credits and seed accounts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from adapters.signing import WebhookVerificationError, verify_signed

ACCOUNT_PATTERN = re.compile(r"^[A-Za-z0-9._-]{3,64}$")


@dataclass
class SimProviderConfig:
    provider_id: str
    signing_secret: str  # verifies the hub's requests
    webhook_secret: str = ""  # signs this provider's webhooks to the hub
    mode: str = "sync"  # sync | webhook | pull
    hub_webhook_url: str = ""
    latency_ms: int = 0


@dataclass
class Credit:
    receipt_id: str
    account_id: str
    points: int
    body_sha256: str
    status: str  # credited | rejected | pending
    provider_reference: str | None
    reason: str | None
    applied: int  # how many times the credit was applied to the account: must stay 1
    requests: int  # how many requests carried this idempotency key
    at: str


@dataclass
class SimProvider:
    config: SimProviderConfig
    accounts: dict[str, dict[str, str]] = field(default_factory=dict)
    credits: dict[str, Credit] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def account_status(self, account_id: str) -> str:
        seeded = self.accounts.get(account_id)
        if seeded is not None:
            return seeded["status"]
        if not ACCOUNT_PATTERN.match(account_id) or account_id.startswith("unknown"):
            return "unknown"
        if account_id.startswith("closed"):
            return "closed"
        return "active"

    def security_code_ok(self, account_id: str, code: str) -> bool:
        seeded = self.accounts.get(account_id)
        if seeded is not None:
            return secrets.compare_digest(seeded["security_code"], code)
        return code.isdigit() and len(code) in (3, 4) and code != "0000"


def load_configs(path: Path) -> list[SimProviderConfig]:
    data = json.loads(path.read_text())
    return [SimProviderConfig(**p) for p in data["providers"]]


def create_sim_app(configs: list[SimProviderConfig]) -> FastAPI:
    providers = {c.provider_id: SimProvider(c) for c in configs}
    app = FastAPI(title="Mynapoint provider simulator")
    app.state.providers = providers

    def _problem(status: int, body: dict[str, Any]) -> JSONResponse:
        return JSONResponse(body, status_code=status)

    async def _verified(
        provider_id: str, request: Request
    ) -> tuple[SimProvider, bytes] | JSONResponse:
        provider = providers.get(provider_id)
        if provider is None:
            return _problem(404, {"error": "unknown provider"})
        body = await request.body()
        try:
            verify_signed([provider.config.signing_secret], body, request.headers)
        except WebhookVerificationError as exc:
            return _problem(401, {"error": f"bad signature: {exc}"})
        if provider.config.latency_ms:
            await asyncio.sleep(provider.config.latency_ms / 1000)
        return provider, body

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/p/{provider_id}/accounts/verify")
    async def verify_account(provider_id: str, request: Request) -> Any:
        checked = await _verified(provider_id, request)
        if isinstance(checked, JSONResponse):
            return checked
        provider, body = checked
        data = json.loads(body or b"{}")
        account_id = str(data.get("account_id", ""))
        status = provider.account_status(account_id)
        valid = status == "active" and provider.security_code_ok(
            account_id, str(data.get("security_code", ""))
        )
        return {"valid": valid, "status": status}

    @app.post("/p/{provider_id}/credits")
    async def credit(provider_id: str, request: Request) -> Any:
        checked = await _verified(provider_id, request)
        if isinstance(checked, JSONResponse):
            return checked
        provider, body = checked
        key = request.headers.get("idempotency-key", "")
        data = json.loads(body or b"{}")
        if not key or key != data.get("receipt_id"):
            return _problem(400, {"error": "Idempotency-Key must equal receipt_id"})
        digest = hashlib.sha256(body).hexdigest()
        async with provider.lock:
            existing = provider.credits.get(key)
            if existing is not None:
                existing.requests += 1
                if existing.body_sha256 != digest:
                    return _problem(409, {"error": "idempotency key reused with another body"})
                return _credit_response(existing, provider.config.mode)
            account_id = str(data.get("account_id", ""))
            points = int(data.get("points", 0))
            status = provider.account_status(account_id)
            entry = Credit(
                receipt_id=key,
                account_id=account_id,
                points=points,
                body_sha256=digest,
                status="credited",
                provider_reference=None,
                reason=None,
                applied=0,
                requests=1,
                at=datetime.now(UTC).isoformat(),
            )
            if status != "active":
                entry.status, entry.reason = "rejected", f"account_{status}"
            else:
                entry.applied = 1
                entry.provider_reference = f"{provider_id}-{secrets.token_hex(6)}"
                provider.balances[account_id] = provider.balances.get(account_id, 0) + points
            provider.credits[key] = entry
            return _credit_response(entry, provider.config.mode)

    @app.get("/p/{provider_id}/credits/{receipt_id}")
    async def credit_status(provider_id: str, receipt_id: str, request: Request) -> Any:
        checked = await _verified(provider_id, request)
        if isinstance(checked, JSONResponse):
            return checked
        provider, _ = checked
        entry = provider.credits.get(receipt_id)
        if entry is None:
            return {"status": "not_found"}
        return {
            "status": entry.status,
            "provider_reference": entry.provider_reference,
            "reason": entry.reason,
        }

    @app.get("/p/{provider_id}/admin/ledger")
    async def ledger(provider_id: str) -> Any:
        provider = providers.get(provider_id)
        if provider is None:
            return _problem(404, {"error": "unknown provider"})
        return {
            "credits": [asdict(c) for c in provider.credits.values()],
            "balances": provider.balances,
        }

    @app.post("/p/{provider_id}/admin/accounts")
    async def seed_account(provider_id: str, request: Request) -> Any:
        provider = providers.get(provider_id)
        if provider is None:
            return _problem(404, {"error": "unknown provider"})
        data = await request.json()
        provider.accounts[str(data["account_id"])] = {
            "security_code": str(data.get("security_code", "1234")),
            "status": str(data.get("status", "active")),
        }
        return {"ok": True}

    return app


def _credit_response(entry: Credit, mode: str) -> JSONResponse:
    if entry.status == "rejected":
        return JSONResponse({"status": "rejected", "reason": entry.reason}, status_code=422)
    if mode == "sync":
        return JSONResponse(
            {"status": "credited", "provider_reference": entry.provider_reference}, status_code=200
        )
    return JSONResponse({"status": "accepted"}, status_code=202)
