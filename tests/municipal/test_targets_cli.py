"""`mph targets import` against the running hub: checked locally, streamed, imported."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from tests.municipal.conftest import Staff, csv_of
from tests.support.direct import new_resident


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["targets", "import", *args])
    return result.exit_code, result.output


async def test_the_command_imports_a_file_and_repeats_harmlessly(
    staff: Staff, tmp_path: Path
) -> None:
    measure_id = await staff.draft(target_list_only=True)
    residents = [await new_resident(staff.hub.ctx) for _ in range(30)]
    file = tmp_path / "targets.csv"
    file.write_bytes(b"\xef\xbb\xbf" + csv_of(residents).replace(b"\n", b"\r\n"))
    common = ["--measure", measure_id, "--municipality", staff.code]
    common += ["--api-url", staff.hub.api_url, "--key", staff.key]

    code, output = await asyncio.to_thread(run, str(file), *common)
    assert code == 0, output
    assert "30 received, 30 added, 0 already listed; 30 on the list" in output
    code, output = await asyncio.to_thread(run, str(file), *common)
    assert code == 0 and "0 added, 30 already listed; 30 on the list" in output


async def test_bad_rows_are_shown_by_line_before_anything_is_sent(
    staff: Staff, tmp_path: Path
) -> None:
    measure_id = await staff.draft(target_list_only=True)
    file = tmp_path / "bad.csv"
    file.write_text("mykey_id\nAAAA1111\nlowercase\n")
    common = ["--measure", measure_id, "--municipality", staff.code]
    common += ["--api-url", staff.hub.api_url, "--key", staff.key]
    code, output = await asyncio.to_thread(run, str(file), *common)
    assert code == 1
    assert "lowercase" in output and "3" in output
    code, output = await asyncio.to_thread(run, str(file), *common[:3], "131017", *common[4:])
    assert code == 2 and "check digit" in output


async def test_the_hubs_refusal_is_reported(staff: Staff, tmp_path: Path) -> None:
    measure_id = await staff.draft(target_list_only=True)
    file = tmp_path / "unknown.csv"
    file.write_text("mykey_id\nZZZZ0000\n")
    code, output = await asyncio.to_thread(
        run,
        str(file),
        "--measure",
        measure_id,
        "--municipality",
        staff.code,
        "--api-url",
        staff.hub.api_url,
        "--key",
        staff.key,
    )
    assert code == 1
    assert "no such MyKey ID" in output and "invalid_target_list" in output
