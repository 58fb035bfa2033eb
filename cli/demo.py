"""`mph demo`: one virtual resident, from card login to points credited at the provider."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime, timedelta

import httpx
from rich.console import Console

from domain.business_days import business_day_of
from hub.seed import DemoData
from hub.settings import Settings
from simulators.jpki import TestCA
from simulators.resident_app import ResidentApp

console = Console()


def _step(number: int, text: str) -> None:
    console.print(f"[bold cyan]{number}.[/bold cyan] {text}")


def _fail(response: httpx.Response) -> int:
    console.print(
        f"[red]{response.request.method} {response.request.url.path} → "
        f"{response.status_code}: {response.text}[/red]"
    )
    return 1


async def run_demo(settings: Settings, api_url: str) -> int:
    demo_file = settings.data_dir / "demo.json"
    if not demo_file.exists():
        console.print("[red]no demo data: start the hub with `make run` first[/red]")
        return 2
    demo = DemoData(**json.loads(demo_file.read_text()))
    ca = TestCA.load(settings.data_dir / "jpki")
    # A newly issued certificate works one hour after issue (FAQ), so the demo card is older.
    card = ca.issue_card("1234", issued_at=datetime.now(UTC) - timedelta(hours=2))
    card.save(settings.data_dir / "cards" / f"demo-{card.serial_hex[:12]}.json")
    async with (
        httpx.AsyncClient(base_url=api_url or demo.api_url, timeout=30) as http,
        httpx.AsyncClient(base_url=demo.sim_url, timeout=10) as sim,
    ):
        app = ResidentApp(http, card)
        _step(1, "A resident logs in with a new virtual My Number Card (PIN 1234)")
        response = await app.login()
        if response.status_code != 201:
            return _fail(response)
        console.print(f"   MyKey ID issued: [bold]{app.mykey_id}[/bold]")

        _step(2, f"finds the measure {demo.measure_id}")
        response = await app.get(f"/v1/measures/{demo.measure_id}")
        if response.status_code != 200:
            return _fail(response)
        measure = response.json()
        console.print(f"   {measure['title']}: {measure['points_per_grant']:,} points")

        _step(3, "applies")
        response = await app.apply(demo.measure_id)
        if response.status_code != 201:
            return _fail(response)
        grant = response.json()["grants"][0]
        console.print(
            f"   {response.json()['status']}: grant {grant['grant_id']} "
            f"({grant['points']:,} points, {grant['state']})"
        )

        account_id = f"demo-{secrets.token_hex(4)}"
        _step(4, f"registers {demo.payment_service_id} account {account_id} (card read)")
        response = await app.register_service(demo.payment_service_id, account_id)
        if response.status_code != 201:
            return _fail(response)
        registration_id = response.json()["registration_id"]

        _step(5, "asks to receive the points there (card read)")
        response = await app.request_receipt([grant["grant_id"]], registration_id)
        if response.status_code != 202:
            return _fail(response)
        receipt_id = response.json()["receipts"][0]["receipt_id"]
        console.print(f"   receipt {receipt_id}")

        _step(6, "waits for the provider to confirm")
        state = ""
        for _ in range(120):
            points = await app.points()
            state = next(g["state"] for g in points["grants"] if g["grant_id"] == grant["grant_id"])
            if state == "credited":
                break
            await asyncio.sleep(0.5)
        console.print(f"   grant is [bold]{state}[/bold]; totals {points['totals']}")
        if state != "credited":
            return 1

        ledger = (await sim.get(f"/p/{demo.provider_id}/admin/ledger")).json()
        credits = [c for c in ledger["credits"] if c["receipt_id"] == receipt_id]
        applied = sum(c["applied"] for c in credits)
        _step(7, f"the provider's ledger holds {applied} credit for receipt {receipt_id}")
        if applied != 1:
            console.print("[red]expected exactly one credit[/red]")
            return 1
        console.print("[green]the points travelled from application to the provider[/green]")
        return await _reconcile(settings, demo, http, sim, receipt_id)


async def _reconcile(
    settings: Settings,
    demo: DemoData,
    http: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    receipt_id: str,
) -> int:
    """The provider's statement for today lists the receipt with other points: the hub finds the
    break at once, and support staff resolve it with a reason."""
    operator = {"authorization": f"Bearer {settings.operator_bootstrap_key.get_secret_value()}"}
    response = await http.post(
        "/v1/operator/api-keys",
        json={"role": "provider", "scope": demo.provider_id},
        headers=operator,
    )
    if response.status_code != 201:
        return _fail(response)
    provider = demo.provider_id
    await sim.patch(
        f"/p/{provider}/admin/faults",
        json={"hub_api_url": str(http.base_url).rstrip("/"), "hub_api_key": response.json()["key"]},
    )
    await sim.put(f"/p/{provider}/admin/statement-knobs", json={"change": {receipt_id: 1100}})
    today = business_day_of(datetime.now(UTC)).isoformat()
    _step(8, f"the provider sends its statement for {today}, listing the receipt at 1,100 points")
    response = await sim.post(f"/p/{provider}/admin/statements/{today}/send", timeout=60)
    await sim.put(f"/p/{provider}/admin/statement-knobs", json={})
    if response.status_code != 200 or response.json().get("status") != 200:
        return _fail(response)
    answer = response.json()["hub"]
    console.print(
        f"   {answer['records']} rows, {answer['matched']} matched, {answer['breaks']} open breaks"
    )
    support = {"authorization": f"Bearer {demo.support_key}"}
    response = await http.get(
        "/v1/support/reconciliation/breaks",
        params={"provider_id": provider, "status": "open", "kind": "points_mismatch"},
        headers=support,
    )
    found = [b for b in response.json().get("items", []) if b["receipt_id"] == receipt_id]
    if not found:
        return _fail(response)
    seen = found[0]
    _step(
        9,
        f"support sees break {seen['break_id']} ({seen['kind']}): hub {seen['hub']['points']:,}, "
        f"provider {seen['provider']['points']:,} points, and accepts the difference",
    )
    response = await http.post(
        f"/v1/support/reconciliation/breaks/{seen['break_id']}/resolve",
        json={"resolution": "accepted_difference", "note": "デモ: 事業者の明細の誤り、確認済み"},
        headers=support,
    )
    if response.status_code != 200:
        return _fail(response)
    console.print(f"   {response.json()['status']}: {response.json()['resolution']}")
    console.print(
        f"[green]done; the month so far: /console/settlements/{today[:7]} "
        f"(municipality staff), breaks: /console/support/breaks (support)[/green]"
    )
    return 0
