"""Answers that come after the credit call: webhooks the provider sends, and acknowledgements
a pull provider gives through the hub's provider API (played by the kit's receiver)."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.providers.contract import REFERENCE_MAX
from conformance.cases import Run
from conformance.client import Answer
from conformance.report import Outcome


async def webhook_cases(run: Run, rejected: Answer | None) -> None:
    o = run.options
    names = ("webhooks.signature", "webhooks.event_types", "webhooks.credit_completed")
    if o.ack_mode != "webhook" or rejected is None:
        style = "batch_file" if o.adapter == "batch_file" else o.ack_mode
        for name in (*names, "webhooks.credit_rejected"):
            run.report.add(name, Outcome.SKIP, f"{style} providers send no credit webhooks")
        return
    if run.receiver is None:
        for name in (*names, "webhooks.credit_rejected"):
            run.report.add(name, Outcome.FAIL, "give --webhook-secret to check webhooks")
        return
    completed = await run.receiver.wait_for(run.receipt("credit"), o.timeout_s)
    wanted_rejection = rejected.status == 202
    refused = (
        await run.receiver.wait_for(run.receipt("rejected"), o.timeout_s)
        if wanted_rejection
        else []
    )
    received = run.receiver.received
    if not received:
        for name in names:
            run.report.add(name, Outcome.FAIL, f"no webhook arrived within {o.timeout_s:.0f} s")
    else:
        run.report.check(
            "webhooks.signature",
            sorted(
                {f"{r.message_id}: {r.signature_problem}" for r in received if r.signature_problem}
            )[:3],
            f"{len(received)} webhooks, each signed with a webhook secret",
        )
        run.report.check(
            "webhooks.event_types",
            sorted({str(r.shape_problem) for r in received if r.shape_problem})[:3],
        )
        done = [r for r in completed if r.event_type == "credit.completed"]
        run.report.check(
            "webhooks.credit_completed",
            []
            if done
            else [
                f"no credit.completed for {run.receipt('credit')} "
                f"(got {[r.event_type for r in completed]})"
            ],
        )
    if not wanted_rejection:
        run.report.add("webhooks.credit_rejected", Outcome.SKIP, "the rejection came as 422")
    else:
        found = [r for r in refused if r.event_type == "credit.rejected"]
        run.report.check(
            "webhooks.credit_rejected",
            [] if found else [f"no credit.rejected for {run.receipt('rejected')}"],
        )


async def pull_cases(run: Run) -> None:
    """Pull providers take credit requests from the hub's list and acknowledge them there; the
    kit's receiver plays the hub. A request is listed again as if its acknowledgement had been
    lost: the provider must answer it the same way, without crediting twice."""
    o, receiver = run.options, run.receiver
    assert receiver is not None
    good_id, bad_id = run.receipt("credit"), run.receipt("rejected")
    for receipt_id, account in ((good_id, o.account_id), (bad_id, o.closed_account_id)):
        receiver.pending.append(
            {**run.credit_body(receipt_id, account), "requested_at": datetime.now(UTC).isoformat()}
        )
    await receiver.wait_for_acks({good_id, bad_id}, o.timeout_s)
    run.report.add("credits.accepted", Outcome.SKIP, "pull providers answer through the hub's API")
    good, bad = receiver.acks.get(good_id), receiver.acks.get(bad_id)
    problems = list(receiver.ack_problems)
    if good is None:
        problems.append(f"{good_id} was listed but not acknowledged within {o.timeout_s:.0f} s")
    elif good.get("status") != "credited":
        problems.append(f"{good_id} (an active account) was acknowledged {good}")
    else:
        reference = good.get("provider_reference")
        if not isinstance(reference, str) or not 0 < len(reference) <= REFERENCE_MAX:
            problems.append(
                f"provider_reference must be a string of 1 to {REFERENCE_MAX} characters"
            )
        run.credited_reference = reference if isinstance(reference, str) else None
    run.report.check("credits.credited", problems)
    if bad is None:
        run.report.add("credits.rejected", Outcome.FAIL, f"{bad_id} was never acknowledged")
    else:
        wrong = bad.get("status") != "rejected" or not isinstance(bad.get("reason"), str)
        run.report.check(
            "credits.rejected",
            [f"the closed account's request was acknowledged {bad}"] if wrong else [],
        )
    if good is not None:
        del receiver.acks[good_id]  # as if the hub never heard it: listed again
        await receiver.wait_for_acks({good_id}, o.timeout_s)
        again = receiver.acks.get(good_id)
        run.report.check(
            "idempotency.same_body",
            []
            if again == good
            else [
                f"listed again, {good_id} was acknowledged {again}, first {good}: credited twice?"
            ],
        )
    else:
        run.report.add("idempotency.same_body", Outcome.FAIL, "nothing acknowledged to repeat")
    run.report.add("idempotency.other_body", Outcome.SKIP, "the hub lists each request one way")
