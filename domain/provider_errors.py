"""What a provider failure means, decided in one place per adapter style, as data.

Every failure of a provider call becomes a `ProviderFailure`: a stable `code` support staff and
operators read (with a message in Japanese and English), a `kind` the receipt carrier acts on,
the raw `detail` (one click away in the console) and the provider's `Retry-After`, if any.

- `transient`: the provider may answer differently later (time-out, 5xx, 429, an answer the hub
  cannot read, a status word it does not know); retried under the provider's policy, backing off
  to a cap, without end.
- `permanent`: this one request is wrong for this provider (a validation error, an idempotency
  key reused with another body, a closed account); retrying the same request cannot help.
- `pause`: the provider as a whole is misconfigured or refuses the hub (401, 403, an unknown
  route): every receipt would fail the same way, so repeated ones pause the provider's queue
  (`services/provider_pause.py`) instead of giving up on receipts one by one.

The tables below are the whole decision, the way Hyperswitch maps each connector's errors: an
adapter's exceptions carry facts (`reason`, `http_status`, `provider_code`, `retry_after_s`, the
body in their message) and `classify` looks them up. Pure: no I/O, no adapter imports, so the
workflow sandbox, the console and the tests can all use it.

Annotations are evaluated (no `from __future__ import annotations`): `ProviderFailure` travels
in activity results, and the payload converter resolves its types inside the workflow sandbox,
where string annotations do not resolve.
"""

from dataclasses import dataclass
from typing import Literal

Kind = Literal["transient", "permanent", "pause"]
KINDS: tuple[Kind, ...] = ("transient", "permanent", "pause")

# A provider is paused after this many `pause` failures in a row with no success in between.
PAUSE_AFTER_FAILURES = 3
DETAIL_LIMIT = 2000


@dataclass(frozen=True)
class ProviderFailure:
    code: str
    kind: Kind
    message_ja: str
    message_en: str
    detail: str
    retry_after_s: float | None = None

    def message(self, lang: str = "ja") -> str:
        return self.message_en if lang == "en" else self.message_ja

    @property
    def pauses_provider(self) -> bool:
        return self.kind == "pause"


@dataclass(frozen=True)
class FailureCode:
    """One code of the catalogue: its kind and what staff read."""

    code: str
    kind: Kind
    ja: str
    en: str


def _codes(*entries: FailureCode) -> dict[str, FailureCode]:
    return {e.code: e for e in entries}


# ----- the catalogue: every code a provider failure can carry ----------------------------------

