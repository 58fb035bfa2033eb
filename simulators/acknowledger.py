"""The simulator's background work: what its providers do on their own initiative.

Webhook providers send their queued, signed webhooks (late, twice or out of order when the knobs
say so, and again after a failed delivery, as real providers do); pull providers poll the hub's
provider API, credit what is pending and acknowledge it; batch providers answer each request file
in the hub's outbox with a result file in the hub's inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import httpx

from adapters.providers.batch_files import (
    MANIFEST_SUFFIX,
    BatchFileError,
    Manifest,
    RequestRow,
    ResultRow,
    check_against_manifest,
    parse_requests,
    read_manifest,
    render_results,
    write_atomically,
    write_file_pair,
)
from adapters.signing import sign_headers
from simulators.faults import WRONG_WEBHOOK_SECRET, before_call
from simulators.providers import Delivery, SimProvider

log = logging.getLogger(__name__)

TICK_S = 0.02
MAX_DELIVERY_ATTEMPTS = 30
SEND_CONCURRENCY = 32
PULL_PAGE = 200


async def _deliver(provider: SimProvider, http: httpx.AsyncClient, delivery: Delivery) -> None:
    config = provider.config
    secret = config.webhook_secret
    if provider.broken("webhook_wrong_secret"):
        secret = WRONG_WEBHOOK_SECRET  # the fault: signed with a secret the hub never got
    headers = {
        "content-type": "application/json",
        **sign_headers(secret, delivery.body, message_id=delivery.message_id),
    }
    try:
        response = await http.post(config.hub_webhook_url, content=delivery.body, headers=headers)
        status = response.status_code
    except httpx.HTTPError:
        status = 0
    if 200 <= status < 300:
        provider.count("webhooks_delivered")
        return
    if status in (0, 429) or status >= 500:
        delivery.attempts += 1
        if delivery.attempts < MAX_DELIVERY_ATTEMPTS:
            pause = min(0.2 * 2**delivery.attempts, 5.0)
            delivery.due = asyncio.get_running_loop().time() + pause
            provider.outgoing.append(delivery)
            provider.count("webhooks_retried")
            return
    provider.count("webhooks_refused")
    log.warning("webhook %s refused by the hub (%s)", delivery.message_id, status)


async def send_due_webhooks(provider: SimProvider, http: httpx.AsyncClient) -> None:
    now = asyncio.get_running_loop().time()
    due = [d for d in provider.outgoing if d.due <= now]
    if not due:
        return
    provider.outgoing[:] = [d for d in provider.outgoing if d.due > now]
    if provider.config.ack_reorder:
        provider.rng.shuffle(due)
    else:
        due.sort(key=lambda d: d.due)
    gate = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(delivery: Delivery) -> None:
        async with gate:
            await _deliver(provider, http, delivery)

    await asyncio.gather(*(one(d) for d in due))


def _fault_body(kind: str) -> dict[str, Any]:
    return {"error": kind}


async def poll_hub(provider: SimProvider, http: httpx.AsyncClient) -> None:
    """A pull provider's round: fetch pending credit requests, credit them, acknowledge each."""
    config = provider.config
    base = f"{config.hub_api_url.rstrip('/')}/v1/providers/{config.provider_id}/credit-requests"
    auth = {"authorization": f"Bearer {config.hub_api_key}"}
    try:
        response = await http.get(
            base, params={"status": "pending", "limit": PULL_PAGE}, headers=auth
        )
    except httpx.HTTPError:
        provider.count("polls_failed")
        return
    if response.status_code != 200:
        provider.count("polls_failed")
        return
    for item in response.json().get("items", []):
        if await before_call(provider, _fault_body) is not None:
            continue  # a hiccup on the provider's side: the request stays pending
        canonical = json.dumps(
            [item["receipt_id"], item["account_id"], item["points"]], separators=(",", ":")
        ).encode()
        async with provider.lock:
            entry = provider.apply(
                item["receipt_id"],
                item["account_id"],
                int(item["points"]),
                hashlib.sha256(canonical).hexdigest(),
            )
        if entry is None:
            continue
        answer: dict[str, Any] = {"status": entry.status}
        if entry.reason:
            answer["reason"] = entry.reason
        if entry.provider_reference:
            answer["provider_reference"] = entry.provider_reference
        if config.ack_drop_rate and provider.rng.random() < config.ack_drop_rate:
            provider.count("acks_dropped")  # credited, not acknowledged: listed again next round
            continue
        if config.ack_delay_ms:  # credited now, acknowledged later (a return may come between)
            await asyncio.sleep(provider.rng.uniform(0, config.ack_delay_ms / 1000))
        times = 2 if provider.rng.random() < config.ack_duplicate_rate else 1
        for _ in range(times):
            with contextlib.suppress(httpx.HTTPError):
                sent = await http.post(f"{base}/{entry.receipt_id}/ack", json=answer, headers=auth)
                provider.count(f"acks_{sent.status_code}")


