"""Recorded workflow histories: replayed by the tests so a change that breaks a running workflow
fails. Set HUB_RECORD_HISTORIES=1 to record them from the integration and workflow tests.

Recording never overwrites: a history on disk is what some running workflow may look like, so
it stays and keeps being replayed; a changed path is recorded under a new name."""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import WorkflowHandle, WorkflowHistory

from hub.temporal import data_converter

HISTORIES = Path(__file__).parents[1] / "histories"


async def record(handle: WorkflowHandle, name: str) -> None:
    """Keep the workflow's history as `<name>.json`; a run started at a workflow revision
    (`workflows/revisions.py`) as `<name>_r<revision>.json`, since it takes other paths."""
    if not os.environ.get("HUB_RECORD_HISTORIES"):
        return
    history = await handle.fetch_history()
    revision = await _revision(history)
    path = HISTORIES / (f"{name}_r{revision}.json" if revision else f"{name}.json")
    if path.exists():
        return
    path.write_text(history.to_json())


async def _revision(history: WorkflowHistory) -> int:
    started = history.events[0].workflow_execution_started_event_attributes
    [start] = await data_converter().decode(started.input.payloads) or [None]
    return int(start.get("revision") or 0) if isinstance(start, dict) else 0
