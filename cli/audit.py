"""`mph audit seal|verify`: the audit chain from the command line (exit 1 when it is broken)."""

from __future__ import annotations

import asyncio

import typer

from hub.settings import Settings, get_settings
from storage.audit_chain import SealReport, VerifyReport, seal, verify
from storage.database import create_engine, session_factory

app = typer.Typer(
    help="The audit log: seal pending entries, verify the chain", no_args_is_help=True
)


async def _seal(settings: Settings) -> SealReport:
    engine = create_engine(settings.effective_database_url)
    try:
        key = settings.audit_hmac_key.get_secret_value().encode()
        return await seal(session_factory(engine), key)
    finally:
        await engine.dispose()


async def _verify(settings: Settings) -> VerifyReport:
    engine = create_engine(settings.effective_database_url)
    try:
        async with session_factory(engine)() as session:
            return await verify(session, settings.audit_hmac_key.get_secret_value().encode())
    finally:
        await engine.dispose()


@app.command("seal")
def seal_command() -> None:
    """Seal every committed entry that is not in the chain yet."""
    report = asyncio.run(_seal(get_settings()))
    typer.echo(f"sealed {report.sealed}; chain head {report.last_seq} {report.last_hash}")


@app.command("verify")
def verify_command() -> None:
    """Recompute the chain; report the first broken index."""
    report = asyncio.run(_verify(get_settings()))
    if report.ok:
        typer.echo(
            f"audit chain intact: {report.checked} entries, head {report.head_seq}, "
            f"{report.unsealed} not sealed yet"
        )
        return
    typer.echo(
        f"audit chain BROKEN at index {report.first_broken}: {report.problem} "
        f"({report.checked} entries hold before it, head {report.head_seq})",
        err=True,
    )
    raise typer.Exit(1)
