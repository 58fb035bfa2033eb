"""Every provider failure becomes one stable code, decided by each adapter style's table.

The adapters run against `httpx.MockTransport` answers (a unit test: no network), so what is
checked is the whole path from an HTTP answer to the code support staff read.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from adapters.providers.contract import (
    REFERENCE_MAX,
    CreditRequest,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    bounded_reference,
    classify_http_failure,
)
from adapters.providers.hub_rest import HubRestAdapter, HubRestConfig
from adapters.providers.paylite import PayLiteAdapter, PayLiteConfig
from adapters.signing import new_secret
from domain.provider_errors import (
    CODES,
    KINDS,
    ProviderFailure,
    classify,
    describe,
    failure,
    rejection,
)

REQUEST = CreditRequest("g-1-r1", "acct-1", 500, "m-1", "131016")
Handler = Callable[[httpx.Request], httpx.Response]


def hub_rest(handler: Handler) -> HubRestAdapter:
    adapter = HubRestAdapter(
        "prov", HubRestConfig(base_url="http://p", signing_secret=new_secret())
    )
    adapter._http = httpx.AsyncClient(base_url="http://p", transport=httpx.MockTransport(handler))
    return adapter


def paylite(handler: Handler) -> PayLiteAdapter:
    def with_token(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 600})
        return handler(request)

    adapter = PayLiteAdapter(
        "pl", PayLiteConfig(base_url="http://p", client_id="c", client_secret="x")
    )
    adapter._http = httpx.AsyncClient(
        base_url="http://p", transport=httpx.MockTransport(with_token)
    )
    return adapter


async def failure_of(adapter: HubRestAdapter | PayLiteAdapter, style: str) -> ProviderFailure:
    with pytest.raises(ProviderError) as raised:
        await adapter.credit(REQUEST)
    await adapter.aclose()
    return classify(style, raised.value)


def test_every_code_has_a_kind_and_both_messages() -> None:
    for code, entry in CODES.items():
        assert entry.code == code
        assert entry.kind in KINDS
        assert entry.ja and entry.en and entry.ja != entry.en
    required = {
        "provider_unavailable",
        "provider_rate_limited",
        "provider_auth_failed",
        "provider_misconfigured",
        "provider_unknown_status",
        "provider_timeout",
        "account_closed",
        "account_not_found",
        "provider_rejected",
    }
    assert required <= set(CODES)


@pytest.mark.parametrize(
    ("status", "code", "kind", "error_type"),
    [
        (400, "provider_rejected", "permanent", PermanentProviderError),
        (401, "provider_auth_failed", "pause", PermanentProviderError),
        (403, "provider_auth_failed", "pause", PermanentProviderError),
        (404, "provider_misconfigured", "pause", PermanentProviderError),
        (405, "provider_misconfigured", "pause", PermanentProviderError),
        (408, "provider_timeout", "transient", TransientProviderError),
        (409, "provider_conflict", "permanent", PermanentProviderError),
        (418, "provider_rejected", "permanent", PermanentProviderError),
        (422, "provider_rejected", "permanent", PermanentProviderError),
        (425, "provider_unavailable", "transient", TransientProviderError),
        (429, "provider_rate_limited", "transient", TransientProviderError),
        (500, "provider_unavailable", "transient", TransientProviderError),
        (501, "provider_misconfigured", "pause", PermanentProviderError),
        (502, "provider_unavailable", "transient", TransientProviderError),
        (503, "provider_unavailable", "transient", TransientProviderError),
        (504, "provider_timeout", "transient", TransientProviderError),
        (599, "provider_unavailable", "transient", TransientProviderError),
        (302, "provider_bad_response", "transient", TransientProviderError),
    ],
)
async def test_hub_rest_statuses(
    status: int, code: str, kind: str, error_type: type[ProviderError]
) -> None:
    body = {"error": "nope", "status": "weird"}
    adapter = hub_rest(lambda _: httpx.Response(status, json=body, headers={"retry-after": "7"}))
    with pytest.raises(error_type) as raised:
        await adapter.credit(REQUEST)
    await adapter.aclose()
    got = classify("hub_rest", raised.value)
    assert (got.code, got.kind) == (code, kind)
    assert str(status) in got.detail and "nope" in got.detail  # the raw answer, one click away
    assert got.retry_after_s == 7.0
    assert got.message_ja == CODES[code].ja and got.message_en == CODES[code].en
    # batch_file's online calls are the same protocol, classified the same
    assert classify("batch_file", raised.value).code == code


async def test_hub_rest_failures_before_any_status() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    assert (await failure_of(hub_rest(timeout), "hub_rest")).code == "provider_timeout"
    assert (await failure_of(hub_rest(refused), "hub_rest")).code == "provider_unavailable"
    html = hub_rest(lambda _: httpx.Response(200, text="<html>maintenance</html>"))
    got = await failure_of(html, "hub_rest")
    assert (got.code, got.kind) == ("provider_bad_response", "transient")
    assert "maintenance" in got.detail
    listed = hub_rest(lambda _: httpx.Response(200, json=["credited"]))
    assert (await failure_of(listed, "hub_rest")).code == "provider_bad_response"


async def test_an_unknown_status_word_is_its_own_code_and_keeps_being_asked() -> None:
    adapter = hub_rest(lambda _: httpx.Response(200, json={"status": "settling"}))
    with pytest.raises(TransientProviderError) as raised:
        await adapter.credit_status("g-1-r1")
    await adapter.aclose()
    got = classify("hub_rest", raised.value)
    assert (got.code, got.kind) == ("provider_unknown_status", "transient")
    assert "settling" in got.detail


@pytest.mark.parametrize(
    ("status", "error_code", "code", "kind"),
    [
        (401, "PL-0401", "provider_auth_failed", "pause"),
        (404, "PL-0404", "provider_misconfigured", "pause"),
        (429, "PL-0429", "provider_rate_limited", "transient"),
        (503, "PL-0503", "provider_unavailable", "transient"),
        (400, "PL-1000", "provider_rejected", "permanent"),
        (409, "PL-3009", "provider_conflict", "permanent"),
        (500, "PL-9999", "provider_unavailable", "transient"),  # an unknown code: its status
        (403, None, "provider_auth_failed", "pause"),
    ],
)
async def test_paylite_codes_win_over_statuses(
    status: int, error_code: str | None, code: str, kind: str
) -> None:
    body = {"errorCode": error_code, "message": "m"} if error_code else {"message": "m"}
    got = await failure_of(paylite(lambda _: httpx.Response(status, json=body)), "paylite")
    assert (got.code, got.kind) == (code, kind)
    if error_code:
        assert error_code in got.detail


async def test_paylite_refused_credentials_at_the_token_endpoint_pause() -> None:
    adapter = PayLiteAdapter(
        "pl", PayLiteConfig(base_url="http://p", client_id="c", client_secret="x")
    )
    adapter._http = httpx.AsyncClient(
        base_url="http://p",
        transport=httpx.MockTransport(
            lambda _: httpx.Response(401, json={"error": "invalid_client"})
        ),
    )
    got = await failure_of(adapter, "paylite")
    assert (got.code, got.kind) == ("provider_auth_failed", "pause")


async def test_paylite_unknown_tenant_is_not_an_unknown_topup() -> None:
    """A 404 `PL-3004` is a top-up PayLite does not have; `PL-0404` is a wrong tenant."""
    missing = paylite(lambda _: httpx.Response(404, json={"errorCode": "PL-3004"}))
    assert (await missing.credit_status("g-1-r1")).status == "not_found"
    await missing.aclose()
    tenant = paylite(lambda _: httpx.Response(404, json={"errorCode": "PL-0404"}))
    with pytest.raises(ProviderError) as raised:
        await tenant.credit_status("g-1-r1")
    await tenant.aclose()
    assert classify("paylite", raised.value).code == "provider_misconfigured"


def test_a_non_adapter_exception_is_still_classified() -> None:
    assert classify("hub_rest", TimeoutError()).code == "provider_timeout"
    assert classify("hub_rest", ConnectionResetError()).code == "provider_unavailable"
    got = classify("paylite", RuntimeError("boom"))
    assert (got.code, got.kind) == ("provider_error", "transient")
    assert got.detail == "RuntimeError: boom"


def test_rejections_and_stored_codes_read_as_messages() -> None:
    assert rejection("account_closed").code == "account_closed"
    assert rejection("account_suspended").code == "account_closed"
    assert rejection("account_unknown").code == "account_not_found"
    assert rejection("limit exceeded").code == "provider_rejected"
    assert rejection(None).code == "provider_rejected"
    assert describe("provider_auth_failed", "en").startswith("The provider refused")
    assert "認証" in describe("provider_auth_failed")
    assert describe("something_old") == "something_old"
    assert failure("nonsense").code == "provider_error"
    assert failure("provider_unavailable", "x" * 5000).detail == "x" * 2000


def test_the_contract_builds_exceptions_from_the_table() -> None:
    error = classify_http_failure(401, None, "{}")
    assert isinstance(error, PermanentProviderError) and error.http_status == 401
    error = classify_http_failure(429, "3", "{}")
    assert isinstance(error, TransientProviderError) and error.retry_after_s == 3.0


def test_a_long_reference_is_bounded_stable_and_distinct() -> None:
    short = "PS-1"
    assert bounded_reference(short) == short
    assert bounded_reference(None) is None
    exact = "r" * REFERENCE_MAX
    assert bounded_reference(exact) == exact
    one, two = "x" * 200 + "1", "x" * 200 + "2"
    assert len(bounded_reference(one) or "") == REFERENCE_MAX
    assert bounded_reference(one) == bounded_reference(one)
    assert bounded_reference(one) != bounded_reference(two)


async def test_paylite_keeps_a_long_topup_id_within_the_column(
    caplog: pytest.LogCaptureFixture,
) -> None:
    topup_id = "TP-" + "9" * 300
    answer = {"topupId": topup_id, "state": "COMPLETED"}
    adapter = paylite(
        lambda r: httpx.Response(201 if r.method == "POST" else 200, content=json.dumps(answer))
    )
    outcome = await adapter.credit(REQUEST)
    status = await adapter.credit_status(REQUEST.receipt_id)
    await adapter.aclose()
    assert outcome.provider_reference is not None
    assert len(outcome.provider_reference) == REFERENCE_MAX
    assert outcome.provider_reference.startswith("TP-999")
    assert status.provider_reference == outcome.provider_reference
    assert any(topup_id in r.getMessage() for r in caplog.records)  # the whole one is logged


def test_a_permanent_error_without_facts_is_the_hubs_configuration() -> None:
    got = classify("hub_rest", PermanentProviderError("unknown provider sim-x"))
    assert (got.code, got.kind) == ("provider_misconfigured", "pause")
    assert classify("hub_rest", TransientProviderError("odd")).code == "provider_error"
    paused = failure("provider_paused", "the provider's queue is paused", 2.0)
    assert (paused.kind, paused.retry_after_s) == ("pause", 2.0)


async def test_a_failure_travels_in_workflow_payloads() -> None:
    from hub.temporal import data_converter

    converter = data_converter()
    sent = failure("provider_rate_limited", "429", 7.0)
    [received] = await converter.decode(await converter.encode([sent]), [ProviderFailure])
    assert received == sent
