"""Payloads the baseline adds to the hub's contract.

Annotations are evaluated (no `from __future__ import annotations`): the payload converter
resolves these types inside the workflow sandbox, where string annotations do not resolve.
"""

from dataclasses import dataclass, field

from workflows.messages import ApplicationInput


@dataclass
class BaselineApplicationInput(ApplicationInput):
    """The hub's `ApplicationInput` (what the API sends), plus: grant at start (auto-grant)."""

    auto_grant: bool = False


@dataclass
class TargetPageInput:
    measure_id: str
    after: str = ""
    limit: int = 200


@dataclass
class TargetOfMeasure:
    mykey_id: str
    application_id: str
    workflow_id: str


@dataclass
class TargetPage:
    targets: list[TargetOfMeasure] = field(default_factory=list)
    cursor: str = ""
