"""How long a shed request should wait: `Retry-After` from this process's own load.

A fixed `Retry-After: 1` brought every shed client back a second later, all together, and the
opening rush (docs/benchmarks.md) shed the same residents again and again until their app gave
up, while each 503 still cost the API a request's parsing. The wait is instead the work ahead
of a retry over the rate at which this process finishes requests:

    ahead = requests in flight + requests shed in the last second (they will come back)
    wait  = ahead / finished per second, drawn from [wait, 2 × wait] so that retries spread out

rounded up to whole seconds (RFC 9110 §10.2.3: delay-seconds), at least 1 and at most
`MAX_RETRY_AFTER_S`. The rates are per one-second window, smoothed over the last few.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

MAX_RETRY_AFTER_S = 30
WINDOW_S = 1.0
SMOOTHING = 0.5  # weight of the newest window


class LoadGauge:
    """Requests in flight, finished and shed in one API process (single-threaded: the event
    loop's), and the `Retry-After` they suggest."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.clock = clock
        self.draw = draw
        self.in_flight = 0
        self.finished_per_s = 0.0
        self.shed_per_s = 0.0
        self._finished = 0
        self._shed = 0
        self._window_start = clock()
        self._first_window = True

    def started(self) -> None:
        self.in_flight += 1

    def finished(self) -> None:
        self._roll()
        self.in_flight -= 1
        self._finished += 1

    def shed(self) -> None:
        self._roll()
        self._shed += 1

    def retry_after_s(self) -> int:
        """Whole seconds a shed client should wait before it tries again."""
        self._roll()
        ahead = self.in_flight + self.shed_per_s
        if ahead < 1 or self.finished_per_s <= 0:
            return 1
        wait = ahead / self.finished_per_s
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil(self.draw(wait, 2 * wait))))

    def _roll(self) -> None:
        now = self.clock()
        elapsed = now - self._window_start
        if elapsed < WINDOW_S:
            return
        finished, shed = self._finished / elapsed, self._shed / elapsed
        if self._first_window or elapsed >= 4 * WINDOW_S:  # idle a while: old rates say nothing
            self.finished_per_s, self.shed_per_s = finished, shed
            self._first_window = False
        else:
            self.finished_per_s += SMOOTHING * (finished - self.finished_per_s)
            self.shed_per_s += SMOOTHING * (shed - self.shed_per_s)
        self._finished = self._shed = 0
        self._window_start = now
