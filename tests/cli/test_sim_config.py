"""`mph sim` finds its configuration in the data directory the settings name (HUB_DATA_DIR),
and says so clearly when it is not there."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import main, runtime
from hub.settings import get_settings


def test_sim_reads_sim_json_from_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sim.json").write_text('{"providers": []}')
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    served: list[str] = []
    monkeypatch.setattr(runtime, "serve_sim", lambda config, *a, **k: served.append(config))
    try:
        result = CliRunner().invoke(main.app, ["sim", "--port", "8199"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert served == [str(tmp_path / "sim.json")]


def test_a_missing_configuration_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main.app, ["sim"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    words = " ".join(result.output.replace("│", " ").split())
    assert "sim.json does not exist" in words
