"""Recorded workflow histories: replayed by the tests so a change that breaks a running workflow
fails. Set HUB_RECORD_HISTORIES=1 to record them from the integration and workflow tests.

Recording never overwrites: a history on disk is what some running workflow may look like, so
it stays and keeps being replayed; a changed path is recorded under a new name."""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import WorkflowHandle

HISTORIES = Path(__file__).parents[1] / "histories"


async def record(handle: WorkflowHandle, name: str) -> None:
    if not os.environ.get("HUB_RECORD_HISTORIES"):
        return
    path = HISTORIES / f"{name}.json"
    if path.exists():
        return
    history = await handle.fetch_history()
    path.write_text(history.to_json())
