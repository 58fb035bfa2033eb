"""Simulated payment providers over real HTTP and files, for development, demos and tests.

Every provider lives in one process (`mph sim`) and keeps its own ledger of credits, one per
idempotency key, with `applied` counting how often a credit reached the account (it must stay 1).
Each speaks one style, its `mode`:

- `sync`, `webhook`, `pull`: the Hub Provider Protocol under `/p/{provider_id}` (SPEC §5);
  webhook providers send signed acknowledgements, pull providers poll the hub's provider API;
- `batch`: reads request files from the hub's outbox directory, writes result files;
- `paylite`: PayLite's own API under `/paylite/{provider_id}` (`simulators/paylite.py`).

Faults are knobs on each provider's configuration, settable at start (the JSON file) or at
runtime (`PATCH /p/{provider_id}/admin/faults`): latency, error rate, 429 bursts with
`Retry-After`, time-outs after applying a credit, closed accounts, 401/403 for every call, a
status endpoint that fails or answers words of its own, pull providers that stop polling, and
delayed, duplicated, reordered, dropped and contradicting acknowledgements.
`GET /p/{provider_id}/admin/ledger` shows what was credited.

`protocol_faults` break one rule of the Hub Provider Protocol each, as a provider's own
implementation might (`simulators/faults.py` lists them): `mph provider-check` must name the
broken rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

ACCOUNT_PATTERN = re.compile(r"^[A-Za-z0-9._-]{3,64}$")
MODES = frozenset({"sync", "webhook", "pull", "batch", "paylite"})


@dataclass
class SimProviderConfig:
    provider_id: str
    signing_secret: str  # verifies the hub's requests
    next_signing_secret: str = ""  # also accepted while the hub's secret is rotated
    webhook_secret: str = ""  # signs this provider's webhooks to the hub
    mode: str = "sync"  # sync | webhook | pull | batch | paylite
    hub_webhook_url: str = ""
    latency_ms: int = 0
    # ----- faults, all settable at runtime ----------------------------------------------
    error_rate: float = 0.0  # share of calls answered 503 before anything happens
    burst_every: int = 0  # every Nth call starts a burst of 429s (0: never)
    burst_length: int = 3
    retry_after_s: int = 1  # sent with each 429
    timeout_after_apply_rate: float = 0.0  # share of credits applied, then answered too late
    timeout_after_apply_ms: int = 15000
    ack_delay_ms: int = 0  # webhook: each acknowledgement waits up to this long
    ack_duplicate_rate: float = 0.0  # webhook and pull: some acknowledgements are sent twice
    ack_reorder: bool = False  # webhook: due acknowledgements leave in random order
    ack_drop_rate: float = 0.0  # webhook: accepted, then never a word (only the status knows)
    ack_contradict_rate: float = 0.0  # webhook: the answer, then its opposite for the same key
    status_error_rate: float = 0.0  # share of status checks answered 500 (the rest unharmed)
    status_word: str = ""  # status checks answer this word of the provider's own ("processing")
    auth_error_status: int = 0  # 401 or 403: every call refused (a rotated or revoked secret)
    pull_paused: bool = False  # pull: the provider does not poll the hub for now
    # ----- how this provider reaches the hub ---------------------------------------------
    hub_api_url: str = ""  # pull: the hub's base URL
    hub_api_key: str = ""  # pull: a provider API key scoped to this provider
    poll_interval_ms: int = 200  # pull and batch
    outbox_dir: str = ""  # batch: where the hub writes request files
    inbox_dir: str = ""  # batch: where result files go
    client_id: str = ""  # paylite OAuth2 client
    client_secret: str = ""
    token_ttl_s: int = 300
    seed: int | None = None
    protocol_faults: list[str] = field(default_factory=list)  # see simulators/faults.py


FAULT_KNOBS = frozenset(
    {
        "latency_ms",
        "error_rate",
        "burst_every",
        "burst_length",
        "retry_after_s",
        "timeout_after_apply_rate",
        "timeout_after_apply_ms",
        "ack_delay_ms",
        "ack_duplicate_rate",
        "ack_reorder",
        "ack_drop_rate",
        "ack_contradict_rate",
        "status_error_rate",
        "status_word",
        "auth_error_status",
        "pull_paused",
        "hub_api_url",
        "hub_api_key",
        "poll_interval_ms",
        "token_ttl_s",
        "hub_webhook_url",
        "protocol_faults",
    }
)


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
class Delivery:
    """A webhook waiting to go to the hub."""

    message_id: str
    body: bytes
    due: float  # loop time
    attempts: int = 0


@dataclass
class SimProvider:
    config: SimProviderConfig
    accounts: dict[str, dict[str, str]] = field(default_factory=dict)
    credits: dict[str, Credit] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    outgoing: list[Delivery] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # paylite: token → expiry (loop time)
    stats: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    burst_left: int = 0
    rng: random.Random = field(default_factory=random.Random)
    statement_knobs: dict[str, Any] = field(default_factory=dict)  # simulators/statements.py

    def __post_init__(self) -> None:
        if self.config.seed is not None:
            self.rng.seed(self.config.seed)

    def broken(self, fault: str) -> bool:
        """Whether this provider breaks the protocol rule `fault` (simulators/faults.py)."""
        return fault in self.config.protocol_faults

    def count(self, what: str, n: int = 1) -> None:
        self.stats[what] = self.stats.get(what, 0) + n

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

    def apply(self, key: str, account_id: str, points: int, digest: str) -> Credit | None:
        """Credit once per key (call under `lock`); None when the key came with another body."""
        existing = self.credits.get(key)
        if existing is not None:
            existing.requests += 1
            if self.broken("idempotency_reapplies") and existing.status == "credited":
                existing.applied += 1  # the fault: a retry credits the account again
                existing.provider_reference = f"{self.config.provider_id}-{secrets.token_hex(6)}"
                self.balances[account_id] = self.balances.get(account_id, 0) + points
                return existing
            if existing.body_sha256 == digest or self.broken("idempotency_ignores_body"):
                return existing
            return None
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
        status = self.account_status(account_id)
        if status != "active":
            entry.status, entry.reason = "rejected", f"account_{status}"
        else:
            entry.applied = 1
            entry.provider_reference = f"{self.config.provider_id}-{secrets.token_hex(6)}"
            self.balances[account_id] = self.balances.get(account_id, 0) + points
        self.credits[key] = entry
        return entry


def load_configs(path: Path) -> list[SimProviderConfig]:
    data = json.loads(path.read_text())
    return [SimProviderConfig(**p) for p in data["providers"]]


def create_sim_app(configs: list[SimProviderConfig]) -> FastAPI:
    """The simulator: every provider's HTTP API, its admin endpoints, and the background loops
    that send webhooks, poll the hub (pull) and answer request files (batch)."""
    from simulators.acknowledger import run_acknowledger
    from simulators.hub_protocol import hub_protocol_routes
    from simulators.paylite import paylite_routes
    from simulators.sim_admin import admin_routes
    from simulators.statements import statement_routes

    providers = {c.provider_id: SimProvider(c) for c in configs}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        loop = asyncio.create_task(run_acknowledger(providers, stop))
        try:
            yield
        finally:
            stop.set()
            await loop

    app = FastAPI(title="Mynapoint provider simulator", lifespan=lifespan)
    app.state.providers = providers

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(hub_protocol_routes(providers))
    app.include_router(paylite_routes(providers))
    app.include_router(admin_routes(providers))
    app.include_router(statement_routes(providers))
    return app


def webhook_body(event_type: str, data: dict[str, Any]) -> bytes:
    return json.dumps(
        {"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data},
        separators=(",", ":"),
    ).encode()


CONTRADICTIONS = {"credit.completed": "credit.rejected", "credit.rejected": "credit.completed"}


def queue_webhook(provider: SimProvider, event_type: str, data: dict[str, Any]) -> None:
    """Queue a webhook; the knobs may delay it and send it twice (a replay or a re-send)."""
    config = provider.config
    if not config.hub_webhook_url or not config.webhook_secret:
        return
    now = asyncio.get_running_loop().time()
    if event_type == "credit.completed" and provider.broken("webhook_unknown_event"):
        event_type = "credit.succeeded"  # the fault: a name of the provider's own
    dropped = config.ack_drop_rate and provider.rng.random() < config.ack_drop_rate
    if event_type.startswith("credit.") and dropped:
        provider.count("webhooks_dropped")  # the fault: accepted, then silence
        return
    body = webhook_body(event_type, data)
    delay = provider.rng.uniform(0, config.ack_delay_ms / 1000) if config.ack_delay_ms else 0.0
    message_id = "msg_" + secrets.token_hex(12)
    provider.outgoing.append(Delivery(message_id, body, now + delay))
    opposite = CONTRADICTIONS.get(event_type)
    contradicted = config.ack_contradict_rate and provider.rng.random() < config.ack_contradict_rate
    if opposite and contradicted:
        # the fault: a second, signed answer for the same credit that says the opposite
        contradiction = {**data, "reason": "contradiction", "provider_reference": "contra"}
        later = now + delay + provider.rng.uniform(0, max(config.ack_delay_ms, 200) / 1000)
        provider.outgoing.append(
            Delivery("msg_" + secrets.token_hex(12), webhook_body(opposite, contradiction), later)
        )
        provider.count("webhooks_contradicted")
    if config.ack_duplicate_rate and provider.rng.random() < config.ack_duplicate_rate:
        again = message_id if provider.rng.random() < 0.5 else "msg_" + secrets.token_hex(12)
        later = now + provider.rng.uniform(0, max(config.ack_delay_ms, 200) / 1000)
        provider.outgoing.append(Delivery(again, body, later))
        provider.count("webhooks_duplicated")


def hub_side_config(sim: SimProviderConfig, sim_url: str) -> tuple[str, dict[str, Any]]:
    """The adapter and the connection part of the hub's provider configuration that talks to
    this simulated provider (the operator adds the policy: deadline, rate limit, retries)."""
    if sim.mode == "batch":
        return "batch_file", {
            "base_url": f"{sim_url}/p/{sim.provider_id}",
            "signing_secret": sim.signing_secret,
            "outbox_dir": sim.outbox_dir,
            "inbox_dir": sim.inbox_dir,
            "cutoff_records": 100,
            "cutoff_s": 10,
            "poll_s": 2,
        }
    if sim.mode == "paylite":
        return "paylite", {
            "base_url": f"{sim_url}/paylite/{sim.provider_id}",
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
        }
    return "hub_rest", {
        "base_url": f"{sim_url}/p/{sim.provider_id}",
        "signing_secret": sim.signing_secret,
        "webhook_secrets": [sim.webhook_secret],
        "ack_mode": sim.mode,
    }
