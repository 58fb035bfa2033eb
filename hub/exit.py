"""Ending a process that has used a Temporal client, without interpreter finalisation.

The Temporal SDK's Rust core runs its own threads, which can still be finishing work (a cancelled
activity's completion, a client call's callback) when Python finalises; the process then aborts
with SIGABRT ("PyGILState_Release: thread state … must be current when releasing",
temporalio/sdk-python#300) although everything it was asked to do succeeded. A process that has
finished its work flushes what is worth keeping (spans, metrics, logs, standard streams) and
ends at once.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from hub.metrics import installed_meter_provider


def exit_process(code: int = 0) -> NoReturn:
    """Flush telemetry, logs and standard streams, then end the process with `code`."""
    tracer_provider = trace.get_tracer_provider()
    if isinstance(tracer_provider, TracerProvider):
        tracer_provider.shutdown()
    meter_provider = installed_meter_provider()
    if meter_provider is not None:
        meter_provider.shutdown()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
