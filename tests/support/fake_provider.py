"""An in-process stand-in for a payment provider, plugged into the real adapter registry, for
workflow tests that need to steer a provider's answers (time-outs, outages, lost acks).

It keeps its own ledger like the simulator: a receipt ID applied more than once would show here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import activity

from adapters.providers.contract import (
    AccountCheck,
    CreditOutcome,
    CreditRequest,
    CreditStatus,
    PermanentProviderError,
    TransientProviderError,
)


@dataclass
class FakeProvider:
    provider_id: str = "fake"
    mode: str = "sync"  # sync: credited at once; accepted: 202 and nothing more
    down_until: datetime | None = None  # transient failures while calls are scheduled before it
    always_fail: bool = False
    # Answers to status checks, in order; "error" answers 500, any other word is sent as is.
    statuses: list[str] = field(default_factory=list)
    applied: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    fail_first: int = 0  # the first credit calls fail with 503, whatever `mode` says
    refuse_first: int = 0  # the first credit calls are refused with 401 (a wrong key)
    accepted: dict[str, int] = field(default_factory=dict)  # credits taken on (mode accepted)
    status_calls: int = 0
    status_gate: asyncio.Event | None = None  # status checks wait for it when set
    # Runs before a credit is answered `accepted` (mode accepted): the provider's final answer
    # overtaking its own 202, e.g. a result file applied while the credit call is still open.
    before_accepting: Callable[[str], Awaitable[None]] | None = None

    async def verify_account(self, account_id: str, security_code: str) -> AccountCheck:
        return AccountCheck(valid=True, status="active")

    async def credit(self, request: CreditRequest) -> CreditOutcome:
        self.calls += 1
        scheduled = activity.info().current_attempt_scheduled_time
        if self.always_fail or (self.down_until is not None and scheduled < self.down_until):
            raise TransientProviderError("provider unavailable (503)")
        if self.calls <= self.fail_first:
            raise TransientProviderError("provider unavailable (503)")
        if self.calls <= self.refuse_first:
            raise PermanentProviderError("provider refused the request (401): bad key")
        if self.mode == "accepted":
            self.accepted[request.receipt_id] = self.accepted.get(request.receipt_id, 0) + 1
            if self.before_accepting is not None:
                await self.before_accepting(request.receipt_id)
            return CreditOutcome(status="accepted")
        self.applied[request.receipt_id] = self.applied.get(request.receipt_id, 0) + 1
        return CreditOutcome(status="credited", provider_reference=f"ref-{request.receipt_id}")

    async def credit_status(self, receipt_id: str) -> CreditStatus:
        self.status_calls += 1
        if self.status_gate is not None:
            await self.status_gate.wait()
        status = self.statuses.pop(0) if self.statuses else "pending"
        if status == "error":
            raise TransientProviderError("provider error 500: status endpoint down")
        if status == "credited":
            self.applied[receipt_id] = self.applied.get(receipt_id, 0) + 1
            return CreditStatus(status="credited", provider_reference=f"ref-{receipt_id}")
        return CreditStatus(status=status)

    async def aclose(self) -> None:
        return None

    def factory(self) -> Callable[[str, dict[str, Any], dict[str, Any]], FakeProvider]:
        def build(
            provider_id: str, config: dict[str, Any], secrets: dict[str, Any]
        ) -> FakeProvider:
            self.provider_id = provider_id
            return self

        return build
