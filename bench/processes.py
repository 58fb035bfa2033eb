"""Child processes of a benchmark: started with their own log file, watched, stopped politely.

Every process runs from the same code directory as the harness itself, so a run from an exported
commit (`--committed`) measures that commit throughout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CODE_DIR = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def python_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of a Python child: the caller's, plus `extra`, with bytecode caching on
    (the Temporal sandbox re-imports workflow modules and should find them compiled)."""
    env = os.environ.copy()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class Child:
    """One named process and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    role: str = ""  # what it is in the run: api, worker, simulator, temporal, driver …

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 12) -> str:
        """The last lines of its log, without the frames of a boxed traceback."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        plain = [line for line in text.splitlines() if line and line[0] not in "│╭╰"]
        return "\n".join(plain[-lines:])


@dataclass
class Children:
    """The processes of one stack, stopped in reverse order of start."""

    log_dir: Path
    started: list[Child] = field(default_factory=list)

    def spawn(self, name: str, args: list[str], env: dict[str, str], *, role: str = "") -> Child:
        log = self.log_dir / f"{name}.log"
        out = open(log, "ab")  # noqa: SIM115 - handed to the child
        popen = subprocess.Popen(args, cwd=CODE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        child = Child(name, popen, log, role or name)
        self.started.append(child)
        return child

    def python(
        self, name: str, module_args: list[str], env: dict[str, str], *, role: str = ""
    ) -> Child:
        return self.spawn(name, [sys.executable, "-m", *module_args], env, role=role)

    def adopt(self, name: str, popen: subprocess.Popen[bytes], log: Path, role: str) -> Child:
        child = Child(name, popen, log, role)
        self.started.append(child)
        return child

    def check_alive(self) -> None:
        for child in self.started:
            if child.role != "driver" and not child.alive():
                raise RuntimeError(
                    f"{child.name} exited early (code {child.popen.returncode}); "
                    f"last lines of {child.log}:\n{child.tail()}"
                )

    def stop(self, grace_s: float = 20.0) -> None:
        for child in reversed(self.started):
            if child.alive():
                child.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in reversed(self.started):
            try:
                child.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.popen.kill()
                child.popen.wait()
        self.started.clear()


def wait_http(url: str, what: str, seconds: float, children: Children) -> None:
    """Until `url` answers 200, while every process stays alive."""
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        children.check_alive()
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise RuntimeError(f"{what} was not ready at {url} within {seconds:.0f} s ({last})")
