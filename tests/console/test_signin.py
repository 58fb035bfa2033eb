"""Signing in to the console: what the cookie holds, who is let in, and what signs them out."""

from __future__ import annotations

import base64
import json

from console.session import COOKIE
from tests.console.helpers import OSAKA, ConsoleClient, csrf_of, municipality_with_service, new_key
from tests.support.scenario import add_provider
from tests.support.stack import Hub


def _cookie_payload(value: str) -> dict[str, object]:
    """The signed (not encrypted) body of an itsdangerous token: its first segment."""
    body = value.split(".")[0]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


async def test_sign_in_keeps_only_the_key_id_in_a_hardened_cookie(
    hub: Hub, browserless: ConsoleClient
) -> None:
    key, _, _ = await municipality_with_service(hub, OSAKA, "大阪市")
    signed_in = await browserless.sign_in(key)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/console/measures"
    set_cookie = [v for v in signed_in.headers.get_list("set-cookie") if v.startswith(COOKIE)]
    assert set_cookie, signed_in.headers
    flags = set_cookie[0].lower()
    assert "httponly" in flags and "samesite=strict" in flags and "path=/console" in flags
    value = browserless.http.cookies[COOKIE]
    assert key not in value
    payload = _cookie_payload(value)
    assert set(payload) == {"c", "k"} and str(payload["k"]).startswith("key")

    page = await browserless.page("/console/measures")
    assert page.status_code == 200
    assert "施策一覧" in page.text and "大阪市 (271004)" in page.text
    assert key not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


async def test_a_new_session_gets_a_new_csrf_token(hub: Hub, browserless: ConsoleClient) -> None:
    key, _, _ = await municipality_with_service(hub, OSAKA, "大阪市")
    before = await browserless.token()
    assert (await browserless.sign_in(key)).status_code == 303
    after = csrf_of((await browserless.page("/console/measures")).text)
    assert before != after


async def test_pages_without_a_session_send_the_reader_to_sign_in(
    browserless: ConsoleClient,
) -> None:
    response = await browserless.page("/console/measures", state="draft")
    assert response.status_code == 303
    expected = "/console/login?next=%2Fconsole%2Fmeasures%3Fstate%3Ddraft"
    assert response.headers["location"] == expected
    front = await browserless.page("/console/")
    assert front.status_code == 303 and front.headers["location"] == "/console/login"


async def test_wrong_keys_and_keys_without_a_console_are_refused(
    hub: Hub, browserless: ConsoleClient
) -> None:
    wrong = await browserless.sign_in("hubk_not-a-real-key")
    assert wrong.status_code == 401
    assert "API キーが正しくないか、失効しています。" in wrong.text
    assert COOKIE in browserless.http.cookies  # the anonymous session only
    assert "k" not in {k for k, v in _cookie_payload(browserless.http.cookies[COOKIE]).items() if v}
    provider_id, _ = await add_provider(hub)
    refused = await browserless.sign_in(await new_key(hub, "provider", provider_id))
    assert refused.status_code == 403, refused.text
    assert "このキーでは管理画面を利用できません" in refused.text
    bootstrap = await browserless.sign_in(hub.settings.operator_bootstrap_key.get_secret_value())
    assert bootstrap.status_code == 401
    assert (await browserless.page("/console/measures")).status_code == 303


async def test_sign_in_follows_only_console_paths(hub: Hub, browserless: ConsoleClient) -> None:
    key = await new_key(hub, "support")
    elsewhere = await browserless.post(
        "/console/login", {"api_key": key, "next": "//evil.example/console/"}
    )
    assert elsewhere.headers["location"] == "/console/support/stuck"
    inside = await browserless.post(
        "/console/login", {"api_key": key, "next": "/console/support/residents"}
    )
    assert inside.headers["location"] == "/console/support/residents"


async def test_signing_out_and_revoking_the_key_end_the_session(
    hub: Hub, browserless: ConsoleClient
) -> None:
    key = await new_key(hub, "support")
    assert (await browserless.sign_in(key)).status_code == 303
    assert (await browserless.page("/console/support/stuck")).status_code == 200
    out = await browserless.post("/console/logout", token_from="/console/support/stuck")
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert COOKIE not in browserless.http.cookies
    assert (await browserless.page("/console/support/stuck")).status_code == 303

    assert (await browserless.sign_in(key)).status_code == 303
    key_id = _cookie_payload(browserless.http.cookies[COOKIE])["k"]
    revoked = await hub.http.post(
        f"/v1/operator/api-keys/{key_id}/revoke", headers=hub.operator_headers
    )
    assert revoked.status_code == 200, revoked.text
    assert (await browserless.page("/console/support/stuck")).status_code == 303
