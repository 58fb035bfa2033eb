"""The kit's stand-in for the hub's provider API, served while it runs.

Webhooks: the provider sends them here as it would to the hub (`POST …/webhooks`, any path),
and each one is judged as the hub judges it (SPEC §5): Standard Webhooks signature with one of
the provider's webhook secrets, timestamp within five minutes, a known event type with the data
that type carries. Pull: `GET /v1/providers/{id}/credit-requests` lists the kit's pending
credit requests and `POST …/{receipt_id}/ack` records the provider's answers, as the hub's
provider API does (`{items, next_cursor}`; the same answer again is a `duplicate`, another is
409 `ack_conflict`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from adapters.providers.webhooks import EVENT_TYPES
from adapters.signing import WebhookVerificationError, verify_signed

REQUIRED_DATA = {
    "credit.completed": ("receipt_id",),
    "credit.rejected": ("receipt_id",),
    "account.closed": ("payment_service_id", "account_id"),
}


@dataclass(frozen=True)
class Received:
    message_id: str
    event_type: str | None
    data: dict[str, Any]
    signature_problem: str | None  # None: signed correctly, within five minutes
    shape_problem: str | None  # None: a known event type with the data it carries


@dataclass
class WebhookReceiver:
    secrets: Sequence[str]
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    pending: list[dict[str, Any]] = field(default_factory=list)  # pull: requests to list
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)  # pull: first answer each
    ack_problems: list[str] = field(default_factory=list)

    def judge(self, body: bytes, headers: dict[str, str]) -> Received:
        message_id = headers.get("webhook-id", "")
        signature_problem = None
        try:
            verify_signed(list(self.secrets), body, headers)
        except (WebhookVerificationError, ValueError) as exc:
            signature_problem = f"{type(exc).__name__}: {exc}"
        try:
            payload = json.loads(body)
        except ValueError:
            return Received(message_id, None, {}, signature_problem, "the body is not JSON")
        if not isinstance(payload, dict):
            return Received(message_id, None, {}, signature_problem, "the body is not an object")
        event_type, data = payload.get("type"), payload.get("data")
        data = data if isinstance(data, dict) else {}
        shape = None
        if event_type not in EVENT_TYPES:
            shape = f"unknown event type {event_type!r} (known: {sorted(EVENT_TYPES)})"
        else:
            missing = [k for k in REQUIRED_DATA[event_type] if not isinstance(data.get(k), str)]
            if missing:
                shape = f"{event_type} without data.{', data.'.join(missing)}"
        return Received(message_id, event_type, data, signature_problem, shape)

    def app(self) -> FastAPI:
        app = FastAPI(title="provider-check webhook receiver")

        @app.get("/v1/providers/{provider_id}/credit-requests")
        async def credit_requests(provider_id: str) -> dict[str, Any]:
            waiting = [r for r in self.pending if r["receipt_id"] not in self.acks]
            return {"items": waiting, "next_cursor": None}

        @app.post("/v1/providers/{provider_id}/credit-requests/{receipt_id}/ack")
        async def acknowledge(provider_id: str, receipt_id: str, request: Request) -> JSONResponse:
            try:
                answer = json.loads(await request.body())
            except ValueError:
                answer = None
            problem = _ack_problem(answer)
            if receipt_id not in {r["receipt_id"] for r in self.pending}:
                problem = f"an acknowledgement for {receipt_id}, which was never listed"
            if problem:
                self.ack_problems.append(problem)
                return JSONResponse({"code": "validation_error", "detail": problem}, 422)
            first = self.acks.setdefault(receipt_id, answer)
            self.arrived.set()
            if first != answer:
                self.ack_problems.append(f"{receipt_id} acknowledged twice, differently")
                return JSONResponse({"code": "ack_conflict"}, status_code=409)
            result = "recorded" if first is answer else "duplicate"
            return JSONResponse(
                {"receipt_id": receipt_id, "status": answer["status"], "result": result}
            )

        @app.post("/{path:path}")
        async def receive(path: str, request: Request) -> JSONResponse:
            body = await request.body()
            headers = {k.lower(): v for k, v in request.headers.items()}
            verdict = self.judge(body, headers)
            self.received.append(verdict)
            self.arrived.set()
            if verdict.signature_problem:
                return JSONResponse({"code": "invalid_webhook_signature"}, status_code=401)
            return JSONResponse({"outcome": "recorded"})

        return app

    async def wait_for_acks(self, receipt_ids: set[str], timeout_s: float) -> None:
        """Until every one of `receipt_ids` is acknowledged, or `timeout_s` passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not receipt_ids <= self.acks.keys() and loop.time() < deadline:
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), timeout=0.5)

    async def wait_for(self, receipt_id: str, timeout_s: float) -> list[Received]:
        """Webhooks about `receipt_id`, waiting up to `timeout_s` for the first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            found = [r for r in self.received if r.data.get("receipt_id") == receipt_id]
            left = deadline - loop.time()
            if found or left <= 0:
                return found
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), timeout=min(left, 0.5))


def _ack_problem(answer: Any) -> str | None:
    """What is wrong with an acknowledgement body (SPEC §5), or None."""
    if not isinstance(answer, dict):
        return "an acknowledgement that is not a JSON object"
    if answer.get("status") not in ("credited", "rejected"):
        return f"an acknowledgement with status {answer.get('status')!r}"
    unknown = set(answer) - {"status", "reason", "provider_reference"}
    if unknown:
        return f"an acknowledgement with fields the hub refuses: {sorted(unknown)}"
    return None


@contextlib.asynccontextmanager
async def serving(receiver: WebhookReceiver, listen: str) -> AsyncIterator[str]:
    """Serve the receiver on `host:port` until the block ends; yields its URL."""
    host, _, port = listen.rpartition(":")
    config = uvicorn.Config(
        receiver.app(), host=host or "127.0.0.1", port=int(port), log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"the webhook receiver could not listen on {listen}")
        await asyncio.sleep(0.02)
    try:
        yield f"http://{host or '127.0.0.1'}:{port}"
    finally:
        server.should_exit = True
        await task
