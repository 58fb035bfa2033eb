"""`mph provider-check` against the provider simulator over real HTTP and files: every case
passes for a provider that keeps the Hub Provider Protocol, in each style, and each protocol
fault the simulator can have (`simulators/faults.py`) fails the case that names its rule."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.signing import new_secret
from conformance.options import CheckOptions
from conformance.report import CASES, Outcome, Report
from conformance.runner import run_checks
from simulators.faults import PROTOCOL_FAULTS
from simulators.providers import create_sim_app
from tests.support.servers import free_port, serve

STYLES = ("sync", "webhook", "pull", "batch")
FAULT_STYLE = {  # the style in which a fault can show
    "webhook_wrong_secret": "webhook",
    "webhook_unknown_event": "webhook",
    "batch_manifest_wrong_sha256": "batch",
    "batch_result_header_wrong": "batch",
}


@dataclass
class Simulator:
    url: str
    http: httpx.AsyncClient
    tmp: Path

    async def provider(self, mode: str, *faults: str) -> CheckOptions:
        """A fresh simulated provider of `mode`, and the kit's options for it."""
        provider_id = f"conf-{mode}-{secrets.token_hex(3)}"
        port = free_port()
        folder = self.tmp / provider_id
        config: dict[str, Any] = {
            "provider_id": provider_id,
            "signing_secret": new_secret(),
            "next_signing_secret": new_secret(),
            "webhook_secret": new_secret(),
            "mode": mode,
            "hub_webhook_url": f"http://127.0.0.1:{port}/v1/providers/{provider_id}/webhooks",
            "hub_api_url": f"http://127.0.0.1:{port}",  # pull: the kit plays the hub's API
            "hub_api_key": "hubk_conformance",
            "burst_every": 15,  # a real provider's rate limit, seen by the kit's burst
            "burst_length": 2,
            "retry_after_s": 1,
            "poll_interval_ms": 100,
            "outbox_dir": str(folder / "outbox"),
            "inbox_dir": str(folder / "inbox"),
            "protocol_faults": list(faults),
        }
        created = await self.http.post("/admin/providers", json=config)
        assert created.status_code == 201, created.text
        return CheckOptions(
            base_url=f"{self.url}/p/{provider_id}",
            signing_secret=config["signing_secret"],
            next_signing_secret=config["next_signing_secret"],
            ack_mode="sync" if mode == "batch" else mode,
            adapter="batch_file" if mode == "batch" else "hub_rest",
            webhook_secrets=(config["webhook_secret"],),
            listen=f"127.0.0.1:{port}",
            outbox_dir=folder / "outbox",
            inbox_dir=folder / "inbox",
            burst=30,
            timeout_s=10,
        )


@pytest.fixture(scope="module")
async def simulator(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Simulator]:
    async with serve(create_sim_app([])) as url, httpx.AsyncClient(base_url=url) as http:
        yield Simulator(url, http, tmp_path_factory.mktemp("provider-check"))


def outcomes(report: Report) -> dict[str, Outcome]:
    return {r.name: r.outcome for r in report.results}


@pytest.mark.parametrize("mode", STYLES)
async def test_the_simulator_passes_every_case(simulator: Simulator, mode: str) -> None:
    report = await run_checks(await simulator.provider(mode))
    assert report.ok, report.render()
    assert sorted(outcomes(report)) == sorted(CASES), "every case is reported, once"
    passed = {name for name, outcome in outcomes(report).items() if outcome == Outcome.PASS}
    assert {
        "signature.valid",
        "signature.tampered",
        "signature.stale",
        "signature.rotated",
    } <= passed
    assert {"accounts.active", "accounts.closed", "status.credited", "status.not_found"} <= passed
    assert "rate_limit.retry_after" in passed, report.render()
    if mode == "sync":
        assert {"credits.credited", "idempotency.same_body", "idempotency.other_body"} <= passed
    if mode == "webhook":
        assert {"credits.accepted", "webhooks.signature", "webhooks.credit_completed"} <= passed
    if mode == "pull":
        assert {"credits.credited", "credits.rejected", "idempotency.same_body"} <= passed
    if mode == "batch":
        assert {"batch.result_file", "batch.manifest", "batch.result_rows"} <= passed


@pytest.mark.parametrize("fault", list(PROTOCOL_FAULTS))
async def test_each_broken_rule_fails_its_case(simulator: Simulator, fault: str) -> None:
    report = await run_checks(await simulator.provider(FAULT_STYLE.get(fault, "sync"), fault))
    _, cases = PROTOCOL_FAULTS[fault]
    failed = {r.name for r in report.failed}
    assert set(cases) <= failed, report.render()
    assert not report.ok


async def test_a_pull_provider_that_credits_a_relisted_request_again_fails(
    simulator: Simulator,
) -> None:
    report = await run_checks(await simulator.provider("pull", "idempotency_reapplies"))
    failed = {r.name for r in report.failed}
    assert "idempotency.same_body" in failed, report.render()
    assert failed <= {"idempotency.same_body", "status.credited"}, (
        "the new reference shows there too"
    )


async def test_a_provider_that_cannot_be_reached_fails(simulator: Simulator) -> None:
    options = await simulator.provider("sync")
    report = await run_checks(replace(options, base_url=f"http://127.0.0.1:{free_port()}"))
    assert not report.ok and report.failed[0].name == "connection"


async def command(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "provider-check",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


def arguments(options: CheckOptions) -> list[str]:
    found = [
        "--base-url",
        options.base_url,
        "--signing-secret",
        options.signing_secret,
        "--next-signing-secret",
        options.next_signing_secret,
        "--ack-mode",
        options.ack_mode,
        "--listen",
        options.listen,
        "--burst",
        str(options.burst),
        "--timeout",
        str(options.timeout_s),
    ]
    for secret in options.webhook_secrets:
        found += ["--webhook-secret", secret]
    return found


async def test_the_command_prints_a_report_and_exits_non_zero_on_a_failure(
    simulator: Simulator,
) -> None:
    code, output = await command(*arguments(await simulator.provider("webhook")))
    assert code == 0, output
    assert "PASS  webhooks.credit_completed" in output and " 0 failed" in output
    code, output = await command(
        *arguments(await simulator.provider("sync", "idempotency_reapplies"))
    )
    assert code == 1, output
    assert "FAIL  idempotency.same_body" in output and "credited twice" in output
