"""`mph targets import FILE`: upload a target list (CSV, header `mykey_id`) to a measure.

The file is checked here first with the same rules the hub applies, so a bad row is reported
with its line number before anything is sent; then it is streamed to
`PUT /v1/municipalities/{code}/measures/{id}/targets` under a progress bar.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from domain.errors import RuleViolation
from domain.identifiers import is_municipality_code
from domain.targets import parse_target_csv

app = typer.Typer(help="Target lists of measures", no_args_is_help=True)
console = Console(stderr=True)
CHUNK = 64 * 1024


def _demo_defaults() -> dict[str, Any]:
    """`make run` leaves the local hub's URL and a municipality key in .data/demo.json."""
    from hub.settings import get_settings

    demo = get_settings().data_dir / "demo.json"
    return json.loads(demo.read_text()) if demo.exists() else {}


def _show_row_errors(problem: dict[str, Any]) -> None:
    table = Table("line", "value", "reason", title=problem.get("detail", ""))
    for error in problem.get("errors", []):
        table.add_row(str(error.get("line")), str(error.get("value", "")), str(error["reason"]))
    console.print(table)
    shown, total = len(problem.get("errors", [])), problem.get("error_count", 0)
    if total > shown:
        console.print(f"… and {total - shown} more")


def _chunks(data: bytes, progress: Progress, task: Any) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        piece = data[start : start + CHUNK]
        yield piece
        progress.advance(task, len(piece))


@app.command("import")
def import_targets(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    measure: Annotated[str, typer.Option("--measure", help="measure ID")],
    municipality: Annotated[str, typer.Option("--municipality", help="municipality code")],
    api_url: Annotated[str, typer.Option(help="hub API (default: the local `make run` hub)")] = "",
    key: Annotated[
        str, typer.Option(help="municipality API key (default: $HUB_MUNICIPALITY_KEY)")
    ] = "",
) -> None:
    """Add the MyKey IDs of FILE to a measure's target list: all of them or, on error, none."""
    if not is_municipality_code(municipality):
        console.print(f"[red]{municipality} is not a municipality code (check digit)[/red]")
        raise typer.Exit(2)
    demo = _demo_defaults()
    api_url = api_url or os.environ.get("HUB_API_URL", "") or demo.get("api_url", "")
    key = key or os.environ.get("HUB_MUNICIPALITY_KEY", "") or demo.get("municipality_key", "")
    if not api_url or not key:
        console.print("[red]give --api-url and --key (or start the hub with `make run`)[/red]")
        raise typer.Exit(2)
    data = file.read_bytes()
    try:
        rows = len(parse_target_csv(data).mykey_ids)
    except RuleViolation as refused:
        _show_row_errors({"detail": refused.detail, **refused.extra})
        raise typer.Exit(1) from refused
    url = f"{api_url.rstrip('/')}/v1/municipalities/{municipality}/measures/{measure}/targets"
    headers = {"authorization": f"Bearer {key}", "content-type": "text/csv"}
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{rows} MyKey IDs → {measure}", total=len(data))
        with httpx.Client(timeout=httpx.Timeout(30, read=600)) as http:
            response = http.put(url, content=_chunks(data, progress, task), headers=headers)
        progress.update(task, description=f"{rows} MyKey IDs → {measure}: imported")
    if response.status_code != 200:
        problem = response.json() if response.content else {}
        if problem.get("errors"):
            _show_row_errors(problem)
        console.print(
            f"[red]{response.status_code} {problem.get('code', '')}[/red]: "
            f"{problem.get('detail', response.text)}"
        )
        raise typer.Exit(1)
    result = response.json()
    typer.echo(
        f"{result['received']} received, {result['added']} added, "
        f"{result['already_listed']} already listed; {result['total']} on the list"
    )
