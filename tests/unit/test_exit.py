"""`hub.exit.exit_process`: the process ends with the given code and loses nothing it printed or
logged, although interpreter finalisation is skipped."""

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


def test_the_process_ends_with_its_code_and_its_output_flushed() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 3
    assert done.stdout == "result written"
    assert done.stderr.strip() == "logged before exit"