def _read_request_file(manifest_path: Path) -> tuple[str, list[RequestRow]]:
    manifest = read_manifest(manifest_path)
    data = (manifest_path.parent / manifest.file_name).read_bytes()
    rows = parse_requests(data)
    check_against_manifest(manifest, data, len(rows), sum(r.points for r in rows))
    return manifest.file_name, rows


def _set_aside(manifest_path: Path, folder: str, data_name: str | None) -> None:
    target = manifest_path.parent / folder
    target.mkdir(exist_ok=True)
    for name in [manifest_path.name, data_name]:
        if name and (manifest_path.parent / name).exists():
            os.replace(manifest_path.parent / name, target / name)


async def answer_request_files(provider: SimProvider) -> None:
    """A batch provider's round: each complete request file in, one result file out."""
    config = provider.config
    outbox, inbox = Path(config.outbox_dir), Path(config.inbox_dir)
    if not outbox.is_dir():
        return
    manifests = sorted(p for p in outbox.glob(f"credits-*{MANIFEST_SUFFIX}"))
    if not manifests or await before_call(provider, _fault_body) is not None:
        return  # nothing to do, or the provider's batch job failed this time: the files wait
    for manifest_path in manifests:
        try:
            data_name, rows = await asyncio.to_thread(_read_request_file, manifest_path)
        except (BatchFileError, OSError) as exc:
            provider.count("request_files_refused")
            log.warning("request file %s refused: %s", manifest_path.name, exc)
            await asyncio.to_thread(_set_aside, manifest_path, "refused", None)
            continue
        results = []
        async with provider.lock:
            for row in rows:
                digest = hashlib.sha256(f"{row.receipt_id}:{row.account_id}:{row.points}".encode())
                entry = provider.apply(
                    row.receipt_id, row.account_id, row.points, digest.hexdigest()
                )
                if entry is not None:
                    results.append(
                        ResultRow(
                            entry.receipt_id, entry.status, entry.reason, entry.provider_reference
                        )
                    )
        credited = sum(
            r.points for r in rows if provider.credits[r.receipt_id].status == "credited"
        )
        stem = "results-" + manifest_path.name[len("credits-") : -len(MANIFEST_SUFFIX)]
        inbox.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(write_results, provider, inbox, stem, results, credited)
        await asyncio.to_thread(_set_aside, manifest_path, "taken", data_name)
        provider.count("request_files_answered")


def write_results(
    provider: SimProvider, inbox: Path, stem: str, results: list[ResultRow], credited: int
) -> None:
    data = render_results(results)
    if provider.broken("batch_result_header_wrong"):  # the fault: its own column names
        data = data.replace(
            b"receipt_id,status,reason,provider_reference", b"receipt,result,note,ref", 1
        )
    manifest = write_file_pair(inbox, stem, data, records=len(results), points=credited)
    if provider.broken("batch_manifest_wrong_sha256"):  # the fault: the digest of another file
        wrong = Manifest(manifest.file_name, manifest.record_count, manifest.total_points, "0" * 64)
        write_atomically(inbox / f"{stem}{MANIFEST_SUFFIX}", wrong.to_json())


async def _guarded(provider_id: str, work: Any) -> None:
    """A failing round is logged and tried again next time; the loop goes on."""
    try:
        await work
    except Exception:
        log.exception("simulated provider %s: background work failed", provider_id)


async def run_acknowledger(providers: dict[str, SimProvider], stop: asyncio.Event) -> None:
    """One loop for every provider; each provider's work runs as its own task, one at a time."""
    loop = asyncio.get_running_loop()
    running: dict[tuple[str, str], asyncio.Task[None]] = {}
    next_round: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        try:
            while not stop.is_set():
                now = loop.time()
                for provider_id, provider in list(providers.items()):
                    config = provider.config
                    work: list[tuple[str, Any]] = []
                    if provider.outgoing:
                        work.append(("webhooks", send_due_webhooks(provider, http)))
                    if now >= next_round.get(provider_id, 0.0):
                        pulling = config.hub_api_url and config.hub_api_key
                        if config.mode == "pull" and pulling and not config.pull_paused:
                            work.append(("round", poll_hub(provider, http)))
                        elif config.mode == "batch" and config.outbox_dir and config.inbox_dir:
                            work.append(("round", answer_request_files(provider)))
                    for kind, coroutine in work:
                        key = (provider_id, kind)
                        if key in running and not running[key].done():
                            coroutine.close()
                            continue
                        if kind == "round":
                            next_round[provider_id] = now + config.poll_interval_ms / 1000
                        running[key] = asyncio.create_task(_guarded(provider_id, coroutine))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=TICK_S)
        finally:
            for task in running.values():
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)
