"""An identity hub: the API on a real socket with an injectable clock, two test root generations
that share one name, and the JPKI test services (CRLs, old/new linking) it is configured with."""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from adapters.jpki.crl import CrlCache
from api.app import create_app
from hub.settings import Environment, Settings
from services.context import HubContext
from simulators.jpki import TestCA, VirtualCard
from simulators.jpki_service import create_jpki_service
from storage import identity
from storage.models.identity import CertificateBinding
from tests.support.databases import fresh_database
from tests.support.servers import serve
from tests.support.stack import OPERATOR_KEY

OPERATOR = {"authorization": f"Bearer {OPERATOR_KEY}"}


class Clock:
    """The hub's clock in these tests: it moves only when a test moves it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = (now or datetime.now(UTC)).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Counts:
    mykeys: int
    sessions: int
    bindings: int


@dataclass
class IdentityHub:
    http: httpx.AsyncClient
    app: FastAPI
    jpki: FastAPI
    clock: Clock
    cas: list[TestCA]
    settings: Settings
    operator: dict[str, str] = field(default_factory=lambda: dict(OPERATOR))

    @property
    def ctx(self) -> HubContext:
        context: HubContext = self.app.state.hub
        return context

    @property
    def crls(self) -> CrlCache:
        assert self.ctx.crls is not None
        return self.ctx.crls

    @property
    def ca(self) -> TestCA:
        return self.cas[0]

    def card(
        self,
        *,
        ca: TestCA | None = None,
        age: timedelta = timedelta(hours=2),
        validity: timedelta = timedelta(days=5 * 365),
        pin: str = "1234",
        **issue: Any,
    ) -> VirtualCard:
        issuer = ca or self.ca
        return issuer.issue_card(pin, issued_at=self.clock() - age, validity=validity, **issue)

    async def challenge(self) -> tuple[str, bytes]:
        response = await self.http.post("/v1/auth/challenges")
        assert response.status_code == 201, response.text
        body = response.json()
        return body["challenge_id"], base64.b64decode(body["nonce"])

    async def signed(self, card: VirtualCard, *, pin: str | None = None) -> dict[str, str]:
        challenge_id, nonce = await self.challenge()
        return proof_body(card, challenge_id, card.sign(nonce, pin or card.pin))

    async def login(self, card: VirtualCard) -> httpx.Response:
        return await self.http.post("/v1/auth/sessions", json=await self.signed(card))

    async def advance(self, **delta: float) -> None:
        """Move the hub's clock forward; the CRLs are fetched again at the new time."""
        self.clock.advance(**delta)
        await self.refresh_crls()

    async def refresh_crls(self) -> None:
        report = await self.crls.refresh()
        assert not report.failed, report.failed

    async def counts(self) -> Counts:
        async with self.ctx.sessions() as session:
            bindings = (
                await session.execute(select(func.count()).select_from(CertificateBinding))
            ).scalar_one()
            return Counts(
                mykeys=await identity.count_mykeys(session),
                sessions=await identity.count_sessions(session),
                bindings=int(bindings),
            )

    async def operator_action(self, mykey_id: str, action: str, reason: str) -> httpx.Response:
        return await self.http.post(
            f"/v1/operator/mykeys/{mykey_id}/{action}",
            json={"reason": reason},
            headers=self.operator,
        )


def proof_body(card: VirtualCard, challenge_id: str, signature: bytes) -> dict[str, str]:
    return {
        "challenge_id": challenge_id,
        "certificate": base64.b64encode(card.certificate_der).decode(),
        "signature": base64.b64encode(signature).decode(),
    }


@contextlib.asynccontextmanager
async def identity_hub(
    tmp_dir: Path,
    temporal: WorkflowEnvironment,
    *,
    cas: list[TestCA],
    clock: Clock,
    published: Callable[[], Sequence[TestCA]] | None = None,
    anchors_pem: str = "",
    **overrides: Any,
) -> AsyncIterator[IdentityHub]:
    """`published`: what the JPKI test services serve, when not `cas` as they are in memory;
    `anchors_pem`: roots trusted besides those of `cas` (their CRLs come from `overrides`)."""
    anchors = tmp_dir / f"roots-{secrets.token_hex(3)}.pem"
    anchors.write_text("".join(ca.certificate_pem for ca in cas) + anchors_pem)
    jpki = create_jpki_service(
        published or (lambda: cas), clock=clock, crl_validity=timedelta(hours=1)
    )
    with fresh_database(tmp_dir) as database_url:
        async with serve(jpki) as jpki_url:
            configured: dict[str, Any] = {
                "env": Environment.TEST,
                "database_url": database_url,
                "temporal_address": temporal.client.service_client.config.target_host,
                "task_queue": f"hub-{secrets.token_hex(4)}",
                "jpki_trust_anchors": [anchors],
                "jpki_crl_sources": [f"{jpki_url}/crl/{n}" for n in range(len(cas))],
                "jpki_link_service_url": jpki_url,
                "jpki_crl_grace_s": 600,
                "operator_bootstrap_key": SecretStr(OPERATOR_KEY),
            }
            settings = Settings(**{**configured, **overrides})
            app = create_app(settings, clock=clock)
            async with serve(app) as api_url, httpx.AsyncClient(base_url=api_url) as http:
                yield IdentityHub(http, app, jpki, clock, cas, settings)


@pytest.fixture(scope="module")
async def ihub(session_tmp: Path, temporal_env: WorkflowEnvironment) -> AsyncIterator[IdentityHub]:
    """Shared by a module's tests, which set the clock themselves and count before and after."""
    clock = Clock()
    async with identity_hub(
        session_tmp, temporal_env, cas=[TestCA.create(), TestCA.create()], clock=clock
    ) as hub:
        yield hub
