"""`hub.exit.exit_process`, through which `mph` and the bench processes end: the process ends with
the given code and loses nothing it printed or logged, although interpreter finalisation is
skipped."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import logging, sys
from hub.exit import exit_process
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
sys.stdout.write("result written")
logging.getLogger("t").info("logged before exit")
exit_process(3)
print("never reached")
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_process_ends_with_its_code_and_its_output_flushed() -> None:
    done = run("-c", PROGRAM)
    assert done.returncode == 3
    assert done.stdout == "result written"
    assert done.stderr.strip() == "logged before exit"


def test_every_mph_command_ends_through_it_with_its_exit_code() -> None:
    helped = run("-m", "cli", "--help")
    assert helped.returncode == 0 and "Usage" in helped.stdout  # piped output still flushed
    unknown = run("-m", "cli", "no-such-command")
    assert unknown.returncode == 2 and "No such command" in unknown.stderr
