"""The report's arithmetic: CPU per completed unit by role, the share of the no-op ceiling, and
issue 19's targets judged on the hub's figures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bench import report
from bench.scenarios import receipt_wave
from bench.scenarios.common import VariantResult, cpu_per_unit

PROCESSES: dict[str, dict[str, Any]] = {
    "temporal": {"role": "temporal", "cpu_s": 30.0},
    "api-1": {"role": "api", "cpu_s": 20.0},
    "api-2": {"role": "api", "cpu_s": 10.0},
    "worker-1": {"role": "worker", "cpu_s": 25.0},
    "simulator": {"role": "simulator", "cpu_s": 2.0},
    "residents": {"role": "driver", "cpu_s": 8.0},
    "gone": {"role": "driver", "cpu_s": None},  # ended before the measured phase
}


def test_cpu_per_unit_sums_each_role_and_api_with_workers() -> None:
    processes = {name: dict(entry) for name, entry in PROCESSES.items()}
    found = cpu_per_unit(processes, ("lifecycle", 1000))
    assert found["cpu_unit"] == "lifecycle" and found["cpu_units"] == 1000
    assert found["cpu_ms_per_unit"] == {
        "api": 30.0,
        "worker": 25.0,
        "temporal": 30.0,
        "simulator": 2.0,
        "driver": 8.0,
        "api+worker": 55.0,
    }
    assert processes["api-2"]["cpu_ms_per_unit"] == 10.0
    assert "cpu_ms_per_unit" not in processes["gone"]
    assert cpu_per_unit(processes, ("lifecycle", 0)) == {}
    assert cpu_per_unit(processes, None) == {}


def test_merge_processes_adds_the_drivers_own_cpu_before_dividing() -> None:
    result = VariantResult("hub", unit=("lifecycle", 100))
    result.drivers["residents"] = {"cpu_s": 1.5, "peak_rss_mib": 80.0}
    result.merge_processes({"api-1": {"role": "api", "cpu_s": 4.0, "peak_rss_mib": 150.0}})
    assert result.figures["cpu_ms_per_unit"]["driver"] == 15.0
    assert result.figures["cpu_ms_per_unit"]["api+worker"] == 40.0


def _lifecycle(variant: str, rate: float, api_worker: float, dev_server: float) -> VariantResult:
    result = VariantResult(variant, figures={"residents": 2000, "lifecycles_per_s": rate})
    result.figures["cpu_ms_per_unit"] = {"api+worker": api_worker, "temporal": dev_server}
    return result


def test_the_lifecycle_is_judged_against_the_ceiling_of_the_same_command() -> None:
    variants = {
        "hub": _lifecycle("hub", 36.0, 40.0, 31.0),
        "baseline": _lifecycle("baseline", 9.0, 150.0, 80.0),
    }
    report.ceiling_shares("lifecycle", variants, {"noop_workflows": {"workflows_per_s": 80.0}})
    assert variants["hub"].figures["percent_of_noop_ceiling"] == 45.0
    assert variants["baseline"].figures["percent_of_noop_ceiling"] == 11.2
    judged = {t["target"]: t["met"] for t in report.judge("lifecycle", variants, {})}
    assert judged == {
        "cpu_ms_per_unit.api+worker <= 40.0": True,
        "cpu_ms_per_unit.temporal <= 30.0": False,
        "percent_of_noop_ceiling >= 40.0": True,
    }
    ratios = report.ratios("lifecycle", variants)
    assert ratios["lifecycles_per_s"] == 4.0
    assert ratios["cpu_ms_per_unit.api+worker"] == 0.27


def test_the_hub_is_set_beside_the_direct_floor_too() -> None:
    variants = {
        "hub": _lifecycle("hub", 9.0, 120.0, 48.0),
        "baseline": _lifecycle("baseline", 6.0, 150.0, 80.0),
        "direct": _lifecycle("direct", 18.0, 60.0, 2.0),
    }
    assert report.ratios("lifecycle", variants, "direct")["lifecycles_per_s"] == 0.5
    assert report.ratios("lifecycle", variants, "direct")["cpu_ms_per_unit.api+worker"] == 2.0
    assert report.ratios("lifecycle", variants)["lifecycles_per_s"] == 1.5  # hub / baseline
    assert report.ratios("lifecycle", {"hub": variants["hub"]}, "direct") == {}


def test_no_ceiling_measured_leaves_the_share_unjudged() -> None:
    variants = {"hub": _lifecycle("hub", 9.0, 100.0, 40.0)}
    report.ceiling_shares("lifecycle", variants, {})
    assert "percent_of_noop_ceiling" not in variants["hub"].figures
    judged = {t["target"]: t.get("met") for t in report.judge("lifecycle", variants, {})}
    assert judged["percent_of_noop_ceiling >= 40.0"] is None


def test_the_rush_p99_is_judged_only_at_the_size_the_issue_states() -> None:
    figures = {
        "residents": 200,
        "refusal_p99_after_budget_gone_ms": 80.0,
        "server_errors": 0,
        "hung_requests": 1,
        "workflows_started_beyond_grants": 0,
    }
    judged = report.judge("rush", {"hub": VariantResult("hub", figures=figures)}, {})
    met = {t["target"]: t["met"] for t in judged}
    assert met["refusal_p99_after_budget_gone_ms <= 100.0"] is None
    assert met["hung_requests == 0"] is False
    assert met["server_errors == 0"] is True


def test_a_file_counts_final_once_the_next_is_taken_in_and_the_last_at_the_end() -> None:
    at = [datetime(2026, 12, 7, 10, 0, s, tzinfo=UTC) for s in range(60)]
    landed = [(at[0], at[2]), (at[1], at[10]), (at[30], at[31])]  # (landed, taken in)
    # final by: the next file's taking in (10, 31), the last by every grant final (40)
    assert receipt_wave._slowest_file(landed, at[40]) == 30.0  # the second: 1 → 31
    assert receipt_wave._slowest_file(landed[:1], at[5]) == 5.0
    together = [(at[0], at[2]), (at[1], at[2]), (at[3], at[9])]  # two taken in at once
    assert receipt_wave._slowest_file(together, at[12]) == 9.0  # the first two: final by 9
    assert receipt_wave._slowest_file([], at[5]) is None


def test_the_receipt_wave_is_judged_per_file_at_the_size_the_issue_states() -> None:
    def wave(residents: int, slowest: float) -> dict[str, VariantResult]:
        figures = {"residents": residents, "slowest_file_final_s": slowest, "stuck_flagged": 0}
        return {"hub": VariantResult("hub", figures=figures)}

    def verdict(judged: list[dict[str, Any]]) -> Any:
        [entry] = [j for j in judged if j["target"].startswith("slowest_file_final_s")]
        return entry["met"]

    assert verdict(report.judge("receipt-wave", wave(100_000, 59.0), {})) is True
    assert verdict(report.judge("receipt-wave", wave(100_000, 61.0), {})) is False
    assert verdict(report.judge("receipt-wave", wave(2_000, 5.0), {})) is None
