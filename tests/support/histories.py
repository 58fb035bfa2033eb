"""Recorded workflow histories: replayed by the tests so a change that breaks a running workflow
fails. Set HUB_RECORD_HISTORIES=1 to (re)record them from the integration tests."""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import WorkflowHandle

HISTORIES = Path(__file__).parents[1] / "histories"


async def record(handle: WorkflowHandle, name: str) -> None:
    if not os.environ.get("HUB_RECORD_HISTORIES"):
        return
    history = await handle.fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
