"""What the kit needs to know about the provider under test."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class CheckOptions:
    base_url: str  # where the provider serves the Hub Provider Protocol
    signing_secret: str  # the secret the hub signs its requests with
    next_signing_secret: str = ""  # a second secret the provider accepts during rotation
    ack_mode: str = "sync"  # sync | webhook | pull: how the provider answers POST /credits
    adapter: str = "hub_rest"  # hub_rest | batch_file
    webhook_secrets: tuple[str, ...] = ()  # verify the provider's webhooks (one or two)
    # where the kit listens: the provider's webhooks, and the hub's provider API for pull
    listen: str = "127.0.0.1:8299"
    account_id: str = "conformance-active-1"  # an active test account at the provider
    security_code: str = "1234"  # its security code
    wrong_security_code: str = "0000"  # a code the provider must refuse for it
    closed_account_id: str = "closed-conformance-1"  # an account the provider knows as closed
    unknown_account_id: str = "unknown-conformance-1"  # an account the provider does not know
    measure_id: str = "msr_conformance"
    municipality_code: str = "131016"
    outbox_dir: Path | None = None  # batch_file: where the hub writes request files
    inbox_dir: Path | None = None  # batch_file: where the provider writes result files
    burst: int = 40  # requests sent at once to see the provider's 429 and its Retry-After
    timeout_s: float = 30.0  # how long to wait for webhooks and result files
    max_retry_after_s: float = 60.0  # a Retry-After longer than this is a failure
    run_id: str = field(default="")  # makes this run's receipt IDs unique; random when empty
