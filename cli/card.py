"""`mph card`: a virtual My Number Card in the terminal, used against a running hub.

Cards come from the test CA under the data directory (`<data>/jpki`, the root `mph dev` trusts)
and are kept as `<data>/cards/<name>.json`, readable by their owner only: a card file holds its
private key and PIN, as the real card's chip does. The hub never sees either. `mph card serve`
publishes the CA's CRL and old/new linking records, which `mph dev` points the hub at, so a
renewal or revocation made here reaches the hub.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from simulators.jpki import TestCA, VirtualCard

app = typer.Typer(
    help="Virtual My Number Cards: issue, log in, renew, revoke (test CA, running hub)",
    no_args_is_help=True,
)

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
DEFAULT_JPKI_PORT = 8200
Issued = Annotated[
    int,
    typer.Option(
        help="back-date issue by this many minutes; a certificate works 1 hour after issue"
    ),
]


@dataclass(frozen=True)
class Place:
    data_dir: Path
    api_url: str

    @property
    def ca_dir(self) -> Path:
        return self.data_dir / "jpki"

    def card_path(self, name: str) -> Path:
        if not NAME.match(name):
            raise typer.BadParameter("a card name is lower-case letters, digits, '-' or '_'")
        return self.data_dir / "cards" / f"{name}.json"

    def hub_url(self) -> str:
        if self.api_url:
            return self.api_url
        demo = self.data_dir / "demo.json"
        if demo.exists():
            return str(json.loads(demo.read_text())["api_url"])
        from hub.settings import get_settings

        return f"http://127.0.0.1:{get_settings().api_port}"


@app.callback()
def options(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option(help="the hub's data directory (default: HUB_DATA_DIR)")
    ] = None,
    api_url: Annotated[
        str, typer.Option(help="the running hub (default: from demo.json, else local)")
    ] = "",
) -> None:
    from hub.settings import get_settings

    ctx.obj = Place(data_dir or get_settings().data_dir, api_url)


def _load_card(place: Place, name: str) -> VirtualCard:
    from simulators.jpki import VirtualCard

    path = place.card_path(name)
    if not path.exists():
        typer.secho(f"no card named {name!r}; make one with `mph card new {name}`", fg="red")
        raise typer.Exit(2)
    return VirtualCard.load(path)


def _load_ca(place: Place) -> TestCA:
    from simulators.jpki import TestCA

    return TestCA.load_or_create(place.ca_dir)


def _issued_at(minutes_ago: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)


def _describe(card: VirtualCard) -> str:
    certificate = card.certificate
    active_from = certificate.not_valid_before_utc + timedelta(hours=1)
    state = "LOCKED" if card.locked else f"{card.failed_pins} wrong PIN(s) in a row"
    return (
        f"serial {card.serial_hex}, usable from {active_from:%Y-%m-%d %H:%M:%S} UTC "
        f"until {certificate.not_valid_after_utc:%Y-%m-%d}, {state}"
    )


@app.command()
def new(
    ctx: typer.Context,
    name: str,
    pin: Annotated[str, typer.Option(help="the 4-digit user-authentication PIN")] = "1234",
    issued_minutes_ago: Issued = 120,
    force: Annotated[bool, typer.Option(help="replace a card of the same name")] = False,
) -> None:
    """Issue a new card from the test CA."""
    place: Place = ctx.obj
    path = place.card_path(name)
    if path.exists() and not force:
        typer.secho(f"card {name!r} exists; use --force to replace it", fg="red")
        raise typer.Exit(2)
    try:
        card = _load_ca(place).issue_card(pin, issued_at=_issued_at(issued_minutes_ago))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    card.save(path)
    typer.echo(f"card {name}: {_describe(card)}")


@app.command("list")
def list_cards(ctx: typer.Context) -> None:
    """The cards under the data directory."""
    from simulators.jpki import VirtualCard

    place: Place = ctx.obj
    paths = sorted((place.data_dir / "cards").glob("*.json"))
    for path in paths:
        typer.echo(f"{path.stem}: {_describe(VirtualCard.load(path))}")
    if not paths:
        typer.echo("no cards yet: `mph card new <name>`")


async def _login(url: str, card: VirtualCard, pin: str) -> tuple[int, dict[str, Any]]:
    import httpx

    from simulators.resident_app import ResidentApp

    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        response = await ResidentApp(http, card, pin).login()
    return response.status_code, response.json()


@app.command()
def login(
    ctx: typer.Context,
    name: str,
    pin: Annotated[str | None, typer.Option(help="asked for, hidden, when not given")] = None,
) -> None:
    """Read the card (PIN) and log in to the hub; three wrong PINs in a row lock the card."""
    from simulators.jpki import CardLocked, WrongPin

    place: Place = ctx.obj
    card = _load_card(place, name)
    if pin is None:
        pin = typer.prompt("PIN (4 digits)", hide_input=True)
    import httpx

    try:
        status, body = asyncio.run(_login(place.hub_url(), card, pin))
    except httpx.HTTPError as exc:
        typer.secho(f"the hub at {place.hub_url()} cannot be reached: {exc!r}", fg="red")
        raise typer.Exit(2) from None
    except WrongPin as wrong:
        typer.secho(f"wrong PIN: {wrong.attempts_left} attempt(s) left", fg="red")
        raise typer.Exit(1) from None
    except CardLocked as locked:
        typer.secho(f"{locked}; reset it with `mph card reset-pin {name}`", fg="red")
        raise typer.Exit(1) from None
    finally:
        card.save(place.card_path(name))  # the card remembers wrong PINs, as the chip does
    if status != 201:
        retry = f" (retry from {body['retry_at']})" if "retry_at" in body else ""
        typer.secho(f"refused: {body.get('code')}: {body.get('detail')}{retry}", fg="red")
        raise typer.Exit(1)
    how = "issued now" if body["mykey_issued"] else "already known"
    typer.echo(f"logged in: MyKey ID {body['mykey_id']} ({how})")
    typer.echo(f"session token, until {body['expires_at']}: {body['token']}")


@app.command()
def renew(ctx: typer.Context, name: str, issued_minutes_ago: Issued = 120) -> None:
    """Renew the card's certificate: new key and serial, a linking record, the old one revoked."""
    place: Place = ctx.obj
    card = _load_card(place, name)
    ca = _load_ca(place)
    renewed = ca.renew_card(card, issued_at=_issued_at(issued_minutes_ago))
    ca.save(place.ca_dir)
    renewed.save(place.card_path(name))
    typer.echo(f"card {name} renewed: {card.serial_hex} → {_describe(renewed)}")


@app.command()
def revoke(ctx: typer.Context, name: str) -> None:
    """Revoke the card's certificate at the test CA; the hub refuses it after its CRL refresh."""
    place: Place = ctx.obj
    card = _load_card(place, name)
    ca = _load_ca(place)
    ca.revoke(card.serial_hex)
    ca.save(place.ca_dir)
    typer.echo(f"certificate {card.serial_hex} of card {name} is revoked (next CRL)")


@app.command("reset-pin")
def reset_pin(
    ctx: typer.Context,
    name: str,
    new_pin: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """What the municipal office does for a locked card: a new PIN, the count back to zero."""
    place: Place = ctx.obj
    card = _load_card(place, name)
    try:
        card.reset_pin(new_pin)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    card.save(place.card_path(name))
    typer.echo(f"card {name}: PIN reset, unlocked")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = DEFAULT_JPKI_PORT,
) -> None:
    """Serve the test CA's CRL (`/crl`) and old/new linking records (`/links/{serial}`)."""
    import uvicorn

    from simulators.jpki_service import create_jpki_service, from_directory

    place: Place = ctx.obj
    _load_ca(place)  # created on first use, like `mph dev` does
    uvicorn.run(create_jpki_service(from_directory(place.ca_dir)), host=host, port=port)
