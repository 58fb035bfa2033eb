"""The workflow service failing to answer is a 503 the caller can act on, never a 500."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from api.problems import install


def app_raising(error: Exception) -> FastAPI:
    app = FastAPI()
    install(app)

    @app.post("/v1/me/receipts")
    async def _request() -> None:
        raise error

    @app.get("/v1/boom")
    async def _boom() -> None:
        raise RuntimeError("a bug")

    return app


@pytest.mark.parametrize(
    "error",
    [
        WorkflowUpdateRPCTimeoutOrCancelledError(),
        RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b""),
    ],
    ids=["update-timed-out", "rpc-unavailable"],
)
async def test_a_workflow_service_failure_is_503_with_retry_after(error: Exception) -> None:
    transport = httpx.ASGITransport(app=app_raising(error), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        response = await http.post("/v1/me/receipts")
        unexpected = await http.get("/v1/boom")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "temporal_unavailable" and "look before" in body["detail"]
    assert unexpected.status_code == 500 and unexpected.json()["code"] == "internal_error"
