"""The worker's small HTTP port: `/healthz`, `/readyz` and `/metrics`, like the API's.

A worker has no web server of its own, yet Kubernetes and Compose need to ask it whether it is
alive and ready, and Prometheus needs to scrape it. A few lines of asyncio serve that without
a second framework or a thread: the answers come from the same event loop that runs the worker,
so a worker whose loop is stuck fails its liveness probe, as it should.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from temporalio.client import Client

from hub.metrics import exporters, prometheus_text
from hub.settings import Settings
from storage.database import SessionFactory

log = logging.getLogger(__name__)

Response = tuple[int, bytes, str]
_REASONS = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}


async def readiness(client: Client, sessions: SessionFactory) -> dict[str, str]:
    """The same checks as the API's `/readyz`: the database and Temporal answer."""
    checks: dict[str, str] = {}
    try:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports; it never raises
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        await client.service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as exc:
        checks["temporal"] = f"unreachable: {type(exc).__name__}"
    return checks


def _json(status: int, body: object) -> Response:
    return status, json.dumps(body).encode(), "application/json"


class ProbeServer:
    def __init__(self, settings: Settings, client: Client, sessions: SessionFactory) -> None:
        self.settings = settings
        self.client = client
        self.sessions = sessions
        self.routes: dict[str, Callable[[], Awaitable[Response]]] = {
            "/healthz": self.healthz,
            "/readyz": self.readyz,
        }
        if "prometheus" in exporters(settings):
            self.routes["/metrics"] = self.metrics
        self._server: asyncio.Server | None = None

    async def healthz(self) -> Response:
        return _json(200, {"status": "ok"})

    async def readyz(self) -> Response:
        checks = await readiness(self.client, self.sessions)
        ready = all(v == "ok" for v in checks.values())
        return _json(200 if ready else 503, {"status": "ready" if ready else "not_ready", **checks})

    async def metrics(self) -> Response:
        body, content_type = prometheus_text()
        return 200, body, content_type

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b""):
                pass  # headers: nothing in them matters here
            parts = request.decode("latin-1").split()
            route = self.routes.get(parts[1].split("?")[0]) if len(parts) >= 2 else None
            status, body, content_type = (
                await route() if route else _json(404, {"status": "not_found"})
            )
            head = (
                f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def start(self, host: str = "0.0.0.0") -> int:
        """Listen on `HUB_METRICS_PORT`; returns the port (0 picks a free one, for tests)."""
        self._server = await asyncio.start_server(self._handle, host, self.settings.metrics_port)
        port = int(self._server.sockets[0].getsockname()[1])
        log.info("probes and metrics on :%d", port)
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
