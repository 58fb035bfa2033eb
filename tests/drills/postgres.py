"""A private PostgreSQL server for the restart drill, so restarting it disturbs nobody else.

It uses the PostgreSQL server binaries of the machine (`initdb`, `pg_ctl`), runs as the
`postgres` user when the tests run as root (the server refuses to run as root), listens on a
free loopback port and lives in a temporary directory removed afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

import psycopg

from tests.support.servers import free_port


def server_bin_dir() -> Path | None:
    """Where `initdb` and `pg_ctl` are: on PATH, or Debian's /usr/lib/postgresql/<v>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root without runuser: cannot start PostgreSQL")
    return [runuser, "-u", "postgres", "--"]


class PrivatePostgres:
    def __init__(self, bin_dir: Path, data_dir: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.data_dir = data_dir
        self.port = port

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [*_as_server_user(), str(self.bin_dir / tool), *args],
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir}"
        self._run(
            "pg_ctl",
            action,
            "-D",
            str(self.data_dir / "data"),
            "-l",
            str(self.data_dir / "server.log"),
            "-o",
            options,
            "-w",
            *extra,
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data_dir / "data"), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        """A fast restart: every connection is cut, in-flight transactions roll back."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "immediate")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def started_at(self) -> datetime:
        async with await psycopg.AsyncConnection.connect(self.url("postgres")) as conn:
            row = await (await conn.execute("SELECT pg_postmaster_start_time()")).fetchone()
        assert row is not None
        started: datetime = row[0]
        return started

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = server_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    base = Path(tempfile.mkdtemp(prefix="mph-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    server = PrivatePostgres(bin_dir, base, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        with suppress(subprocess.SubprocessError):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
