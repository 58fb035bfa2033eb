"""The one error type the rules raise: a stable machine code, an HTTP status, a human detail."""

from __future__ import annotations


class RuleViolation(Exception):
    """A business rule refused something. `code` is part of the public contract (SPEC §5)."""

    def __init__(self, code: str, detail: str, *, status: int = 422, **extra: object) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status
        self.extra = extra
