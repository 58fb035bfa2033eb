"""`mph provider-check`: run the Hub Provider Protocol's cases against a provider's own
implementation and print a pass or a reason per case; exit 1 when any case fails."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from conformance.options import CheckOptions


def provider_check(
    base_url: Annotated[str, typer.Option(help="where the provider serves the protocol")],
    signing_secret: Annotated[str, typer.Option(help="the secret the hub signs requests with")],
    next_signing_secret: Annotated[
        str, typer.Option(help="a second secret the provider accepts while the hub rotates")
    ] = "",
    ack_mode: Annotated[str, typer.Option(help="sync | webhook | pull")] = "sync",
    adapter: Annotated[str, typer.Option(help="hub_rest | batch_file")] = "hub_rest",
    webhook_secret: Annotated[
        list[str] | None, typer.Option(help="verifies the provider's webhooks (one or two)")
    ] = None,
    listen: Annotated[
        str,
        typer.Option(
            help="host:port where the kit listens: webhooks, and the hub's pull API for pull"
        ),
    ] = "127.0.0.1:8299",
    account: Annotated[str, typer.Option(help="an active test account")] = "conformance-active-1",
    security_code: Annotated[str, typer.Option(help="its security code")] = "1234",
    wrong_security_code: Annotated[str, typer.Option(help="a code it must refuse")] = "0000",
    closed_account: Annotated[
        str, typer.Option(help="an account the provider knows as closed")
    ] = "closed-conformance-1",
    unknown_account: Annotated[
        str, typer.Option(help="an account the provider does not know")
    ] = "unknown-conformance-1",
    outbox: Annotated[
        Path | None, typer.Option(help="batch_file: where the hub writes request files")
    ] = None,
    inbox: Annotated[
        Path | None, typer.Option(help="batch_file: where the provider writes result files")
    ] = None,
    burst: Annotated[int, typer.Option(help="requests sent at once to see a 429")] = 40,
    timeout: Annotated[float, typer.Option(help="seconds to wait for webhooks and files")] = 30,
) -> None:
    """Check a provider's Hub Provider Protocol implementation (signatures, idempotency,
    accounts, credits, statuses, 429, webhooks, batch files)."""
    from conformance.runner import run_checks

    if ack_mode not in ("sync", "webhook", "pull") or adapter not in ("hub_rest", "batch_file"):
        raise typer.BadParameter("--ack-mode is sync|webhook|pull, --adapter hub_rest|batch_file")
    options = CheckOptions(
        base_url=base_url,
        signing_secret=signing_secret,
        next_signing_secret=next_signing_secret,
        ack_mode=ack_mode,
        adapter=adapter,
        webhook_secrets=tuple(webhook_secret or ()),
        listen=listen,
        account_id=account,
        security_code=security_code,
        wrong_security_code=wrong_security_code,
        closed_account_id=closed_account,
        unknown_account_id=unknown_account,
        outbox_dir=outbox,
        inbox_dir=inbox,
        burst=burst,
        timeout_s=timeout,
    )
    report = asyncio.run(run_checks(options))
    typer.echo(report.render(), nl=False)
    raise typer.Exit(0 if report.ok else 1)
