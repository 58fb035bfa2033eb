"""`mph settlement verify YYYY-MM`: recompute a closed month from the ledger (exit 1 on any
difference) and `mph settlement show YYYY-MM CODE` for a municipality's figures."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from domain.errors import RuleViolation
from hub.settings import Settings, get_settings
from services import settlement
from storage.database import SessionFactory, create_engine, session_factory

app = typer.Typer(help="The monthly settlement (精算)", no_args_is_help=True)
console = Console()


@dataclass
class _Context:
    sessions: SessionFactory

    @staticmethod
    def clock() -> datetime:
        return datetime.now(UTC)


async def _verify(settings: Settings, month: str) -> list[str]:
    engine = create_engine(settings.effective_database_url)
    try:
        return await settlement.verify(_Context(session_factory(engine)), month)
    finally:
        await engine.dispose()


async def _show(settings: Settings, month: str, code: str) -> settlement.MonthReport:
    engine = create_engine(settings.effective_database_url)
    try:
        return await settlement.month_report(_Context(session_factory(engine)), code, month)
    finally:
        await engine.dispose()


@app.command("verify")
def verify_command(month: str = typer.Argument(help="a closed month, YYYY-MM")) -> None:
    """Recompute every municipality's credited points of a closed month from the ledger as it
    stood at closing, the adjustments settled in it and each report's SHA-256."""
    try:
        differences = asyncio.run(_verify(get_settings(), month))
    except RuleViolation as refused:
        typer.echo(f"{refused.code}: {refused.detail}", err=True)
        raise typer.Exit(2) from refused
    for line in differences:
        typer.echo(line)
    if differences:
        typer.echo(f"{month}: {len(differences)} difference(s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"{month}: the closed figures equal the ledger; every report checksum holds")


@app.command("show")
def show_command(month: str, code: str) -> None:
    """A municipality's month: open as it stands, closed as frozen."""
    found = asyncio.run(_show(get_settings(), month, code))
    table = Table(title=f"{code} {month} ({found.status})")
    for column in (
        "provider",
        "measure",
        "credited",
        "statement",
        "matched",
        "breaks",
        "adj",
        "yen",
    ):
        table.add_column(column)
    for x in found.lines:
        table.add_row(
            x.provider_id,
            x.measure_title,
            f"{x.credited_points:,}",
            f"{x.statement_points:,}",
            f"{x.matched_points:,}",
            str(x.open_breaks),
            f"{x.adjustment:,}",
            f"{x.amount_yen:,}",
        )
    console.print(table)
    if found.report_sha256:
        console.print(f"report SHA-256 {found.report_sha256}")