CODES: dict[str, FailureCode] = _codes(
    FailureCode(
        "provider_unavailable",
        "transient",
        "決済事業者のサービスが応答しません（一時的な障害）。自動で再試行しています。",
        "The provider is unavailable (a temporary outage); the hub keeps retrying.",
    ),
    FailureCode(
        "provider_rate_limited",
        "transient",
        "決済事業者から呼び出し回数の制限を受けました。指定された間隔の後に再試行します。",
        "The provider is rate limiting the hub; retried after the interval it asked for.",
    ),
    FailureCode(
        "provider_timeout",
        "transient",
        "決済事業者が時間内に応答しませんでした。自動で再試行しています。",
        "The provider did not answer in time; the hub keeps retrying.",
    ),
    FailureCode(
        "provider_bad_response",
        "transient",
        "決済事業者の応答を読み取れませんでした。自動で再試行しています。",
        "The provider's answer could not be read; the hub keeps retrying.",
    ),
    FailureCode(
        "provider_unknown_status",
        "transient",
        "決済事業者がハブの知らない状態を返しました。状態の確認を続けます。",
        "The provider answered with a status the hub does not know; the hub keeps asking.",
    ),
    FailureCode(
        "provider_auth_failed",
        "pause",
        "決済事業者がハブの認証を拒否しました（401/403）。接続設定・鍵を確認してください。",
        "The provider refused the hub's credentials (401/403); check the keys and settings.",
    ),
    FailureCode(
        "provider_misconfigured",
        "pause",
        "決済事業者の接続設定が誤っています（存在しない宛先など）。設定を確認してください。",
        "The provider's configuration is wrong (an unknown route or address); check it.",
    ),
    FailureCode(
        "provider_paused",
        "pause",
        "この決済事業者は一時停止中です。運用者が再開するまで受取は待機します。",
        "The provider's queue is paused; receipts wait until an operator resumes it.",
    ),
    FailureCode(
        "provider_rejected",
        "permanent",
        "決済事業者がこの依頼を受け付けませんでした。依頼内容を確認してください。",
        "The provider refused this request; retrying the same request cannot help.",
    ),
    FailureCode(
        "provider_conflict",
        "permanent",
        "同じ受付番号が別の内容で使われていると決済事業者が応答しました。",
        "The provider says this receipt's key was already used with another request.",
    ),
    FailureCode(
        "account_closed",
        "permanent",
        "受取先のアカウントは解約または停止されています。",
        "The receiving account is closed or suspended.",
    ),
    FailureCode(
        "account_not_found",
        "permanent",
        "受取先のアカウントが決済事業者に見つかりません。",
        "The provider does not know the receiving account.",
    ),
    FailureCode(
        "provider_double_credit",
        "permanent",
        "決済事業者は却下と回答した後にこの受取を付与しました。その付与分は別の受取で既に付与済みです"
        "（二重付与）。照合と事業者への確認が必要です。",
        "The provider credited this receipt after rejecting it, and the grant was already "
        "credited through another receipt (a double credit): reconcile it with the provider.",
    ),
    FailureCode(
        "provider_error",
        "transient",
        "決済事業者との連携で想定外のエラーが起きました。自動で再試行しています。",
        "An unexpected error occurred calling the provider; the hub keeps retrying.",
    ),
)


def describe(code: str, lang: str = "ja") -> str:
    """The message of a stored code; an unknown code (from an older hub) is shown as itself."""
    entry = CODES.get(code)
    if entry is None:
        return code
    return entry.en if lang == "en" else entry.ja


def failure(code: str, detail: str = "", retry_after_s: float | None = None) -> ProviderFailure:
    """The failure of a known `code`; an unknown one falls back to `provider_error`."""
    entry = CODES.get(code) or CODES["provider_error"]
    return ProviderFailure(
        code=entry.code,
        kind=entry.kind,
        message_ja=entry.ja,
        message_en=entry.en,
        detail=detail[:DETAIL_LIMIT],
        retry_after_s=retry_after_s,
    )


# ----- the tables: per adapter style, from facts to a code -------------------------------------

# `reason` is what kind of thing went wrong before any HTTP status was known.
REASONS: dict[str, str] = {
    "timeout": "provider_timeout",
    "connection": "provider_unavailable",
    "invalid_json": "provider_bad_response",
    "not_an_object": "provider_bad_response",
    "no_token": "provider_bad_response",
    "unknown_status": "provider_unknown_status",
    "insecure_url": "provider_misconfigured",
    "unknown_provider": "provider_misconfigured",
    "unknown_adapter": "provider_misconfigured",
    "file_io": "provider_unavailable",
    # A permanent failure with no other fact (an unknown provider ID, a provider of the wrong
    # style for the call): the hub's own configuration.
    "config": "provider_misconfigured",
}

# The Hub Provider Protocol (SPEC §5). A 404 reaches here only where the protocol has no 404
# answer (`GET /credits/{id}`'s 404 is `not_found`, not a failure): an unknown route.
HUB_REST_STATUS: dict[int, str] = {
    400: "provider_rejected",
    401: "provider_auth_failed",
    403: "provider_auth_failed",
    404: "provider_misconfigured",
    405: "provider_misconfigured",
    408: "provider_timeout",
    409: "provider_conflict",
    410: "provider_misconfigured",
    422: "provider_rejected",
    425: "provider_unavailable",
    429: "provider_rate_limited",
    500: "provider_unavailable",
    501: "provider_misconfigured",
    502: "provider_unavailable",
    503: "provider_unavailable",
    504: "provider_timeout",
}

