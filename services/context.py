"""Everything a request or a command needs, built once by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from adapters.jpki.crl import CrlCache
from adapters.jpki.links import LinkService
from adapters.jpki.verifier import TrustStore
from adapters.providers.registry import AdapterRegistry
from hub.settings import Settings
from storage.audit import utcnow
from storage.database import SessionFactory


class LoginLimits(Protocol):
    """Counts one use each; raises `RuleViolation("rate_limited", status=429)` when over."""

    async def challenge_use(self, challenge_id: str) -> None: ...

    async def card_use(self, serial_hex: str) -> None: ...

    async def login_of(self, mykey_id: str) -> None: ...


@dataclass
class HubContext:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    trust: TrustStore
    registry: AdapterRegistry
    temporal: Client | None = None
    clock: Callable[[], datetime] = field(default=utcnow)
    crls: CrlCache | None = None  # revocation lists of the trust anchors (None: not checked)
    links: LinkService | None = None  # JPKI old/new linking service (None: not configured)
    login_limits: LoginLimits | None = None  # per challenge, card and MyKey ID (the API's)

    def client(self) -> Client:
        if self.temporal is None:
            from domain.errors import RuleViolation

            raise RuleViolation(
                "temporal_unavailable", "the workflow service is not reachable yet", status=503
            )
        return self.temporal

    @property
    def id_secret(self) -> bytes:
        return self.settings.token_secret.get_secret_value().encode()
