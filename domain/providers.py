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
