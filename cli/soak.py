"""`mph soak`: the fault-injection state machine of `tests/chaos` for as long as asked.

It starts its own hub (the time-skipping Temporal test server, a fresh database, the provider
simulator, the API and workers, all in this process), runs the machine in rounds of examples
with the given seed, and prints the counts: runs, receipts and how they ended, stalls, double
credits, workflow failures. Unlike the test, a broken invariant does not stop the soak: it is
counted, and the first few failing runs are printed with their steps. Exits 1 when any run
broke the invariant.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

ROUND_EXAMPLES = 5  # the soak looks at the clock between rounds


def soak(
    minutes: Annotated[float, typer.Option(help="how long to run")] = 5.0,
    seed: Annotated[int, typer.Option(help="the first round's seed; each round adds one")] = 0,
    steps: Annotated[int, typer.Option(help="steps per run (rules before the settle)")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print the counts as JSON")] = False,
) -> None:
    """Random interleavings of provider faults, support actions, revocations and worker kills,
    each run checked against the receipt invariant of issue 17."""
    checkout = Path(__file__).resolve().parents[1]  # an editable install's source checkout
    if (checkout / "tests" / "chaos").is_dir() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    try:
        from tests.chaos.machine import ChaosMachine, running
    except ImportError as exc:  # the machine lives with the tests, in a source checkout
        typer.echo(f"mph soak needs the source checkout's tests/chaos: {exc}", err=True)
        raise typer.Exit(2) from exc
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.errors import HypothesisException
    from hypothesis.stateful import run_state_machine_as_test

    quiet_temporal_core()
    deadline = time.monotonic() + minutes * 60
    rounds = errors = 0
    with tempfile.TemporaryDirectory(prefix="mph-soak-") as tmp, running(Path(tmp)) as runner:
        ChaosMachine.runner, ChaosMachine.strict = runner, False
        while time.monotonic() < deadline:

            class Round(ChaosMachine):
                _hypothesis_internal_use_seed = seed + rounds

            rounds += 1
            try:
                run_state_machine_as_test(
                    Round,
                    settings=settings(
                        max_examples=ROUND_EXAMPLES,
                        stateful_step_count=steps,
                        deadline=None,
                        database=None,
                        phases=(Phase.generate,),
                        suppress_health_check=list(HealthCheck),
                    ),
                )
            except (AssertionError, HypothesisException, Exception) as exc:
                errors += 1  # a step broke (an unexpected answer): counted, the soak goes on
                typer.echo(f"round {rounds}: a step failed: {str(exc)[:300]}", err=True)
        tally = runner.tally
        report: dict[str, Any] = {
            "minutes": minutes,
            "seed": seed,
            "rounds": rounds,
            "step_errors": errors,
            **tally.summary(),
            "settled_after": dict(tally.settled),
            "matrix": {k: dict(v) for k, v in sorted(tally.matrix.items())},
        }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        for name, value in report.items():
            if name != "matrix":
                typer.echo(f"{name:>20}: {value}")
        for trace, problems in tally.first_failures:
            typer.echo("\nfailing run:\n  " + "\n  ".join(problems))
            typer.echo("  steps: " + "; ".join(trace))
    broken = tally.failed_runs or errors
    raise typer.Exit(1 if broken else 0)


def quiet_temporal_core() -> None:
    """The SDK core warns about the test server's missing capabilities at every worker start;
    a soak kills and starts workers hundreds of times, so only its errors are printed."""
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    Runtime.set_default(
        Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet))),
        error_if_already_set=False,
    )
