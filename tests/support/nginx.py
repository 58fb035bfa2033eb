"""The real nginx (Debian's package), run by a test with a configuration it writes.

nginx is a test requirement like Chromium and PostgreSQL: `.ci/run` installs it when missing.
Without it the tests that need it fail with the command that installs it, never skip silently.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

INSTALL_HINT = "nginx is not installed: apt-get install nginx (.ci/run installs it)"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if found is None:
        pytest.fail(INSTALL_HINT)
    return found


def _main_config(prefix: Path, http_block: str) -> str:
    temp = {name: prefix / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers read nothing the master did not
    return (
        f"{user}worker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {prefix / 'access.log'};\n"
        f"    client_body_temp_path {temp['client_body']};\n"
        f"    proxy_temp_path {temp['proxy']};\n"
        f"    fastcgi_temp_path {temp['fastcgi']};\n"
        f"    uwsgi_temp_path {temp['uwsgi']};\n"
        f"    scgi_temp_path {temp['scgi']};\n"
        f"{http_block}\n"
        "}\n"
    )


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


@contextlib.contextmanager
def running_nginx(prefix: Path, http_block: str, ports: list[int]) -> Iterator[Path]:
    """nginx in the foreground with `http_block` inside its `http {}`, until the block ends;
    yields its prefix directory (error.log, access.log)."""
    binary = nginx_binary()
    prefix.mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(_main_config(prefix, http_block))
    checked = subprocess.run(
        [binary, "-t", "-p", str(prefix), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not all(_listening(port) for port in ports):
            if process.poll() is not None:
                raise AssertionError(f"nginx stopped: {process.stderr and process.stderr.read()!r}")
            if time.monotonic() > deadline:
                raise AssertionError("nginx did not listen within 30 s")
            time.sleep(0.05)
        yield prefix
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
