"""A Hypothesis rule-based state machine that drives random interleavings of provider behaviours,
residents' receipt requests, support actions, revocations and worker kills against one running
hub, then lets the dust settle and checks the invariant (`tests/chaos/invariant.py`).

The hub runs in a background event loop (`Runner`); each rule runs one coroutine there. The
machine is shared by `tests/chaos/test_fault_matrix.py` (200 examples by default) and `mph soak`
(as long as asked); both read the counts in `Tally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule
from temporalio.service import RPCError

from simulators.resident_app import ResidentApp
from tests.chaos.invariant import (
    FINAL,
    Verdict,
    check,
    first_run,
    receipts_of,
    workflows_of,
)
from tests.chaos.stack import ChaosStack, chaos_stack

T = TypeVar("T")
STEP_LIMIT_S = 60.0
SLOW_STEP_S = 5.0
# The settle: workflow time skipped in these steps, each after real time has gone quiet: the
# database read every POLL_S, nothing under way for QUIET_S (longer than the pull provider's
# poll interval of 200 ms), at most SETTLE_STEP_LIMIT_S of real time per step.
SETTLE_SKIPS_MIN = (0, 1, 5, 30, 120, 400, 800)
POLL_S = 0.02
QUIET_S = 0.3
SETTLE_STEP_LIMIT_S = 3.0
MAX_RECEIVING = 3

HEALTHY: dict[str, Any] = {
    "latency_ms": 0,
    "error_rate": 0.0,
    "burst_every": 0,
    "burst_length": 3,
    "retry_after_s": 1,
    "timeout_after_apply_rate": 0.0,
    "timeout_after_apply_ms": 650,  # longer than the adapter's time-out
    "ack_delay_ms": 0,
    "ack_duplicate_rate": 0.0,
    "ack_reorder": False,
    "ack_drop_rate": 0.0,
    "ack_contradict_rate": 0.0,
    "credit_error_rate": 0.0,
    "status_error_rate": 0.0,
    "status_word": "",
    "auth_error_status": 0,
    "pull_paused": False,
}

# What a provider does from now on (until the next behaviour): knobs on top of HEALTHY.
BEHAVIOURS: dict[str, dict[str, Any]] = {
    "credited": {},
    "accepted_then_late_answer": {"ack_delay_ms": 600, "ack_reorder": True},
    "accepted_then_silence": {"ack_drop_rate": 1.0},
    "duplicate_answers": {"ack_duplicate_rate": 1.0},
    "contradicting_answers": {"ack_contradict_rate": 1.0},
    "5xx_burst": {"error_rate": 1.0},
    "5xx_some": {"error_rate": 0.5},
    "credit_endpoint_down": {"credit_error_rate": 1.0},  # status checks still answer
    "429_retry_after": {"burst_every": 1, "burst_length": 4, "retry_after_s": 1},
    "slow_answers": {"latency_ms": 150},  # slower than usual, within the adapter's time-out
    "slower_than_timeout": {"latency_ms": 650},
    "applied_then_timeout": {"timeout_after_apply_rate": 1.0},
    "status_500": {"status_error_rate": 1.0},
    "status_unknown_word": {"status_word": "processing"},
    "401": {"auth_error_status": 401},
    "403": {"auth_error_status": 403},
    "pull_paused": {"pull_paused": True},
}
OUTCOMES = ("credited", "returned", "rejected", "forfeited", "stall", "double_credit")
SUPPORT_ACTIONS = ("retry_now", "check_provider_status", "return_to_unreceived", "add_note")


@dataclass
class Tally:
    """Counts over every run, for the test's report and `mph soak`."""

    runs: int = 0
    steps: int = 0
    receipts: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    stalls: int = 0
    double_credits: int = 0
    provider_mismatches: int = 0
    workflow_failures: int = 0
    ledger_breaks: int = 0
    hangs: int = 0
    server_errors: int = 0
    failed_runs: int = 0
    needed_support: int = 0  # receipts that ended only after support's sweep
    contradictions: int = 0  # left to reconciliation (F5, tests/chaos/invariant.py)
    matrix: dict[str, Counter[str]] = field(default_factory=dict)  # behaviour → outcomes
    rules: Counter[str] = field(default_factory=Counter)
    settled: Counter[str] = field(default_factory=Counter)  # after how much workflow time
    slow_steps: list[str] = field(default_factory=list)  # the first steps over SLOW_STEP_S
    seconds: dict[str, float] = field(default_factory=dict)  # real time spent per rule
    first_failures: list[tuple[list[str], list[str]]] = field(default_factory=list)

    def add(self, verdict: Verdict, behaviours: set[str], trace: list[str]) -> None:
        self.runs += 1
        self.receipts += sum(verdict.receipts.values()) + verdict.stalls
        self.outcomes.update(verdict.receipts)
        self.stalls += verdict.stalls
        self.double_credits += verdict.double_credits
        self.provider_mismatches += verdict.provider_mismatches
        self.workflow_failures += verdict.workflow_failures
        self.ledger_breaks += verdict.ledger_breaks
        self.server_errors += verdict.server_errors
        self.contradictions += verdict.contradictions
        for behaviour in behaviours or {"credited"}:
            row = self.matrix.setdefault(behaviour, Counter())
            row.update(verdict.receipts)
            row["stall"] += verdict.stalls
            row["double_credit"] += verdict.double_credits
            row["runs"] += 1
        if verdict.problems:
            self.failed_runs += 1
            if len(self.first_failures) < 5:
                self.first_failures.append((list(trace), list(verdict.problems)))

    def spent(self, what: str, seconds: float, trace: list[str] | None = None) -> None:
        """Real time spent on `what`; a step slower than SLOW_STEP_S is kept with its run's
        steps so far (the first ten)."""
        self.seconds[what] = self.seconds.get(what, 0.0) + seconds
        if trace is not None and seconds > SLOW_STEP_S and len(self.slow_steps) < 10:
            self.slow_steps.append(f"{what} {seconds:.1f} s: " + " ; ".join(trace))

    def timings(self) -> dict[str, dict[str, float]]:
        """Real seconds per rule: calls, total and mean, the slowest first."""
        return {
            what: {
                "calls": self.rules[what] or self.runs,
                "total_s": round(total, 1),
                "mean_s": round(total / max(1, self.rules[what] or self.runs), 3),
            }
            for what, total in sorted(self.seconds.items(), key=lambda kv: -kv[1])
        }

    def summary(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "steps": self.steps,
            "receipts": self.receipts,
            "credited": self.outcomes["credited"],
            "returned": self.outcomes["returned"],
            "rejected": self.outcomes["rejected"],
            "forfeited": self.outcomes["forfeited"],
            "stalls": self.stalls,
            "double_credits": self.double_credits,
            "provider_mismatches": self.provider_mismatches,
            "workflow_failures": self.workflow_failures,
            "ledger_breaks": self.ledger_breaks,
            "hangs": self.hangs,
            "server_errors": self.server_errors,
            "failed_runs": self.failed_runs,
            "needed_support": self.needed_support,
            "contradictions": self.contradictions,
        }


