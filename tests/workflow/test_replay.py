"""Every recorded history replays against the current workflow code without nondeterminism."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from hub.temporal import data_converter
from hub.workers import WORKFLOWS, workflow_runner
from tests.support.histories import HISTORIES

RECORDED = sorted(HISTORIES.glob("*.json"))


def test_histories_are_recorded() -> None:
    assert RECORDED, f"no recorded histories in {HISTORIES}"


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: Path(p).stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=data_converter(),
        workflow_runner=workflow_runner(sandboxed=True),
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
