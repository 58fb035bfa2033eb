"""What platform operators send and read (SPEC §5 Operator)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from api.free_text import FreeText
from api.schemas.common import (
    EXAMPLE_SETTLEMENT_REPORT,
    EXAMPLE_SETTLEMENT_TOTALS,
    Body,
    LocalizedText,
    Page,
    SettlementTotals,
    Strict,
    Timestamp,
    example,
)
from domain.mykeys import REASON_MAX_LENGTH, MyKeyStatus
from domain.provider_errors import CODES
from domain.settlement import month_digest, sha256_hex
from storage.keys import Role


def _strict_example(*values: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(values)})


class MunicipalityBody(Strict):
    model_config = _strict_example({"code": "131016", "name": "千代田区"})

    code: str = Field(pattern=r"^[0-9]{6}$", description="全国地方公共団体コード with check digit")
    name: FreeText = Field(min_length=1, max_length=200)


class Municipality(Body):
    model_config = example(code="131016", name="千代田区", created_at="2026-11-27T00:00:00+00:00")

    code: str
    name: str
    created_at: Timestamp


class MunicipalityPage(Page[Municipality]):
    """Municipalities by code."""


_PROVIDER_CONFIG = {
    "base_url": "https://sandbox.paysim.example/hub",
    "signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "webhook_secrets": ["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"],
    "ack_mode": "webhook",
    "ack_deadline_s": 3600,
    "rate_limit_per_s": 50,
    "retry": {"initial_interval_s": 1, "backoff": 2, "max_interval_s": 300, "max_attempts": 20},
}


class ProviderBody(Strict):
    """A provider and its adapter's configuration (for `hub_rest`: SPEC §5). Secrets are
    write-only: they are kept apart and only their names are shown."""

    model_config = _strict_example(
        {
            "provider_id": "paysim",
            "name": "PaySim",
            "adapter": "hub_rest",
            "config": _PROVIDER_CONFIG,
        }
    )

    provider_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")
    name: FreeText = Field(min_length=1, max_length=200)
    adapter: str = Field(min_length=1, max_length=32, description="hub_rest | batch_file | paylite")
    config: dict[str, Any] = Field(default_factory=dict)


class ProviderPatch(Strict):
    """A new name or configuration; secrets left out of `config` are kept."""

    model_config = _strict_example({"config": {"rate_limit_per_s": 20}})

    name: FreeText | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None


class Provider(Body):
    """A provider as configured, without its secrets (their names are in `secrets_set`), and
    whether its queue runs: `paused` when the hub paused it after repeated authentication or
    configuration failures (401, 403, an unknown route), or an operator did; its receipts wait
    meanwhile, none is credited or given up, until an operator resumes it."""

    model_config = example(
        provider_id="paysim",
        name="PaySim",
        adapter="hub_rest",
        config={k: v for k, v in _PROVIDER_CONFIG.items() if "secret" not in k},
        secrets_set=["signing_secret", "webhook_secrets"],
        created_at="2026-11-27T00:00:00+00:00",
        status="paused",
        paused_reason="provider_auth_failed",
        paused_message={
            "ja": CODES["provider_auth_failed"].ja,
            "en": CODES["provider_auth_failed"].en,
        },
        paused_detail="PermanentProviderError: provider refused the request (401): "
        '{"error":"bad key"}',
        paused_at="2026-12-06T01:00:00+00:00",
        paused_by="hub",
        waiting_receipts=42,
    )

    provider_id: str
    name: str
    adapter: str
    config: dict[str, Any] = Field(description="the adapter's settings, secrets left out")
    secrets_set: list[str]
    created_at: Timestamp
    status: Literal["active", "paused"] = Field(
        "active", description="paused: its receipts wait until an operator resumes it"
    )
    paused_reason: str | None = Field(
        None,
        description="when paused, a stable code: provider_auth_failed, provider_misconfigured "
        "(paused by the hub) or operator_paused",
    )
    paused_message: LocalizedText | None = Field(None, description="the reason, to read")
    paused_detail: str | None = Field(
        None, description="the provider's raw answer that paused it, or the operator's reason"
    )
    paused_at: Timestamp | None = None
    paused_by: str | None = Field(None, description="hub, or the operator's key")
    waiting_receipts: int | None = Field(
        None, description="open receipts of this provider (one provider's view only)"
    )


class PauseBody(Strict):
    model_config = _strict_example({"reason": "事業者側の鍵の漏えい調査のため一時停止"})

    reason: FreeText = Field(min_length=1, max_length=500)


class ResumeBody(Strict):
    model_config = _strict_example({"note": "事業者が署名鍵を再発行、設定を更新済み"})

    note: FreeText | None = Field(None, max_length=2000)


class ProviderPage(Page[Provider]):
    """Providers by ID."""


class PaymentServiceBody(Strict):
    model_config = _strict_example(
        {"payment_service_id": "paysim-pay", "name": "PaySim ペイ", "provider_id": "paysim"}
    )

    payment_service_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")
    name: FreeText = Field(min_length=1, max_length=200)
    provider_id: str = Field(min_length=1, max_length=64)


class PaymentService(Body):
    model_config = example(
        payment_service_id="paysim-pay", name="PaySim ペイ", provider_id="paysim"
    )

    payment_service_id: str
    name: str
    provider_id: str


class PaymentServicePage(Page[PaymentService]):
    """Payment services by ID."""


class ApiKeyBody(Strict):
    """A key with one role; municipality and provider keys need a scope (their code or ID)."""

    model_config = _strict_example(
        {"role": "municipality", "scope": "131016", "label": "千代田区 ポイント担当"}
    )

    role: Role
    scope: str | None = Field(None, max_length=64)
    label: FreeText | None = Field(None, max_length=200)


class CreatedApiKey(Body):
    """The key itself is shown this once; only its hash is kept."""

    model_config = example(
        key_id="key_01J9ZT…", key="hubk_3q9V…", role="municipality", scope="131016"
    )

    key_id: str
    key: str
    role: Role
    scope: str | None


class ApiKey(Body):
    """An API key, never the key itself."""

    model_config = example(
        key_id="key_01J9ZT…",
        role="municipality",
        scope="131016",
        label="千代田区 ポイント担当",
        created_at="2026-11-27T00:00:00+00:00",
        last_used_at="2026-11-27T03:00:00+00:00",
        revoked_at=None,
    )

    key_id: str
    role: Role
    scope: str | None
    label: str | None
    created_at: Timestamp
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None


class ApiKeyPage(Page[ApiKey]):
    """API keys, oldest first."""


class ReasonBody(Strict):
    model_config = _strict_example({"reason": "不正利用の疑い（警察からの照会）"})

    reason: FreeText = Field(min_length=1, max_length=REASON_MAX_LENGTH)


class MyKeyStatusChange(Body):
    model_config = example(
        mykey_id="7K3M9Q2X",
        status="suspended",
        previous_status="active",
        changed_at="2026-11-27T05:00:00+00:00",
    )

    mykey_id: str
    status: MyKeyStatus
    previous_status: MyKeyStatus
    changed_at: Timestamp


class MyKeyRevocation(MyKeyStatusChange):
    """Irreversible: every point not yet credited is forfeited."""

    model_config = example(
        mykey_id="7K3M9Q2X",
        status="revoked",
        previous_status="suspended",
        changed_at="2026-11-27T05:00:00+00:00",
        forfeited_grant_ids=["app_7Q2…-g1"],
        signalled_workflows=1,
    )

    forfeited_grant_ids: list[str]
    signalled_workflows: int


class BoundCertificate(Body):
    serial_hex: str
    predecessor_serial_hex: str | None
    not_before: Timestamp
    not_after: Timestamp
    bound_at: Timestamp


class StatusHistoryEntry(Body):
    from_status: MyKeyStatus
    to_status: MyKeyStatus
    reason: str
    actor: str
    at: Timestamp


class MyKeyOverview(Body):
    """A MyKey ID, the certificates bound to it, and every status change with its reason."""

    model_config = example(
        mykey_id="7K3M9Q2X",
        status="active",
        issued_at="2026-11-27T03:00:00+00:00",
        status_changed_at=None,
        certificates=[
            {
                "serial_hex": "3a9f…",
                "predecessor_serial_hex": None,
                "not_before": "2026-11-27T01:00:00+00:00",
                "not_after": "2031-11-27T01:00:00+00:00",
                "bound_at": "2026-11-27T03:00:00+00:00",
            }
        ],
        history=[],
    )

    mykey_id: str
    status: MyKeyStatus
    issued_at: Timestamp
    status_changed_at: Timestamp | None
    certificates: list[BoundCertificate]
    history: list[StatusHistoryEntry]


class AuditEntry(Body):
    id: int
    seq: int | None = Field(description="the chain index; null until sealed (within seconds)")
    at: Timestamp
    actor: str
    action: str
    object_type: str
    object_id: str
    outcome: str
    request_id: str | None
    detail: dict[str, Any] | None
    hash: str | None


class AuditPage(Page[AuditEntry]):
    """Audit entries, newest first; `total` counts every match, not just this page."""

    model_config = example(
        items=[
            {
                "id": 42,
                "seq": 42,
                "at": "2026-11-27T03:05:00+00:00",
                "actor": "resident:7K3M9Q2X",
                "action": "POST /v1/me/receipts",
                "object_type": "receipt",
                "object_id": "app_7Q2…-g1-r1",
                "outcome": "202",
                "request_id": "req_5c1d…",
                "detail": None,
                "hash": "b4c1…",
            }
        ],
        next_cursor="YzE6MTAw",
        total=120,
    )

    total: int


class AuditVerification(Body):
    """The chain recomputed from index 1: `first_broken` names the first index that fails."""

    model_config = example(
        ok=True,
        checked=120,
        head_seq=120,
        first_broken=None,
        problem=None,
        unsealed=0,
        sealed_now=3,
    )

    ok: bool
    checked: int
    head_seq: int
    first_broken: int | None
    problem: str | None
    unsealed: int
    sealed_now: int


class PayloadJson(Body):
    """A payload in the proto3 JSON form Temporal's codec server protocol uses."""

    metadata: dict[str, str] = Field(default_factory=dict, description="values base64")
    data: str = Field("", description="base64")


