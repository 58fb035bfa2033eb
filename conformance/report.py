"""The kit's report: one line per case, a pass or the reason it failed (or why it did not run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# Every case of the kit, in report order; docs/providers.md explains each.
CASES = (
    "signature.valid",
    "signature.tampered",
    "signature.stale",
    "signature.wrong_secret",
    "signature.missing",
    "signature.rotated",
    "accounts.active",
    "accounts.wrong_security_code",
    "accounts.closed",
    "accounts.unknown",
    "credits.credited",
    "credits.accepted",
    "credits.rejected",
    "idempotency.same_body",
    "idempotency.other_body",
    "status.pending",
    "status.credited",
    "status.rejected",
    "status.not_found",
    "webhooks.signature",
    "webhooks.event_types",
    "webhooks.credit_completed",
    "webhooks.credit_rejected",
    "batch.result_file",
    "batch.manifest",
    "batch.result_rows",
    "rate_limit.retry_after",
)


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # not for this provider's style, or nothing to judge (the reason says which)


@dataclass(frozen=True)
class CaseResult:
    name: str
    outcome: Outcome
    reason: str = ""


@dataclass
class Report:
    target: str
    results: list[CaseResult] = field(default_factory=list)

    def add(self, name: str, outcome: Outcome, reason: str = "") -> None:
        self.results.append(CaseResult(name, outcome, reason))

    def check(self, name: str, problems: list[str], passed: str = "") -> None:
        """Pass when `problems` is empty, otherwise fail with them as the reason."""
        if problems:
            self.add(name, Outcome.FAIL, "; ".join(problems))
        else:
            self.add(name, Outcome.PASS, passed)

    def outcome_of(self, name: str) -> Outcome | None:
        return next((r.outcome for r in self.results if r.name == name), None)

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if r.outcome == Outcome.FAIL]

    @property
    def ok(self) -> bool:
        return not self.failed

    def render(self) -> str:
        width = max((len(r.name) for r in self.results), default=10)
        lines = [f"Hub Provider Protocol conformance: {self.target}", ""]
        for r in self.results:
            reason = f"  {r.reason}" if r.reason else ""
            lines.append(f"{r.outcome.value.upper():4}  {r.name:<{width}}{reason}".rstrip())
        counts = {o: sum(1 for r in self.results if r.outcome == o) for o in Outcome}
        lines += [
            "",
            f"{counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed, "
            f"{counts[Outcome.SKIP]} skipped",
        ]
        return "\n".join(lines) + "\n"
