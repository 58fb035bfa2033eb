"""A fresh, migrated database per run: a new PostgreSQL database (dropped afterwards) on the
server of `HUB_BENCH_DATABASE_URL`, or a SQLite file in the run's directory."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from storage.migrate import upgrade

ENV_VAR = "HUB_BENCH_DATABASE_URL"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


def default_server() -> str:
    return os.environ.get(ENV_VAR) or DEFAULT_SERVER


def is_sqlite(server: str) -> bool:
    return server == "sqlite" or server.startswith("sqlite")


def admin_conninfo(url: str) -> str:
    """A libpq URL (`postgresql://…`) for psycopg and pgbench, from any SQLAlchemy form."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def server_version(server: str) -> str | None:
    if is_sqlite(server):
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    with psycopg.connect(admin_conninfo(server), autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0]}" if row else None


@contextlib.contextmanager
def scratch_postgres(server: str, prefix: str = "hub_bench") -> Iterator[str]:
    """An empty PostgreSQL database of its own (libpq URL), dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(5)}"
    admin = admin_conninfo(server)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_database(server: str, directory: Path) -> Iterator[str]:
    """A migrated, empty hub database; yields its SQLAlchemy URL (async driver)."""
    if is_sqlite(server):
        url = f"sqlite+aiosqlite:///{directory / 'hub.db'}"
        upgrade(url)
        yield url
        return
    with scratch_postgres(server) as plain:
        rendered = (
            make_url(plain)
            .set(drivername="postgresql+psycopg")
            .render_as_string(hide_password=False)
        )
        upgrade(rendered)
        yield rendered


def connection_headroom(server: str) -> tuple[int, int]:
    """(connections free on the server, its max_connections)."""
    with psycopg.connect(admin_conninfo(server), autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int, count(*) FROM pg_stat_activity"
        ).fetchone()
    assert row is not None
    return int(row[0]) - int(row[1]), int(row[0])


class ConnectionCounter:
    """Counts the connections open to one database, over one connection of its own."""

    def __init__(self, url: str) -> None:
        self.name = make_url(url).database
        self.conn = psycopg.connect(admin_conninfo(url), autocommit=True)

    def count(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.name,)
        ).fetchone()
        return int(row[0]) - 1 if row else 0  # not counting itself

    def close(self) -> None:
        self.conn.close()
