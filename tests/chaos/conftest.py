"""One running hub for every chaos test of the session (see tests/chaos/stack.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.machine import ChaosMachine, Runner, running


@pytest.fixture(scope="session")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    with running(tmp_path_factory.mktemp("chaos")) as started:
        ChaosMachine.runner = started
        yield started