class Payloads(Body):
    """Payloads for Temporal's remote codec (`/encode`, `/decode`)."""

    model_config = example(
        payloads=[{"metadata": {"encoding": "YmluYXJ5L3BsYWlu"}, "data": "aGVsbG8="}]
    )

    payloads: list[PayloadJson] = Field(max_length=1000)


# ----- closing a month's settlement (精算, SPEC §7) ---------------------------------------------


class SettlementCloseBody(Strict):
    """`force` closes a month with breaks still open; it needs a `note` saying why."""

    model_config = _strict_example(
        {},
        {
            "force": True,
            "note": "事業者の回答待ちの差異1件は翌月に調整する（自治体と合意済み）",
        },
    )

    force: bool = False
    note: FreeText | None = Field(None, max_length=2000)


_REPORT_SHA256 = sha256_hex(EXAMPLE_SETTLEMENT_REPORT)
_REPORT = {
    "municipality_code": "131016",
    "report_sha256": _REPORT_SHA256,
    "totals": EXAMPLE_SETTLEMENT_TOTALS.as_dict(),
}


class MunicipalityReport(Body):
    """One municipality's frozen report: its CSV's SHA-256 and its totals."""

    model_config = example(**_REPORT)

    municipality_code: str
    report_sha256: str
    totals: SettlementTotals


class ClosedSettlement(Body):
    """A closed month: every municipality's report frozen with its checksum."""

    model_config = example(
        month="2026-11",
        status="closed",
        closed_at="2026-12-03T01:00:00+00:00",
        closed_by="operator:key_32010db412cf5c47f7d4",
        forced=False,
        note=None,
        open_breaks=0,
        report_sha256=month_digest({"131016": _REPORT_SHA256}),
        reports=[_REPORT],
    )

    month: str
    status: str = "closed"
    closed_at: str
    closed_by: str
    forced: bool
    note: str | None
    open_breaks: int = Field(description="breaks still open when the month was closed")
    report_sha256: str = Field(description="over every municipality's report SHA-256")
    reports: list[MunicipalityReport]
