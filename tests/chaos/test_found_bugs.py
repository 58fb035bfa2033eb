"""Runs of the state machine replayed step by step: those it found broken on the carrier before
issue 17's rewrite (F1-F3 in docs/reliability.md) and the issue's own scenarios. Each ends with
the machine's settle and invariant check (`ChaosMachine.teardown`)."""

from __future__ import annotations

from tests.chaos.machine import ChaosMachine, Runner


def replay(runner: Runner) -> ChaosMachine:
    ChaosMachine.runner, ChaosMachine.strict = runner, True
    return ChaosMachine()


def test_pull_provider_refusing_the_status_check_leaves_no_failed_workflow(
    runner: Runner,
) -> None:
    """F1: a pull receipt passes its deadline while the provider answers 401; the status check
    failed the Application workflow, and the credit the provider pulled later was never
    recorded (the receipt stayed `accepted`, the grant `crediting`)."""
    machine = replay(runner)
    machine.first_resident("pull", "401")
    machine.time_passes(5)
    machine.teardown()


def test_an_unknown_status_word_then_silence_still_ends_credited(runner: Runner) -> None:
    """F2: a webhook provider accepts, never sends its webhook, and its status endpoint answers
    a word of its own ("processing")."""
    machine = replay(runner)
    machine.first_resident("webhook", "accepted_then_silence")
    machine.provider_behaves("webhook", "status_unknown_word")
    machine.time_passes(40)
    machine.teardown()


def test_status_endpoint_failing_then_a_late_webhook_ends_credited(runner: Runner) -> None:
    """The issue's own scenario: deadline missed, the status endpoint answers 500, then the
    provider's signed `credit.completed` arrives late. (These steps did not break the old
    carrier here: its status retries outlived the skipped time; kept as a regression run.)"""
    machine = replay(runner)
    machine.first_resident("webhook", "accepted_then_silence")
    machine.provider_behaves("webhook", "status_500")
    machine.time_passes(40)
    machine.time_passes(180)
    machine.provider_behaves("webhook", "credited")
    machine.provider_resends_answer(0)
    machine.moments_pass(800)
    machine.teardown()


def test_support_asking_a_rate_limited_provider_gets_an_answer_not_a_500(
    runner: Runner,
) -> None:
    """F3: `check_provider_status` while the provider answers 429 to every call: the failed
    activity left the update handler and the support API answered 500 `internal_error`."""
    machine = replay(runner)
    machine.first_resident("pull", "429_retry_after")
    machine.support_acts(0, "check_provider_status")
    machine.teardown()


def test_a_return_racing_a_retry_never_doubles_a_credit(runner: Runner) -> None:
    """Issue item 2: attempts exhausted, then `return_to_unreceived` and `retry_now` at the same
    moment while the provider answers slowly, then the resident asks again (`-r2`). (The old
    carrier survived these timings here; kept as a regression run.)"""
    machine = replay(runner)
    machine.first_resident("webhook", "5xx_burst")
    machine.time_passes(1)
    machine.provider_behaves("webhook", "slow_answers")
    machine.support_acts_twice_at_once(0, "return_to_unreceived", "retry_now")
    machine.moments_pass(800)
    machine.resident_requests_again(0)
    machine.moments_pass(800)
    machine.teardown()
