"""The console shows a paused provider (why, since when, the raw answer one click away) and lets an
operator resume it; support staff read causes, not stack traces, on stuck receipts (issue 17)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from sqlalchemy import select

from adapters.providers.contract import classify_http_failure
from domain.provider_errors import CODES, PAUSE_AFTER_FAILURES, classify
from services import provider_pause
from storage.models.audit import AuditEntry
from tests.console.helpers import ConsoleClient, new_key
from tests.console.test_browser_support import stuck_receipt_failing
from tests.support.scenario import add_provider
from tests.support.stack import Hub

AUTH_ANSWER = '{"error":"invalid signature key"}'


async def pause_by_failures(hub: Hub, provider_id: str) -> None:
    """What the receipt carrier does with each 401 of the provider's credit call."""
    failure = classify("hub_rest", classify_http_failure(401, None, AUTH_ANSWER))
    async with hub.ctx.sessions.begin() as session:
        for _ in range(PAUSE_AFTER_FAILURES):
            await provider_pause.record_failure(
                session, provider_id, failure, now=datetime.now(UTC)
            )


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


async def test_an_operator_sees_why_a_provider_is_paused_and_resumes_it(
    hub: Hub, browserless: ConsoleClient
) -> None:
    provider_id, _ = await add_provider(hub)
    await pause_by_failures(hub, provider_id)
    signed_in = await browserless.sign_in(await new_key(hub, "operator"))
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/providers"

    listing = await browserless.page("/console/providers")
    assert listing.status_code == 200
    row = next(r for r in listing.text.split("<tr") if f"<code>{provider_id}</code>" in r)
    assert "一時停止中" in row and "provider_auth_failed" in row
    assert CODES["provider_auth_failed"].ja in html.unescape(row)

    page = await browserless.page(f"/console/providers/{provider_id}")
    shown = text_of(page.text)
    assert "一時停止の理由" in shown and "provider_auth_failed" in shown
    assert CODES["provider_auth_failed"].ja in shown
    raw = re.search(r"<details>.*?</details>", page.text, re.S)
    assert raw is not None and "invalid signature key" in html.unescape(raw.group(0))
    assert "ProviderError" in raw.group(0) and "(401)" in raw.group(0)
    assert 'action="/console/providers/' + provider_id + '/resume"' in page.text

    english = await browserless.page(f"/console/providers/{provider_id}", lang="en")
    assert CODES["provider_auth_failed"].en in html.unescape(english.text)
    await browserless.page("/console/providers", lang="ja")

    resumed = await browserless.post(
        f"/console/providers/{provider_id}/resume",
        {"note": "署名鍵を更新"},
        token_from=f"/console/providers/{provider_id}",
    )
    assert resumed.status_code == 303
    after = await browserless.page(resumed.headers["location"])
    assert "一時停止を解除しました" in after.text
    assert "稼働中" in text_of(after.text) and "署名鍵を更新" in after.text
    async with hub.ctx.sessions() as session:
        assert not await provider_pause.is_paused(session, provider_id)
        actors = (
            await session.execute(
                select(AuditEntry.actor).where(
                    AuditEntry.action == "resume_provider", AuditEntry.object_id == provider_id
                )
            )
        ).scalars()
        assert [a.startswith("operator:") for a in actors] == [True]

    again = await browserless.post(
        f"/console/providers/{provider_id}/resume", {}, token_from="/console/providers"
    )
    assert again.status_code == 409 and "一時停止していません" in again.text


async def test_support_reads_the_pause_but_cannot_resume(
    hub: Hub, browserless: ConsoleClient
) -> None:
    provider_id, _ = await add_provider(hub)
    await pause_by_failures(hub, provider_id)
    assert (await browserless.sign_in(await new_key(hub, "support"))).status_code == 303
    page = await browserless.page(f"/console/providers/{provider_id}")
    assert page.status_code == 200 and "provider_auth_failed" in page.text
    assert "/resume" not in page.text and "運用者が行います" in page.text
    refused = await browserless.post(
        f"/console/providers/{provider_id}/resume", {}, token_from="/console/providers"
    )
    assert refused.status_code == 403
    async with hub.ctx.sessions() as session:
        assert await provider_pause.is_paused(session, provider_id)
    async with hub.ctx.sessions.begin() as session:  # leave the shared hub as it was
        await provider_pause.resume(session, provider_id, actor="test", note=None)


async def test_stuck_receipts_show_the_code_and_message_with_the_raw_answer_one_click_away(
    hub: Hub, browserless: ConsoleClient
) -> None:
    raw = 'ProviderTransientError: provider error 503: {"error":"maintenance"}'
    provider_id, receipt_id = await stuck_receipt_failing(hub, "provider_unavailable", raw)
    await pause_by_failures(hub, provider_id)
    assert (await browserless.sign_in(await new_key(hub, "support"))).status_code == 303

    listing = await browserless.page("/console/support/stuck", provider_id=provider_id)
    row = next(r for r in listing.text.split("<tr") if receipt_id in r)
    assert "provider_unavailable" in row
    assert CODES["provider_unavailable"].ja in html.unescape(row)
    details = re.search(r"<details[^>]*>.*?</details>", row, re.S)
    assert details is not None and "maintenance" in html.unescape(details.group(0))
    assert "一時停止中" in row  # the provider's badge
    assert f"決済事業者 {provider_id} は一時停止中です" in listing.text

    detail = await browserless.page(f"/console/support/receipts/{receipt_id}")
    shown = text_of(detail.text)
    assert "provider_unavailable" in shown and CODES["provider_unavailable"].ja in shown
    assert f"決済事業者 {provider_id} は一時停止中です" in shown

    async with hub.ctx.sessions.begin() as session:
        await provider_pause.resume(session, provider_id, actor="test", note=None)
