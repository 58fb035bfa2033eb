"""The Hub Provider Protocol's HTTP cases (SPEC §5), each judged from what the provider
answers. Names are stable: docs/providers.md explains each and what to fix."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.providers.contract import REFERENCE_MAX
from adapters.signing import new_secret, sign_headers
from conformance.client import Answer, ProtocolClient, retry_after_problem
from conformance.options import CheckOptions
from conformance.receiver import WebhookReceiver
from conformance.report import Outcome, Report

REFUSED = (401, 403)
STATUSES = {"credited", "rejected", "pending", "not_found"}


@dataclass
class Run:
    options: CheckOptions
    client: ProtocolClient
    report: Report
    receiver: WebhookReceiver | None = None
    receipts: dict[str, str] = field(default_factory=dict)  # what each receipt was for
    credited_reference: str | None = None

    def receipt(self, purpose: str) -> str:
        """A receipt ID of this run (never reused across runs), remembered by purpose."""
        if purpose not in self.receipts:
            self.receipts[purpose] = f"conf-{self.options.run_id}-{purpose}"
        return self.receipts[purpose]

    def credit_body(self, receipt_id: str, account_id: str, points: int = 100) -> dict[str, Any]:
        return {
            "receipt_id": receipt_id,
            "account_id": account_id,
            "points": points,
            "measure_id": self.options.measure_id,
            "municipality_code": self.options.municipality_code,
        }

    async def credit(self, receipt_id: str, body: dict[str, Any]) -> Answer:
        return await self.client.send(
            "POST", "/credits", body, headers={"idempotency-key": receipt_id}
        )

    @property
    def asynchronous(self) -> bool:
        return self.options.ack_mode in ("webhook", "pull")


def _verify_body(options: CheckOptions, code: str | None = None) -> dict[str, str]:
    return {"account_id": options.account_id, "security_code": code or options.security_code}


def _refused(answer: Answer, what: str) -> list[str]:
    if answer.status in REFUSED:
        return []
    return [f"{what} was answered {answer.shown()}; expected 401 or 403"]


async def signature_cases(run: Run) -> None:
    o, send = run.options, run.client.send
    path, body = "/accounts/verify", _verify_body(o)
    valid = await send("POST", path, body)
    run.report.check(
        "signature.valid",
        [] if valid.status == 200 else [f"a correctly signed request got {valid.shown()}"],
    )
    tampered = await send("POST", path, body, tamper=True)
    run.report.check("signature.tampered", _refused(tampered, "a body changed after signing"))
    now = datetime.now(UTC)
    stale = await send("POST", path, body, at=now - timedelta(minutes=10))
    future = await send("POST", path, body, at=now + timedelta(minutes=10))
    run.report.check(
        "signature.stale",
        _refused(stale, "a timestamp 10 minutes old") + _refused(future, "one 10 minutes ahead"),
    )
    wrong = await send("POST", path, body, secret=new_secret())
    run.report.check("signature.wrong_secret", _refused(wrong, "a signature by another secret"))
    missing = await send("POST", path, body, signed=False)
    run.report.check("signature.missing", _refused(missing, "a request without signature"))
    if not o.next_signing_secret:
        run.report.add("signature.rotated", Outcome.SKIP, "give --next-signing-secret to check")
    else:
        rotated = await send("POST", path, body, secret=o.next_signing_secret)
        run.report.check(
            "signature.rotated",
            [] if rotated.status == 200 else [f"the next secret's signature got {rotated.shown()}"],
        )


async def account_cases(run: Run) -> None:
    o = run.options

    async def verify(name: str, account: str, code: str, valid: bool, status: str) -> None:
        answer = await run.client.send(
            "POST", "/accounts/verify", {"account_id": account, "security_code": code}
        )
        problems = []
        if answer.status != 200:
            problems.append(f"answered {answer.shown()}; expected 200")
        elif answer.field("valid") is not valid or answer.field("status") != status:
            problems.append(
                f"answered {answer.text[:160]}; expected valid={str(valid).lower()}, "
                f"status={status}"
            )
        run.report.check(name, problems)

    await verify("accounts.active", o.account_id, o.security_code, True, "active")
    await verify(
        "accounts.wrong_security_code", o.account_id, o.wrong_security_code, False, "active"
    )
    await verify("accounts.closed", o.closed_account_id, o.security_code, False, "closed")
    await verify("accounts.unknown", o.unknown_account_id, o.security_code, False, "unknown")


def _reference_problem(answer: Answer) -> list[str]:
    reference = answer.field("provider_reference")
    if not isinstance(reference, str) or not reference or len(reference) > REFERENCE_MAX:
        return [f"provider_reference must be a string of 1 to {REFERENCE_MAX} characters"]
    return []


async def credit_cases(run: Run) -> tuple[Answer, Answer]:
    """credited/accepted and rejected shapes, then idempotency; returns the first answers."""
    o = run.options
    good_id = run.receipt("credit")
    good_body = run.credit_body(good_id, o.account_id)
    first = await run.credit(good_id, good_body)
    if o.ack_mode == "webhook":
        problems = []
        if first.status != 202 or first.field("status") != "accepted":
            problems.append(f"answered {first.shown()}; expected 202 {{status: accepted}}")
        run.report.add("credits.credited", Outcome.SKIP, "webhook providers answer 202")
        run.report.check("credits.accepted", problems)
    else:
        problems = []
        if first.status != 200 or first.field("status") != "credited":
            problems.append(f"answered {first.shown()}; expected 200 {{status: credited}}")
        else:
            problems += _reference_problem(first)
            run.credited_reference = first.field("provider_reference")
        run.report.check("credits.credited", problems)
        run.report.add("credits.accepted", Outcome.SKIP, "sync providers answer 200 at once")

    bad_id = run.receipt("rejected")
    rejected = await run.credit(bad_id, run.credit_body(bad_id, o.closed_account_id))
    problems = []
    if rejected.status == 422:
        if rejected.field("status") != "rejected" or not isinstance(rejected.field("reason"), str):
            problems.append(f"answered {rejected.shown()}; expected {{status: rejected, reason}}")
    elif not (run.asynchronous and rejected.status == 202):
        problems.append(
            f"a credit to a closed account got {rejected.shown()}; expected 422 "
            "{status: rejected, reason}"
            + (" or 202 then credit.rejected" if run.asynchronous else "")
        )
    run.report.check("credits.rejected", problems)

    again = await run.credit(good_id, good_body)
    problems = []
    if (again.status, again.field("status")) != (first.status, first.field("status")):
        problems.append(f"the same request again got {again.shown()}, first {first.shown()}")
    elif again.field("provider_reference") != first.field("provider_reference"):
        problems.append(
            "the same request again got another provider_reference "
            f"({again.field('provider_reference')!r}, first {first.field('provider_reference')!r})"
            ": was it credited twice?"
        )
    run.report.check("idempotency.same_body", problems)

    other = await run.credit(good_id, {**good_body, "points": good_body["points"] + 1})
    run.report.check(
        "idempotency.other_body",
        []
        if other.status == 409
        else [f"the same Idempotency-Key with another body got {other.shown()}; expected 409"],
    )
    return first, rejected


async def _status(run: Run, receipt_id: str) -> Answer:
    return await run.client.send("GET", f"/credits/{receipt_id}")


def _status_problems(answer: Answer, expected: set[str]) -> list[str]:
    if answer.status == 404 and "not_found" in expected:
        return []
    if answer.status != 200:
        return [f"answered {answer.shown()}; expected 200"]
    status = answer.field("status")
    if status not in STATUSES:
        return [f"status {status!r} is not one of {sorted(STATUSES)}"]
    if status not in expected:
        return [f"status {status!r}; expected {' or '.join(sorted(expected))}"]
    return []


async def status_cases(run: Run, credited: str = "credit", rejected: str = "rejected") -> None:
    """GET /credits/{receipt_id} in every state the provider can be in; `credited` and
    `rejected` name the receipts sent before that should be in those states by now."""
    o = run.options
    good_id, bad_id = run.receipt(credited), run.receipt(rejected)
    if o.adapter == "batch_file":
        run.report.add("status.pending", Outcome.SKIP, "batch results are read after the file")
        answer = await _status(run, good_id)
    elif o.ack_mode == "pull":
        run.report.add("status.pending", Outcome.SKIP, "pull: acknowledged before it is asked")
        answer = await _status(run, good_id)
    elif run.asynchronous:
        early = await _status(run, good_id)
        run.report.check("status.pending", _status_problems(early, {"pending", "credited"}))
        answer = early
        deadline = asyncio.get_running_loop().time() + o.timeout_s
        while answer.field("status") == "pending" and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)
            answer = await _status(run, good_id)
    else:
        run.report.add("status.pending", Outcome.SKIP, "sync providers credit before answering")
        answer = await _status(run, good_id)
    problems = _status_problems(answer, {"credited"})
    if not problems:
        problems = _reference_problem(answer)
        if (
            not problems
            and run.credited_reference
            and (answer.field("provider_reference") != run.credited_reference)
        ):
            problems.append(
                f"provider_reference {answer.field('provider_reference')!r} differs from the "
                f"credit's answer {run.credited_reference!r}"
            )
    run.report.check("status.credited", problems)
    refused = await _status(run, bad_id)
    deadline = asyncio.get_running_loop().time() + o.timeout_s
    while refused.field("status") == "pending" and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.5)
        refused = await _status(run, bad_id)
    run.report.check("status.rejected", _status_problems(refused, {"rejected"}))
    unknown = await _status(run, f"conf-{o.run_id}-never-sent-{secrets.token_hex(3)}")
    run.report.check("status.not_found", _status_problems(unknown, {"not_found"}))


async def rate_limit_case(run: Run) -> None:
    """A burst of signed requests at once: any 429 must say when to come back."""
    o = run.options
    body = (
        b'{"account_id":"'
        + o.account_id.encode()
        + b'","security_code":"'
        + (o.security_code.encode())
        + b'"}'
    )
    await asyncio.gather(
        *(
            run.client.send_raw(
                "POST",
                "/accounts/verify",
                body,
                {"content-type": "application/json", **sign_headers(o.signing_secret, body)},
            )
            for _ in range(o.burst)
        )
    )
    seen = run.client.rate_limited
    if not seen:
        run.report.add(
            "rate_limit.retry_after",
            Outcome.SKIP,
            f"no 429 in this run ({o.burst} requests at once); raise --burst to see one",
        )
        return
    problems = [p for s in seen if (p := retry_after_problem(s, o.max_retry_after_s))]
    run.report.check(
        "rate_limit.retry_after",
        sorted(set(problems))[:3],
        f"{len(seen)} answers 429, each with a usable Retry-After",
    )
