"""The direct orchestrator's credit loop (`services/orchestration.py`): the `credit` activity
called in-process, attempt after attempt under the provider's retry policy, each attempt seeing
its number in the activity context as it would under Temporal. The whole direct lifecycle runs on
real processes in `tests/bench/test_harness.py`."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.types import CreditInput, CreditResult
from domain.providers import ProviderPolicy, RetrySettings
from domain.receipts import ReceiptPlan
from services.direct_orchestration import DirectOrchestrator
from storage.audit import utcnow


def _plan(max_attempts: int) -> ReceiptPlan:
    retry = RetrySettings(initial_interval_s=0.001, max_interval_s=0.002, max_attempts=max_attempts)
    return ReceiptPlan("rcp_1", "grt_1", "prv_1", 1000, ProviderPolicy(retry=retry))


def _orchestrator(
    answers: list[CreditResult | None], seen: list[tuple[int, int]]
) -> DirectOrchestrator:
    """A direct orchestrator whose `credit` activity answers from `answers` (None: a transient
    failure raised for a retry) and notes (attempt, max_attempts) of every call."""
    direct = DirectOrchestrator(None, None, utcnow)  # type: ignore[arg-type]

    async def credit(request: CreditInput) -> CreditResult:
        seen.append((activity.info().attempt, request.max_attempts))
        answer = answers.pop(0)
        if answer is None:
            raise ApplicationError("provider error 503", type="ProviderTransientError")
        return answer

    direct.providers.credit = credit  # type: ignore[method-assign]
    return direct


async def test_a_transient_failure_is_tried_again_with_the_next_attempt_number() -> None:
    seen: list[tuple[int, int]] = []
    credited = CreditResult("rcp_1", "credited", provider_reference="ref-1")
    direct = _orchestrator([None, None, credited], seen)
    assert await direct.credit(_plan(max_attempts=5)) == credited
    assert seen == [(1, 5), (2, 5), (3, 5)]


async def test_attempts_exhausted_come_back_as_a_failed_credit() -> None:
    seen: list[tuple[int, int]] = []
    direct = _orchestrator([None, None], seen)
    result = await direct.credit(_plan(max_attempts=2))
    assert result.status == "failed"
    assert seen == [(1, 2), (2, 2)]
