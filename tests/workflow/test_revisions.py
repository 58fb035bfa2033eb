"""Workflow revisions (`workflows/revisions.py`): what a run of revision 1 takes without asking."""

from __future__ import annotations

import pytest

from workflows import application, receipts, reviews, revisions, search


def test_every_baked_patch_is_a_patch_of_the_workflows() -> None:
    patches = {
        application.CLAIM_LOADS_APPLICATION,
        application.APPLY_ONCE,
        application.REQUEST_ONCE,
        receipts.RECEIPT_MACHINE,
        receipts.CREDIT_REVERSAL,
        receipts.CONTRADICTION_SETTLED,
        receipts.RETRY_WITHOUT_STATUS,
        reviews.REVIEW_READ_BACK,
        search.PATCH,
    }
    assert patches == revisions.BAKED


def test_a_run_of_revision_0_asks_for_every_patch(monkeypatch: pytest.MonkeyPatch) -> None:
    class Old:
        pass

    class Lean:
        revision = revisions.LEAN

    asked: list[str] = []

    def patched(patch_id: str) -> bool:
        asked.append(patch_id)
        return False

    monkeypatch.setattr(revisions.workflow, "patched", patched)
    monkeypatch.setattr(revisions.workflow, "instance", Old)
    assert revisions.patched(receipts.RECEIPT_MACHINE) is False
    monkeypatch.setattr(revisions.workflow, "instance", Lean)
    assert revisions.patched(receipts.RECEIPT_MACHINE) is True
    assert revisions.patched("a-later-patch") is False  # not baked: asked
    assert asked == [receipts.RECEIPT_MACHINE, "a-later-patch"]
