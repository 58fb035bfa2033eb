"""One run of the kit against a provider: every case, in an order where each builds on the
answers before it (the credit that status checks look up, the webhooks it causes)."""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import replace

import httpx

from conformance.acknowledgements import pull_cases, webhook_cases
from conformance.batch import batch_cases
from conformance.cases import (
    Run,
    account_cases,
    credit_cases,
    rate_limit_case,
    signature_cases,
    status_cases,
)
from conformance.client import ProtocolClient
from conformance.options import CheckOptions
from conformance.receiver import WebhookReceiver, serving
from conformance.report import Outcome, Report

SERVED_MODES = ("webhook", "pull")  # the provider calls the kit: webhooks, the pull API


async def run_checks(options: CheckOptions) -> Report:
    if not options.run_id:
        options = replace(options, run_id=secrets.token_hex(4))
    report = Report(target=f"{options.base_url} ({options.adapter}, {options.ack_mode})")
    receiver = None
    if options.webhook_secrets or options.ack_mode == "pull":
        receiver = WebhookReceiver(options.webhook_secrets)
    async with contextlib.AsyncExitStack() as stack:
        if receiver is not None and options.ack_mode in SERVED_MODES:
            await stack.enter_async_context(serving(receiver, options.listen))
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=options.base_url.rstrip("/"), timeout=15)
        )
        client = ProtocolClient(http, options.signing_secret, options.max_retry_after_s)
        run = Run(options, client, report, receiver)
        try:
            await signature_cases(run)
            await account_cases(run)
            if options.adapter == "batch_file":
                for name in ("credits.credited", "credits.accepted", "credits.rejected"):
                    report.add(name, Outcome.SKIP, "batch_file providers take credits as files")
                for name in ("idempotency.same_body", "idempotency.other_body"):
                    report.add(name, Outcome.SKIP, "batch_file: one result per receipt, below")
                await batch_cases(run)
                await status_cases(run, credited="batch-1", rejected="batch-closed")
                await webhook_cases(run, None)
            elif options.ack_mode == "pull":
                await pull_cases(run)
                await status_cases(run)
                await webhook_cases(run, None)
                await batch_cases(run)
            else:
                _, rejected = await credit_cases(run)
                await status_cases(run)
                await webhook_cases(run, rejected)
                await batch_cases(run)
            await rate_limit_case(run)
        except httpx.HTTPError as exc:
            report.add("connection", Outcome.FAIL, f"{type(exc).__name__}: {exc}")
    return report