class Runner:
    """The hub in a background event loop, for a synchronous state machine to drive."""

    def __init__(self, tmp_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tmp_dir = tmp_dir
        self.stack: ChaosStack
        self._stop: asyncio.Event | None = None
        self._held: Any = None
        self.tally = Tally()

    def run(self, coroutine: Coroutine[Any, Any, T], limit: float = STEP_LIMIT_S) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(limit)
        except TimeoutError:
            future.cancel()
            raise

    def start(self) -> ChaosStack:
        ready: asyncio.Future[ChaosStack] = self.loop.create_future()

        async def hold() -> None:
            self._stop = asyncio.Event()
            async with chaos_stack(self.tmp_dir) as stack:
                ready.set_result(stack)
                await self._stop.wait()

        self._held = asyncio.run_coroutine_threadsafe(hold(), self.loop)

        async def wait() -> ChaosStack:
            return await ready

        self.stack = self.run(wait(), limit=120)
        return self.stack

    def close(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
            with contextlib.suppress(Exception):
                self._held.result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@contextlib.contextmanager
def running(tmp_dir: Path) -> Iterator[Runner]:
    quiet_logs()
    runner = Runner(tmp_dir)
    try:
        runner.start()
        yield runner
    finally:
        runner.close()


def quiet_logs() -> None:
    """Activity failures are the point here; their tracebacks would drown the report."""
    for name in ("temporalio", "temporalio.activity", "temporalio.worker", "simulators", "uvicorn"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


@dataclass
class Receiving:
    resident: ResidentApp
    mykey_id: str
    grant_id: str
    registration_id: str
    provider_id: str
    account_id: str


class ChaosMachine(RuleBasedStateMachine):
    """One run: up to three residents receiving through faulty providers while support staff,
    operators and crashes interfere; then the providers heal, time passes, support sweeps the
    stuck list once, and the invariant must hold."""

    runner: ClassVar[Runner]
    strict: ClassVar[bool] = True  # raise on a broken invariant (tests); soak only counts

    def __init__(self) -> None:
        super().__init__()
        self.stack = self.runner.stack
        self.stack.start_workers()
        self.receiving: list[Receiving] = []
        self.step_problems: list[str] = []
        self.runs: dict[str, str] = {}  # application workflow id → its first run
        self.asked = 0  # residents who asked (preconditions read only what the machine decided)
        self.down = False  # whether this run killed the workers and has not restarted them
        self.behaviours: set[str] = set()
        self.trace: list[str] = []
        self.hung = False

    # ----- helpers ---------------------------------------------------------------------------

    def _do(self, label: str, coroutine: Coroutine[Any, Any, Any]) -> Any:
        self.trace.append(label)
        self.runner.tally.steps += 1
        self.runner.tally.rules[label.split("(")[0]] += 1
        started = time.monotonic()
        try:
            return self.runner.run(coroutine)
        except TimeoutError:
            self.hung = True
            self.runner.tally.hangs += 1
            if self.strict:
                raise AssertionError(f"hang: {label} took over {STEP_LIMIT_S} s") from None
            return None
        finally:
            self.runner.tally.spent(label.split("(")[0], time.monotonic() - started, self.trace)

    def _answered(self, what: str, response: httpx.Response) -> None:
        """An API answer of 500 (or any 5xx but 503 `temporal_unavailable`) breaks the rule that
        no request fails with an unexpected error: kept for the run's verdict."""
        if response.status_code >= 500 and response.status_code != 503:
            self.step_problems.append(
                f"{what} answered {response.status_code}: {response.text[:200]}"
            )

    def _pick(self, which: int) -> Receiving | None:
        """One of this run's residents; None when every one's registration was refused."""
        return self.receiving[which % len(self.receiving)] if self.receiving else None

    def _provider(self, mode: str) -> str:
        return next(p.provider_id for p in self.stack.providers.values() if p.mode == mode)

    # ----- residents -------------------------------------------------------------------------

    @initialize(
        mode=st.sampled_from(["webhook", "pull"]),
        behaviour=st.sampled_from(sorted(BEHAVIOURS)),
    )
    def first_resident(self, mode: str, behaviour: str) -> None:
        """Every run starts with one resident (registered while the provider was well) asking
        when the provider already misbehaves."""
        self.asked += 1
        self.behaviours.add(behaviour)
        then = {**HEALTHY, **BEHAVIOURS[behaviour]}
        self._do(f"first_resident({mode}, {behaviour})", self._new_receipt(mode, then))

    @precondition(lambda self: not self.down and self.asked < MAX_RECEIVING)
    @rule(mode=st.sampled_from(["webhook", "pull"]))
    def resident_requests_receipt(self, mode: str) -> None:
        self.asked += 1
        self._do(f"resident_requests_receipt({mode})", self._new_receipt(mode))

    async def _new_receipt(self, mode: str, then: dict[str, Any] | None = None) -> None:
        stack = self.stack
        provider_id = self._provider(mode)
        service_id = stack.providers[provider_id].payment_service_id
        resident = stack.resident()
        assert (await resident.login()).status_code == 201
        assert resident.mykey_id is not None
        applied = await resident.apply(await stack.current_measure())
        assert applied.status_code == 201, applied.text
        [grant] = applied.json()["grants"]
        account_id = f"acct-{secrets.token_hex(5)}"
        sim = stack.sim_providers[provider_id]
        sim.accounts[account_id] = {"security_code": "1234", "status": "active"}
        registered = await resident.register_service(service_id, account_id)
        if registered.status_code != 201:  # the provider is failing: verification refused
            return
        receiving = Receiving(
            resident,
            resident.mykey_id,
            grant["grant_id"],
            registered.json()["registration_id"],
            provider_id,
            account_id,
        )
        self.receiving.append(receiving)
        if then is not None:
            await stack.set_faults(provider_id, **then)
        requested = await resident.request_receipt([receiving.grant_id], receiving.registration_id)
        workflow_id, run_id = await first_run(stack, resident.mykey_id)
        if run_id is not None:
            self.runs[workflow_id] = run_id
        self._answered("request_receipt", requested)

    @precondition(lambda self: not self.down and self.asked > 0)
    @rule(which=st.integers(0, MAX_RECEIVING - 1))
    def resident_requests_again(self, which: int) -> None:
        """A grant back to unreceived (returned, rejected) is requested again: `<grant>-r2`."""
        receiving = self._pick(which)
        if receiving is None:
            return
        self._do(f"resident_requests_again({which})", self._again(receiving))

    async def _again(self, receiving: Receiving) -> None:
        response = await receiving.resident.request_receipt(
            [receiving.grant_id], receiving.registration_id
        )
        self._answered("request_receipt again", response)

    @precondition(lambda self: self.asked > 0)
    @rule(which=st.integers(0, MAX_RECEIVING - 1))
    def account_closes(self, which: int) -> None:
        """The resident's account closes at the provider: credits are rejected from now on."""
        receiving = self._pick(which)
        if receiving is None:
            return
        self._do(f"account_closes({which})", self._close(receiving))

    async def _close(self, receiving: Receiving) -> None:
        sim = self.stack.sim_providers[receiving.provider_id]
        sim.accounts[receiving.account_id] = {"security_code": "1234", "status": "closed"}

    # ----- providers -------------------------------------------------------------------------

    @rule(mode=st.sampled_from(["webhook", "pull"]), behaviour=st.sampled_from(sorted(BEHAVIOURS)))
    def provider_behaves(self, mode: str, behaviour: str) -> None:
        self.behaviours.add(behaviour)
        knobs = {**HEALTHY, **BEHAVIOURS[behaviour]}
        self._do(
            f"provider_behaves({mode}, {behaviour})",
            self.stack.set_faults(self._provider(mode), **knobs),
        )

    @precondition(lambda self: self.asked > 0)
    @rule(which=st.integers(0, MAX_RECEIVING - 1))
    def provider_resends_answer(self, which: int) -> None:
        """A late webhook: the provider sends its answer again, whenever it likes (a webhook
        provider; a pull provider's answers go through the hub's API)."""
        receiving = self._pick(which)
        if receiving is None:
            return
        self._do(f"provider_resends_answer({which})", self._resend(receiving))

    async def _resend(self, receiving: Receiving) -> None:
        if self.stack.providers[receiving.provider_id].mode != "webhook":
            return
        for receipt in await receipts_of(self.stack, [receiving.grant_id]):
            await self.stack.sim_http.post(
                f"/p/{receiving.provider_id}/admin/credits/{receipt.id}/resend"
            )

    @precondition(lambda self: not self.down)
    @rule(minutes=st.sampled_from([1, 5, 40, 180]))
    def time_passes(self, minutes: int) -> None:
        """Time passes on the workflows' clock: deadlines, back-offs and polls come due."""
        self._do(f"time_passes({minutes} min)", self._pass(minutes))

    async def _pass(self, minutes: int) -> None:
        await self.stack.skip(timedelta(minutes=minutes))
        await asyncio.sleep(0.08)

    @rule(ms=st.sampled_from([20, 100, 320]))
    def moments_pass(self, ms: int) -> None:
        """Real time passes: webhooks go out, pull providers poll, activities run."""
        self._do(f"moments_pass({ms} ms)", asyncio.sleep(ms / 1000))

    # ----- support staff, operators, crashes -------------------------------------------------

    @precondition(lambda self: not self.down and self.asked > 0)
    @rule(which=st.integers(0, MAX_RECEIVING - 1), action=st.sampled_from(SUPPORT_ACTIONS))
    def support_acts(self, which: int, action: str) -> None:
        receiving = self._pick(which)
        if receiving is None:
            return
        self._do(f"support_acts({which}, {action})", self._support(receiving, action))

    @precondition(lambda self: not self.down and self.asked > 0)
    @rule(
        which=st.integers(0, MAX_RECEIVING - 1),
        first=st.sampled_from(SUPPORT_ACTIONS[:3]),
        second=st.sampled_from(SUPPORT_ACTIONS[:3]),
    )
    def support_acts_twice_at_once(self, which: int, first: str, second: str) -> None:
        """Two staff members (or a double click) act on one receipt at the same moment."""
        receiving = self._pick(which)
        if receiving is None:
            return

        async def both() -> None:
            await asyncio.gather(self._support(receiving, first), self._support(receiving, second))

        self._do(f"support_acts_twice_at_once({which}, {first}, {second})", both())

    async def _support(self, receiving: Receiving, action: str) -> None:
        receipts = await receipts_of(self.stack, [receiving.grant_id])
        if not receipts:
            return
        receipt = max(receipts, key=lambda r: r.created_at)
        body: dict[str, Any] = {"action": action}
        if action == "add_note":
            body["note"] = "chaos: looked at it"
        response = await self.stack.http.post(
            f"/v1/support/receipts/{receipt.id}/actions",
            json=body,
            headers=self.stack.support_headers,
        )
        # 200 done, 409 refused (final, in progress, not confirmed uncredited), 503 Temporal
        # unavailable; anything else is noted (a 404 "not in this application" is the sign
        # of an application workflow that failed and was started again empty)
        if response.status_code not in (200, 409, 503):
            self.trace.append(f"  -> {action}: {response.status_code} {response.text[:160]}")
        self._answered(action, response)

    @precondition(lambda self: self.asked > 0)
    @rule(which=st.integers(0, MAX_RECEIVING - 1))
    def operator_revokes(self, which: int) -> None:
        receiving = self._pick(which)
        if receiving is None:
            return
        self._do(f"operator_revokes({which})", self._revoke(receiving))

    async def _revoke(self, receiving: Receiving) -> None:
        response = await self.stack.http.post(
            f"/v1/operator/mykeys/{receiving.mykey_id}/revoke",
            json={"reason": "chaos: card reported stolen"},
            headers=self.stack.operator_headers,
        )
        self._answered("revoke", response)

    @precondition(lambda self: not self.down)
    @rule()
    def worker_killed(self) -> None:
        self.down = True
        self._do("worker_killed()", self.stack.kill_workers())

    @precondition(lambda self: self.down)
    @rule()
    def worker_restarted(self) -> None:
        self.down = False

        async def restart() -> None:
            self.stack.start_workers()
            # Not shorter: a worker killed while it takes the backlog of tasks at its start
            # loses some (the test server hands them to a poll that is gone), and a lost task
            # stops the server skipping time until its time-out (up to a minute, real time).
            await asyncio.sleep(0.3)

        self._do("worker_restarted()", restart())

    # ----- the end of a run ------------------------------------------------------------------

    def teardown(self) -> None:
        if not self.receiving and self.stack.workers_up and not self.step_problems:
            self.runner.tally.runs += 1
            return
        started = time.monotonic()
        try:
            verdict = self.runner.run(self._settle_and_check(), limit=240)
        except TimeoutError:
            verdict = Verdict(problems=["hang: settling took over 240 s"], stalls=1)
        self.runner.tally.spent("settle_and_check", time.monotonic() - started, self.trace)
        verdict.server_errors += len(self.step_problems)
        verdict.problems.extend(self.step_problems)
        self.runner.tally.add(verdict, self.behaviours, self.trace)
        if verdict.problems and self.strict:
            raise AssertionError(
                "invariant broken:\n  "
                + "\n  ".join(verdict.problems)
                + "\nsteps:\n  "
                + "\n  ".join(self.trace)
            )

    async def _settle_and_check(self) -> Verdict:
        stack = self.stack
        stack.start_workers()
        for provider_id in stack.providers:
            await stack.set_faults(provider_id, **HEALTHY)
            await stack.http.post(  # a provider the hub paused is resumed by the operator
                f"/v1/operator/providers/{provider_id}/resume",
                json={"note": "chaos run settles"},
                headers=stack.operator_headers,
            )
        grant_ids = [r.grant_id for r in self.receiving]
        if not await self._settle(grant_ids):
            self.runner.tally.needed_support += await self._support_sweep(grant_ids)
            await self._settle(grant_ids)
        return await check(stack, [r.mykey_id for r in self.receiving], grant_ids, self.runs)

    async def _settle(self, grant_ids: list[str]) -> bool:
        """The providers are healthy again: real time for webhooks and pulls, workflow time for
        deadlines and status polls, until every receipt is final.

        Workflow time is skipped in growing steps (up to about 22 hours in all), each only once
        nothing is under way in real time (`_quiet`): no webhook waiting at the simulator, no
        workflow task or activity pending, no receipt moving for longer than a pull provider's
        poll interval. Between steps the database is read every few milliseconds."""
        workflow_ids = await workflows_of(self.stack, [r.mykey_id for r in self.receiving])
        skipped = 0
        for minutes in SETTLE_SKIPS_MIN:
            if minutes:
                started = time.monotonic()
                await self.stack.skip(timedelta(minutes=minutes))
                self.runner.tally.spent("settle: skipping", time.monotonic() - started)
                skipped += minutes
            started = time.monotonic()
            quiet = await self._quiet(grant_ids, workflow_ids)
            self.runner.tally.spent("settle: real time", time.monotonic() - started)
            if quiet:
                self.runner.tally.settled[f"{skipped} min"] += 1
                return True
        self.runner.tally.settled["not"] += 1
        return False

    async def _quiet(self, grant_ids: list[str], workflow_ids: list[str]) -> bool:
        """Real time passes until every receipt is final (True) or nothing has been under way
        for QUIET_S (False); at most SETTLE_STEP_LIMIT_S."""
        loop = asyncio.get_running_loop()
        started = still_since = loop.time()
        last: object = None
        while True:
            receipts = await receipts_of(self.stack, grant_ids)
            if all(r.state in FINAL for r in receipts):
                return True
            now = loop.time()
            seen = sorted((r.id, r.state, r.attempts, r.pulls, r.updated_at) for r in receipts)
            if seen != last or await self._under_way(workflow_ids):
                last, still_since = seen, now
            if now - still_since >= QUIET_S or now - started >= SETTLE_STEP_LIMIT_S:
                return False
            await asyncio.sleep(POLL_S)

    async def _under_way(self, workflow_ids: list[str]) -> bool:
        """Whether anything happens in real time: a webhook waiting at the simulator, or a
        workflow task or activity pending in one of this run's application workflows."""
        if any(sim.outgoing for sim in self.stack.sim_providers.values()):
            return True
        for workflow_id in workflow_ids:
            try:
                described = await self.stack.env.client.get_workflow_handle(workflow_id).describe()
            except RPCError:
                continue
            raw = described.raw_description
            if raw.HasField("pending_workflow_task") or len(raw.pending_activities):
                return True
        return False

    async def _support_sweep(self, grant_ids: list[str]) -> int:
        """Support staff work the stuck list once: ask each provider, then retry."""
        swept = 0
        for receipt in await receipts_of(self.stack, grant_ids):
            if receipt.state in FINAL:
                continue
            swept += 1
            for action in ("check_provider_status", "retry_now"):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        self.stack.http.post(
                            f"/v1/support/receipts/{receipt.id}/actions",
                            json={"action": action},
                            headers=self.stack.support_headers,
                        ),
                        timeout=20,
                    )
        return swept