# PayLite's own error codes win over its HTTP status.
PAYLITE_CODES: dict[str, str] = {
    "PL-0401": "provider_auth_failed",  # still refused after a fresh token
    "PL-0404": "provider_misconfigured",  # unknown tenant: a wrong base URL or provider ID
    "PL-0429": "provider_rate_limited",
    "PL-0503": "provider_unavailable",
    "PL-1000": "provider_rejected",
    "PL-1403": "provider_rejected",  # a member's wrong PIN, not the hub's credentials
    "PL-1404": "account_not_found",
    "PL-2001": "account_closed",
    "PL-2002": "account_not_found",
    "PL-2003": "account_closed",
    "PL-3009": "provider_conflict",
}
# PayLite's HTTP statuses when it gives no code of its own: only its OAuth token endpoint does
# that (RFC 6749 errors), where a 400 is the hub's grant request or client, not one top-up.
PAYLITE_STATUS: dict[int, str] = {**HUB_REST_STATUS, 400: "provider_misconfigured"}

STATUS_TABLES: dict[str, dict[int, str]] = {
    "hub_rest": HUB_REST_STATUS,
    "batch_file": HUB_REST_STATUS,  # its online calls are the Hub Provider Protocol's
    "paylite": PAYLITE_STATUS,
}
PROVIDER_CODE_TABLES: dict[str, dict[str, str]] = {"paylite": PAYLITE_CODES}

# A provider's reason for rejecting a credit (an outcome, not an error), as a code.
REJECTION_REASONS: dict[str, str] = {
    "account_closed": "account_closed",
    "account_suspended": "account_closed",
    "closed": "account_closed",
    "account_unknown": "account_not_found",
    "account_not_found": "account_not_found",
    "unknown_account": "account_not_found",
}


def _by_status(style: str, status: int) -> str:
    table = STATUS_TABLES.get(style, HUB_REST_STATUS)
    if status in table:
        return table[status]
    if status >= 500:
        return "provider_unavailable"
    if status >= 400:
        return "provider_rejected"
    return "provider_bad_response"  # a 1xx/2xx/3xx the call did not expect


def code_for(
    adapter_style: str,
    *,
    reason: str | None = None,
    http_status: int | None = None,
    provider_code: str | None = None,
) -> str:
    """The code for these facts: the provider's own code first, then the HTTP status, then the
    reason; `provider_error` when nothing is known."""
    codes = PROVIDER_CODE_TABLES.get(adapter_style, {})
    if provider_code is not None and provider_code in codes:
        return codes[provider_code]
    if http_status is not None:
        return _by_status(adapter_style, http_status)
    if reason is not None and reason in REASONS:
        return REASONS[reason]
    return "provider_error"


def classify(adapter_style: str, error: BaseException) -> ProviderFailure:
    """The failure an exception of an adapter of `adapter_style` stands for.

    Reads the facts adapters attach (`reason`, `http_status`, `provider_code`,
    `retry_after_s`); an exception without them (a time-out of the event loop, a bug) is still
    classified, never raised again.
    """
    reason = getattr(error, "reason", None) or getattr(error, "fallback_reason", None)
    http_status = getattr(error, "http_status", None)
    provider_code = getattr(error, "provider_code", None)
    retry_after = getattr(error, "retry_after_s", None)
    if reason is None and isinstance(error, TimeoutError):
        reason = "timeout"
    elif reason is None and isinstance(error, ConnectionError):
        reason = "connection"
    code = code_for(
        adapter_style,
        reason=reason if isinstance(reason, str) else None,
        http_status=http_status if isinstance(http_status, int) else None,
        provider_code=provider_code if isinstance(provider_code, str) else None,
    )
    detail = f"{type(error).__name__}: {error}"
    return failure(
        code,
        detail,
        retry_after_s=float(retry_after) if isinstance(retry_after, int | float) else None,
    )


def rejection(reason: str | None) -> ProviderFailure:
    """A provider's rejection of a credit (`credit.rejected`, 422, a FAILED top-up) as a code:
    a closed or unknown account, or the provider's refusal of this request."""
    code = REJECTION_REASONS.get((reason or "").strip().lower(), "provider_rejected")
    return failure(code, reason or "rejected")
