"""Liveness and readiness (SPEC §5 Health)."""

from __future__ import annotations

from typing import Literal

from api.schemas.common import Body, example


class Health(Body):
    model_config = example(status="ok")

    status: Literal["ok"]


class Readiness(Body):
    """`ready` only when every dependency answered; otherwise 503 with the same body."""

    model_config = example(status="ready", checks={"database": "ok", "temporal": "ok"})

    status: Literal["ready", "not_ready"]
    checks: dict[str, str]
