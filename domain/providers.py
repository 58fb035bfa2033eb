"""A payment provider's operating policy: how it acknowledges, how fast, how to retry it.

Annotations are evaluated (no `from __future__ import annotations`): the payload converter
resolves these types inside the workflow sandbox, where string annotations do not resolve.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from domain.errors import RuleViolation


def provider_queue(provider_id: str) -> str:
    """Each provider's calls run on a task queue of their own, with that provider's rate limit."""
    return f"provider-{provider_id}"


def dispatch_queue(provider_id: str) -> str:
    """A batch-file provider's dispatcher (its workflow and its rounds) runs on a queue of its
    own: a round never waits behind the provider's credit calls or the hub's application
    workflows, which a wave of receipts fills with tens of thousands of tasks."""
    return f"dispatch-{provider_id}"


class AckMode(StrEnum):
    SYNC = "sync"
    WEBHOOK = "webhook"
    PULL = "pull"


ADAPTERS = frozenset({"hub_rest", "batch_file", "paylite"})


@dataclass(frozen=True)
class RetrySettings:
    initial_interval_s: float = 1.0
    backoff: float = 2.0
    max_interval_s: float = 60.0
    max_attempts: int = 10


@dataclass(frozen=True)
class ProviderPolicy:
    ack_mode: str = AckMode.SYNC.value
    ack_deadline_s: int = 3600
    rate_limit_per_s: float = 50.0
    retry: RetrySettings = field(default_factory=RetrySettings)


def _number(config: dict[str, Any], key: str, default: float, *, minimum: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleViolation("invalid_provider_config", f"{key} must be a number")
    if value < minimum:
        raise RuleViolation("invalid_provider_config", f"{key} must be at least {minimum}")
    return float(value)


def policy_from_config(config: dict[str, Any]) -> ProviderPolicy:
    """Read and check the policy part of a provider's configuration (SPEC §5 operator API)."""
    ack_mode = config.get("ack_mode", AckMode.SYNC.value)
    if ack_mode not in {m.value for m in AckMode}:
        raise RuleViolation("invalid_provider_config", "ack_mode must be sync, webhook or pull")
    retry = config.get("retry") or {}
    if not isinstance(retry, dict):
        raise RuleViolation("invalid_provider_config", "retry must be an object")
    defaults = RetrySettings()
    settings = RetrySettings(
        initial_interval_s=_number(
            retry, "initial_interval_s", defaults.initial_interval_s, minimum=0.01
        ),
        backoff=_number(retry, "backoff", defaults.backoff, minimum=1.0),
        max_interval_s=_number(retry, "max_interval_s", defaults.max_interval_s, minimum=0.01),
        max_attempts=int(_number(retry, "max_attempts", defaults.max_attempts, minimum=1)),
    )
    if settings.max_interval_s < settings.initial_interval_s:
        raise RuleViolation(
            "invalid_provider_config", "retry.max_interval_s must not be below initial_interval_s"
        )
    return ProviderPolicy(
        ack_mode=ack_mode,
        ack_deadline_s=int(_number(config, "ack_deadline_s", 3600, minimum=1)),
        rate_limit_per_s=_number(config, "rate_limit_per_s", 50.0, minimum=0.1),
        retry=settings,
    )


@dataclass(frozen=True)
class BatchCutoff:
    """When a `batch_file` provider's waiting credit requests become a file: enough records, or
    the oldest has waited long enough. `poll_s` is how often the dispatcher looks."""

    records: int = 1000
    seconds: float = 60.0
    max_records: int = 10000
    poll_s: float = 5.0


def batch_cutoff_from_config(config: dict[str, Any]) -> BatchCutoff:
    cutoff = BatchCutoff(
        records=int(_number(config, "cutoff_records", BatchCutoff.records, minimum=1)),
        seconds=_number(config, "cutoff_s", BatchCutoff.seconds, minimum=0.0),
        max_records=int(_number(config, "max_batch_records", BatchCutoff.max_records, minimum=1)),
        poll_s=_number(config, "poll_s", BatchCutoff.poll_s, minimum=0.05),
    )
    if cutoff.max_records < cutoff.records:
        raise RuleViolation(
            "invalid_provider_config", "max_batch_records must not be below cutoff_records"
        )
    return cutoff


def next_batch_size(pending: int, oldest_age_s: float | None, cutoff: BatchCutoff) -> int:
    """How many waiting requests go into the next file now; 0 while the cut-off is not reached."""
    if pending <= 0:
        return 0
    if pending >= cutoff.records or (oldest_age_s is not None and oldest_age_s >= cutoff.seconds):
        return min(pending, cutoff.max_records)
    return 0


_REQUIRED_TEXT = {
    "batch_file": ("base_url", "signing_secret", "outbox_dir", "inbox_dir"),
    "paylite": ("base_url", "client_id", "client_secret"),
}


def check_adapter_fields(adapter: str, config: dict[str, Any]) -> None:
    """What each adapter style needs beyond the common policy (operator API, SPEC §5)."""
    for required in _REQUIRED_TEXT.get(adapter, ()):
        if not isinstance(config.get(required), str) or not config[required]:
            raise RuleViolation("invalid_provider_config", f"{adapter} needs {required}")
    if adapter == "batch_file":
        batch_cutoff_from_config(config)
    if adapter == "paylite":
        _number(config, "yen_per_point", 1, minimum=1)
