"""The opening rush: every resident, already signed in, applies to one measure within a window.

Set-up (not timed): every resident logs in with a virtual card. The driver then writes
`<result>.ready` and waits for `<result>.go`, so the orchestrator measures CPU and counts
workflows from the moment the rush starts.

The rush is open-loop: application i (residents in a shuffled order) is due at
start + i × window / N whether or not earlier ones have answered. An answer is one of:
- 201: granted;
- 409 `budget_exhausted`: refused, the budget is gone (SPEC §2: first come, first served);
- 503 with `Retry-After`: the API shed load. Counted, and the application sent again after the
  time it asks for, as the app does; an `already_applied` answer to the second one means the
  first was taken meanwhile, and the resident's points say whether it was granted;
- anything else (another 4xx, a 5xx, a 503 without `Retry-After`): an error;
- no answer within `client_timeout_s` of silence on the socket: a hung request, an error.

Latency is counted from when the application was sent (service time) and from when it was
due; refusals are also summarised for those sent after the last grant was answered (the budget
was gone by then, so each of them is a pure refusal).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from bench.drivers.reads import login_all
from bench.machine import own_usage, usage_since
from bench.timing import CallLog, summary
from simulators.resident_app import ResidentApp

RETRY_AFTER_CAP_S = 10.0  # a Retry-After above this is waited as this long
SHED_TRIES = 6  # applications sent at most, 503s included


async def wait_for_go(out_file: Path) -> None:
    Path(f"{out_file}.ready").write_text(str(time.time()))
    go = Path(f"{out_file}.go")
    while True:
        if go.exists():
            return
        await asyncio.sleep(0.05)


class Rush:
    def __init__(self, plan: dict[str, Any], apps: list[ResidentApp]) -> None:
        self.plan = plan
        self.apps = apps
        self.measure_id = str(plan["measure_id"])
        self.urls: list[str] = plan["api_urls"]
        self.outcomes: dict[str, int] = {}
        self.granted_at: list[float] = []  # perf_counter when each 201 was read
        self.answers: list[dict[str, Any]] = []  # one per application: outcome, sent, latency
        self.shed = 0  # 503 with Retry-After
        self.errors: list[dict[str, Any]] = []
        self.hung = 0
        self.server_errors = 0  # 5xx other than a 503 with Retry-After

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    async def _granted(self, session: aiohttp.ClientSession, app: ResidentApp, url: str) -> bool:
        async with session.get(f"{url}/v1/me/points", headers=app.auth) as response:
            body = await response.json()
        return any(g["measure_id"] == self.measure_id for g in body.get("grants", []))

    async def apply(
        self, session: aiohttp.ClientSession, index: int, app: ResidentApp, due: float
    ) -> None:
        url = self.urls[index % len(self.urls)]
        path = f"{url}/v1/measures/{self.measure_id}/applications"
        shed_before = False
        for _ in range(SHED_TRIES):
            sent = time.perf_counter()
            try:
                async with session.post(path, json={}, headers=app.auth) as response:
                    status = response.status
                    retry_after = response.headers.get("retry-after")
                    text = await response.text()
            except (TimeoutError, aiohttp.ServerTimeoutError):
                self.hung += 1
                self.errors.append({"index": index, "error": "no answer (client timeout)"})
                self.count("hung")
                return
            except aiohttp.ClientError as error:
                self.errors.append({"index": index, "error": type(error).__name__})
                self.count("connection_error")
                return
            answered = time.perf_counter()
            code = ""
            if status >= 400:
                try:
                    code = str(json.loads(text).get("code", ""))
                except ValueError:
                    code = ""
            if status == 503 and retry_after:
                self.shed += 1
                shed_before = True
                await asyncio.sleep(min(float(retry_after), RETRY_AFTER_CAP_S))
                continue
            outcome = self._outcome(status, code, text, index)
            if outcome == "already_applied" and shed_before:  # the shed one was taken after all
                granted = await self._granted(session, app, url)
                outcome = "granted" if granted else "taken_not_granted"
            if outcome == "granted":
                self.granted_at.append(answered)
            self.count(outcome)
            self.answers.append(
                {
                    "outcome": outcome,
                    "sent": sent,
                    "service_ms": (answered - sent) * 1000,
                    "from_due_ms": (answered - due) * 1000,
                    "shed_before": shed_before,
                }
            )
            return
        self.count("shed_gave_up")
        self.errors.append({"index": index, "error": f"503 {SHED_TRIES} times"})

    def _outcome(self, status: int, code: str, text: str, index: int) -> str:
        if status == 201:
            return "granted"
        if status == 409 and code in ("budget_exhausted", "already_applied"):
            return code
        if status >= 500:
            self.server_errors += 1
        self.errors.append({"index": index, "status": status, "body": text[:200]})
        return f"{status} {code}".strip()

    def summaries(self) -> dict[str, Any]:
        last_grant = max(self.granted_at, default=None)

        def of(outcome: str, key: str, after: float | None = None) -> dict[str, Any]:
            return summary(
                [
                    a[key]
                    for a in self.answers
                    if a["outcome"] == outcome and (after is None or a["sent"] > after)
                ]
            )

        return {
            "grant_ms": of("granted", "service_ms"),
            "refusal_ms": of("budget_exhausted", "service_ms"),
            "refusal_after_budget_gone_ms": (
                of("budget_exhausted", "service_ms", last_grant) if last_grant else {"count": 0}
            ),
            "refusal_after_budget_gone_from_due_ms": (
                of("budget_exhausted", "from_due_ms", last_grant) if last_grant else {"count": 0}
            ),
            "grant_from_due_ms": of("granted", "from_due_ms"),
        }


async def main(plan: dict[str, Any], out_file: Path) -> dict[str, Any]:
    setup = CallLog()
    setup_clients = [setup.client(url, 16) for url in plan["api_urls"]]
    apps = await login_all(plan, setup_clients)
    for client in setup_clients:
        await client.aclose()
    order = list(range(len(apps)))
    random.Random(19).shuffle(order)
    rush = Rush(plan, apps)
    connector = aiohttp.TCPConnector(limit=int(plan["connections"]), keepalive_timeout=2.0)
    silence = float(plan["client_timeout_s"])
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=silence, sock_read=silence)
    session = aiohttp.ClientSession(connector=connector, timeout=timeout)
    window = float(plan["window_s"])
    await wait_for_go(out_file)
    usage_before = own_usage()
    first = time.time()
    started = time.perf_counter()
    tasks = []
    lateness: list[float] = []
    for position, index in enumerate(order):
        due = started + position * window / len(order)
        pause = due - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        lateness.append(max(0.0, time.perf_counter() - due) * 1000)
        tasks.append(asyncio.create_task(rush.apply(session, index, apps[index], due)))
    sending = time.perf_counter() - started
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    await session.close()
    last_grant = max(rush.granted_at, default=None)
    return {
        "first_request": first,
        "residents": len(apps),
        "sending_s": round(sending, 2),
        "elapsed_s": round(elapsed, 2),
        "budget_gone_after_s": round(last_grant - started, 2) if last_grant else None,
        "outcomes": rush.outcomes,
        "shed_503": rush.shed,
        "server_errors": rush.server_errors,
        "hung": rush.hung,
        "errors": len(rush.errors),
        "error_samples": rush.errors[:20],
        "latency_ms": rush.summaries(),
        "send_lateness_ms": summary(lateness),
        "login_ms": setup.summaries(),
        "usage": usage_since(usage_before),
    }


if __name__ == "__main__":
    plan_file, out = sys.argv[1], Path(sys.argv[2])
    result = uvloop.run(main(json.loads(Path(plan_file).read_text()), out))
    out.write_text(json.dumps(result))
