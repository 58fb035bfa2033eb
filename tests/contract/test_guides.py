"""The integration guides stay true to the code: every error code the hub can answer with is
explained in one of them (or is a staff tool's own), every case of the conformance kit is
explained in the providers' guide, and both guides have their flows drawn."""

from __future__ import annotations

import re
from pathlib import Path

from conformance.report import CASES
from simulators.faults import PROTOCOL_FAULTS

ROOT = Path(__file__).resolve().parents[2]
APP = (ROOT / "docs" / "app-integration.md").read_text(encoding="utf-8")
PROVIDERS = (ROOT / "docs" / "providers.md").read_text(encoding="utf-8")
SOURCES = ("adapters", "api", "console", "domain", "services", "storage")
# Codes only staff tools meet (municipality, support and operator routes, the console); their
# routes document them in docs/openapi.json and their detail texts say what to fix.
STAFF_ONLY = {
    "already_exists",
    "break_already_resolved",
    "invalid_month",
    "month_not_ended",
    "open_breaks",
    "resolution_not_allowed",
    "settlement_open",
    "console_role_refused",
    "csrf_failed",
    "invalid_event",
    "invalid_grant_transition",
    "invalid_measure",
    "invalid_measure_state",
    "invalid_municipality_code",
    "invalid_payload",
    "invalid_provider_config",
    "invalid_scope",
    "invalid_target_list",
    "measure_not_draft",
    "mykey_status_conflict",
    "not_a_target_list_measure",
    "not_an_event_measure",
    "note_required",
    "payload_not_decodable",
    "reason_required",
    "review_already_decided",
    "target_list_too_large",
    "unknown_action",
    "unknown_provider",
    "unsupported_media_type",
}

# Codes only the benchmark's direct orchestration answers (`HUB_ORCHESTRATION=direct`, refused in
# production): no app or provider meets them (docs/benchmarks.md).
BENCH_ONLY = {"not_supported_in_direct_orchestration"}


def raised_codes() -> set[str]:
    codes: set[str] = set()
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            codes |= set(re.findall(r'RuleViolation\(\s*"([a-z_]+)"', text))
            codes |= set(re.findall(r'problem\(\s*\d+,\s*"([a-z_]+)"', text))
    return codes


def explained(guide: str) -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \| \d{3} \|", guide, re.MULTILINE))


def test_every_error_code_is_explained_with_what_to_do() -> None:
    codes = raised_codes()
    assert len(codes) > 40
    missing = sorted(codes - explained(APP) - explained(PROVIDERS) - STAFF_ONLY - BENCH_ONLY)
    assert missing == [], "explain these codes in docs/app-integration.md or docs/providers.md"
    assert sorted((STAFF_ONLY | BENCH_ONLY) - codes) == [], "codes no longer raised"


def test_every_case_and_fault_of_the_kit_is_explained() -> None:
    assert [c for c in CASES if f"`{c}`" not in PROVIDERS] == []
    assert [f for f in PROTOCOL_FAULTS if f"`{f}`" not in PROVIDERS] == []
    report = PROVIDERS.split("The kit's report for the simulator", 1)[1]
    assert "0 failed" in report and "PASS  webhooks.credit_completed" in report


def test_both_guides_draw_their_flows_and_speak_both_languages() -> None:
    for guide in (APP, PROVIDERS):
        assert guide.count("```mermaid") >= 1 and "sequenceDiagram" in guide
        assert re.search(r"[ぁ-んァ-ン]", guide) and "English" in guide
