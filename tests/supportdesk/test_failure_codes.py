"""Support staff read causes, not stack traces: the support API gives each stuck receipt's last
provider failure as a stable code with its message in Japanese and English, the raw detail
beside it, and whether the receipt waits for its paused provider (issue 17)."""

from __future__ import annotations

from domain.provider_errors import CODES
from services import provider_pause
from tests.console.test_browser_support import stuck_receipt_failing
from tests.console.test_console_providers import pause_by_failures
from tests.support.stack import Hub
from tests.supportdesk.test_stuck_receipt_walkthrough import support_headers


async def test_the_support_api_names_the_failure_and_the_paused_provider(hub: Hub) -> None:
    raw = 'ProviderTransientError: provider error 429: {"error":"slow down"}'
    provider_id, receipt_id = await stuck_receipt_failing(hub, "provider_rate_limited", raw)
    headers = await support_headers(hub)
    expected = {
        "last_error": raw,
        "last_error_code": "provider_rate_limited",
        "last_error_message": {
            "ja": CODES["provider_rate_limited"].ja,
            "en": CODES["provider_rate_limited"].en,
        },
    }

    stuck = await hub.http.get(
        "/v1/support/receipts/stuck", params={"provider_id": provider_id}, headers=headers
    )
    [item] = [i for i in stuck.json()["items"] if i["receipt_id"] == receipt_id]
    assert {k: item[k] for k in expected} == expected
    assert item["provider_paused"] is False

    await pause_by_failures(hub, provider_id)
    detail = await hub.http.get(f"/v1/support/receipts/{receipt_id}", headers=headers)
    assert detail.status_code == 200, detail.text
    assert {k: detail.json()[k] for k in expected} == expected
    assert detail.json()["provider_paused"] is True
    async with hub.ctx.sessions.begin() as session:
        await provider_pause.resume(session, provider_id, actor="test", note=None)
