"""Provider failures as data: a stable code, a kind that decides what the hub does next, and a
message for support staff in Japanese and English (issue 17).

Minimal version written on the carrier branch (H1) against the agreed interface; the providers
branch (H2) owns this module and its per-adapter classification tables, and its version wins.

Annotations are evaluated (no `from __future__ import annotations`): the payload converter
resolves these types inside the workflow sandbox, where string annotations do not resolve.
"""

from dataclasses import dataclass
from typing import Literal

Kind = Literal["transient", "permanent", "pause"]


@dataclass(frozen=True)
class ProviderFailure:
    code: str
    kind: Kind
    message_ja: str
    message_en: str
    detail: str
    retry_after_s: float | None = None


_MESSAGES: dict[str, tuple[Kind, str, str]] = {
    "provider_unavailable": ("transient", "事業者が応答しません", "the provider is unavailable"),
    "provider_rate_limited": (
        "transient",
        "事業者の受付上限に達しました",
        "the provider limits the request rate",
    ),
    "provider_timeout": ("transient", "事業者の応答が時間切れです", "the provider timed out"),
    "provider_unknown_status": (
        "transient",
        "事業者が不明な状態を返しました",
        "the provider answered an unknown status",
    ),
    "provider_auth_failed": ("pause", "事業者の認証に失敗しました", "authentication failed"),
    "provider_misconfigured": (
        "pause",
        "事業者の設定に誤りがあります",
        "the provider is misconfigured",
    ),
    "provider_paused": (
        "pause",
        "事業者の受付は一時停止中です",
        "the provider's queue is paused",
    ),
    "account_closed": ("permanent", "口座は解約されています", "the account is closed"),
    "account_not_found": ("permanent", "口座が見つかりません", "the account does not exist"),
    "provider_rejected": ("permanent", "事業者が要求を拒否しました", "the provider refused"),
}


def failure(code: str, detail: str, retry_after_s: float | None = None) -> ProviderFailure:
    kind, ja, en = _MESSAGES.get(code, _MESSAGES["provider_rejected"])
    return ProviderFailure(code, kind, ja, en, detail[:2000], retry_after_s)


def classify(adapter_style: str, error: BaseException) -> ProviderFailure:
    """One place that turns an adapter's exception into a failure the hub acts on."""
    from adapters.providers.contract import PermanentProviderError, TransientProviderError

    detail = str(error)
    if isinstance(error, TransientProviderError):
        if "(429)" in detail:
            return failure("provider_rate_limited", detail, error.retry_after_s)
        if "time-out" in detail:
            return failure("provider_timeout", detail, error.retry_after_s)
        return failure("provider_unavailable", detail, error.retry_after_s)
    if isinstance(error, PermanentProviderError):
        if "unknown credit status" in detail:
            return failure("provider_unknown_status", detail)
        if any(f"({status})" in detail for status in (401, 403)):
            return failure("provider_auth_failed", detail)
        if "(404)" in detail or "unknown provider" in detail:
            return failure("provider_misconfigured", detail)
        return failure("provider_rejected", detail)
    return failure("provider_unavailable", f"{type(error).__name__}: {detail}")
