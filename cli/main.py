"""`mph`: run, seed, demonstrate and operate the hub."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
import uvloop
from pydantic import ValidationError

from bench.commands import app as bench_app
from cli.audit import app as audit_app
from cli.card import app as card_app
from cli.provider_check import provider_check
from cli.settlement import app as settlement_app
from cli.soak import soak
from cli.targets import app as targets_app
from cli.tls import app as tls_app
from hub.settings import get_settings

app = typer.Typer(help="Municipal Mynapoint Hub", no_args_is_help=True, add_completion=False)
app.add_typer(targets_app, name="targets")
app.add_typer(card_app, name="card")
app.add_typer(bench_app, name="bench")
app.add_typer(audit_app, name="audit")
app.add_typer(settlement_app, name="settlement")
app.add_typer(tls_app, name="tls")
app.command("provider-check")(provider_check)
app.command("soak")(soak)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from storage.migrate import upgrade

    settings = get_settings()
    upgrade(settings.effective_database_url)
    typer.echo("database is up to date")


@app.command()
def api(
    host: Annotated[str, typer.Option()] = "",
    port: Annotated[int, typer.Option()] = 0,
) -> None:
    """Serve the HTTP API."""
    from cli.runtime import serve_api

    settings = get_settings()
    serve_api(settings, host or settings.api_host, port or settings.api_port)


@app.command()
def worker(
    queues: Annotated[
        str,
        typer.Option(
            help="comma-separated task queues; 'provider-*' for every provider, "
            "'dispatch-*' for every batch dispatcher"
        ),
    ] = "",
    sandbox: Annotated[
        bool,
        typer.Option(
            help="run workflows in the Temporal sandbox (slower; the test suite always does)"
        ),
    ] = False,
) -> None:
    """Run Temporal workers for the hub queue and every provider queue."""
    from cli.runtime import run_worker

    selected = [q.strip() for q in queues.split(",") if q.strip()] or None
    # uvloop, as the API has under uvicorn: every database round trip registers and drops a
    # reader on the loop, which costs the default selector loop several times more CPU.
    uvloop.run(run_worker(get_settings(), selected, sandbox))


@app.command()
def sim(
    config: Annotated[
        str,
        typer.Option(help="simulator configuration (JSON); default: sim.json in HUB_DATA_DIR"),
    ] = "",
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8100,
    tls_cert: Annotated[str, typer.Option(help="serve HTTPS with this certificate (PEM)")] = "",
    tls_key: Annotated[str, typer.Option(help="the certificate's key (PEM)")] = "",
    tls_client_ca: Annotated[
        str, typer.Option(help="require client certificates issued by this CA (mutual TLS)")
    ] = "",
) -> None:
    """Serve the simulated payment providers (over HTTPS with --tls-cert, as production needs)."""
    from cli.runtime import serve_sim

    config = config or str(get_settings().data_dir / "sim.json")
    if not Path(config).is_file():
        raise typer.BadParameter(f"{config} does not exist", param_hint="--config")
    serve_sim(config, host, port, tls_cert=tls_cert, tls_key=tls_key, tls_client_ca=tls_client_ca)


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    sim_port: Annotated[int, typer.Option(help="simulator port")] = 8100,
) -> None:
    """Start everything on this machine: Temporal dev server, simulator, worker and API."""
    from cli.dev import run_dev

    run_dev(get_settings(), port, sim_port)


@app.command()
def demo(
    api_url: Annotated[str, typer.Option(help="defaults to the one in .data/demo.json")] = "",
) -> None:
    """Walk a virtual resident from card login to credited points against a running hub."""
    from cli.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(get_settings(), api_url)))


def configuration_refused(refused: ValidationError) -> str:
    """One line per problem, named by its setting, for an operator reading a failed start."""
    lines = ["the hub's configuration is refused (HUB_* settings):"]
    for error in refused.errors():
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        message = message.removeprefix("production settings refused: ")
        where = "_".join(str(part) for part in error.get("loc", ()))
        prefix = f"HUB_{where.upper()}: " if where else ""
        lines.extend(f"  - {prefix}{problem}" for problem in message.split("; "))
    return "\n".join(lines)


@app.command()
def openapi(
    write: Annotated[
        bool, typer.Option("--write", help="write docs/openapi.json instead of printing")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="exit 1 when docs/openapi.json is out of date")
    ] = False,
) -> None:
    """The API's OpenAPI document: print it, or bring docs/openapi.json up to date."""
    from api import openapi_document as document

    if check:
        current = document.render(document.build_document()) == document.committed()
        typer.echo("docs/openapi.json is up to date" if current else "docs/openapi.json differs")
        raise typer.Exit(0 if current else 1)
    if write:
        changed = document.write()
        typer.echo(f"{document.DOCUMENT_PATH} {'written' if changed else 'already up to date'}")
        return
    typer.echo(document.render(document.build_document()), nl=False)


def main() -> NoReturn:
    """`mph`: run the command, then end the process through `hub.exit.exit_process`, so a command
    that used a Temporal client is not aborted by the SDK's threads during finalisation."""
    from hub.exit import exit_process

    try:
        app()
    except ValidationError as refused:  # the settings: name each problem, no traceback
        print(configuration_refused(refused), file=sys.stderr)
        exit_process(2)
    except SystemExit as stop:  # click ends every command, successful or not, this way
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
        exit_process(stop.code if isinstance(stop.code, int) else int(stop.code is not None))
    exit_process(0)


if __name__ == "__main__":
    main()
