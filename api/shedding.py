"""Who an overloaded API process serves now, and when it asks the others to come back.

Two rules, both in this process's memory (single-threaded: the event loop's):

**A limit for new callers**, seven eighths of `ceiling` (`HUB_API_MAX_IN_FLIGHT`); callers
coming back at their place in line may fill the last eighth. With a `target_s`
(`HUB_API_QUEUE_TARGET_MS`, off by default) the limit follows the queue: every `INTERVAL_S`
(CoDel's 100 ms, RFC 8289) the median wait for one of the process's database connections
(`storage.database.TimedPool` reports each checkout's) says whether a queue is standing; above
the target the limit falls to as many as were in flight scaled by target over median (a tenth at
least, never below `floor`), at or below half of it the limit grows by a tenth. Time spent on a
provider or a workflow is no wait for a connection, so a slow request does not lower it. (Not
CoDel's minimum: the pool lets a new checkout take a connection just returned ahead of those
waiting, so the shortest wait says nothing.) Measured on the opening rush (docs/benchmarks.md),
it cut the refusals' p99 by about three but also the applications answered a second by about a
third: on this hardware the queue for connections is mostly commits waiting on the disk, which
fewer at once make slower, so it is left for deployments whose API, not database, is the limit.

**A place in line for the shed.** A shed request's caller (its `Authorization` header) gets a
slot: the next free one on a calendar that hands out slots at nine tenths of the rate at which
this process can finish requests, never sooner than a second from now. That rate is the one
finished in the last seconds while the process is saturated (at its limit), else the best of
the last `CAPACITY_WINDOWS` seconds: with room to spare the current rate says only how many
came, and a line moving at that pace kept them away. `Retry-After`
is the time to the slot (RFC 9110 §10.2.3: whole seconds, at most `MAX_RETRY_AFTER_S`). A caller
that comes back at its slot is admitted ahead of new callers for `HOLD_S` (an app may look
whether its write was taken before it sends it again). One that comes back early is served if
there is room, like a new caller, else told the time left, keeping its slot: apps cap how long
they wait, and a process that turned early callers away while it had room stood idle with a
line outside. So the shed are served in the order they first came (SPEC
§2's first come, first served, for an opening rush), and their retries do not arrive together to
be shed again. A caller without credentials (a login) gets the calendar's time but no slot.

With several API processes each keeps its own line; a caller sent to another process on its
retry is a new caller there.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

MAX_RETRY_AFTER_S = 30
INTERVAL_S = 0.1  # CoDel's interval is 100 ms
MIN_SAMPLES = 8  # checkouts an interval needs before it moves the limit
WINDOW_S = 1.0  # the finishing rate is counted per second and smoothed
SMOOTHING = 0.5  # weight of the newest window
EARLY_S = 0.25  # a caller this much before its slot counts as on time…
HOLD_S = 3.0  # …and goes ahead for this long after it (its app may look before it retries)
FORGET_S = 60.0  # a slot not claimed this long after its time is dropped
MIN_RATE = 10.0  # the calendar's rate before anything has finished
CAPACITY_WINDOWS = 30  # the line moves at the best finishing rate of the last 30 s…
LINE_SHARE = 0.9  # …less a tenth, so that a queue left behind drains


class Admission:
    """In flight, the moving limit, the finishing rate and the line of shed callers."""

    def __init__(
        self,
        ceiling: int,
        *,
        floor: int = 32,
        target_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = ceiling
        self.top = max(1, ceiling - ceiling // 8)  # the rest is kept for callers in line
        self.floor = min(floor, self.top)
        self.target_s = target_s
        self.limit = self.top
        self.clock = clock
        self.in_flight = 0
        self.finished_per_s = 0.0
        self._finished = 0
        self._window_start = clock()
        self._first_window = True
        self._waits: list[float] = []
        self._interval_start = self._window_start
        self._rates: deque[float] = deque(maxlen=CAPACITY_WINDOWS)
        self._slots: dict[int, float] = {}
        self._line: deque[tuple[float, int]] = deque()  # (slot, caller), slots in order
        self._last_slot = 0.0

    def admit(self, caller: int | None) -> int | None:
        """None when the request may start (then `finished` must follow), else the whole seconds
        its caller should wait."""
        now = self.clock()
        slot = self._slots.get(caller) if caller is not None else None
        if slot is not None and now > slot + HOLD_S:  # its place is past: a new caller
            del self._slots[caller]  # type: ignore[arg-type]
            slot = None
        due = slot is not None and now >= slot - EARLY_S
        if self.in_flight < self.limit or (
            due and self.in_flight < min(self.ceiling, self.limit + self.ceiling - self.top)
        ):
            self.in_flight += 1
            if slot is not None and not due:  # early, but there was room: its place is used
                del self._slots[caller]  # type: ignore[arg-type]
            return None
        if slot is not None and not due:  # early: the time left, and it keeps its place
            return _seconds(slot - now)
        return self.shed(caller)

    def shed(self, caller: int | None) -> int:
        """Shed a request (over the limit, or no database connection free in time): the seconds
        to its caller's slot on the calendar."""
        now = self.clock()
        self._roll(now)
        # Saturated, the rate finished is what the process can do now (an opening rush's grants
        # wait on one another for the budget); otherwise only how many came, and the best rate
        # of the last half minute says more.
        saturated = self.in_flight >= self.limit
        rate = self.finished_per_s if saturated else max(self._rates, default=0.0)
        rate = max(rate * LINE_SHARE, MIN_RATE)
        slot = max(now + 1.0, self._last_slot + 1.0 / rate)
        self._last_slot = slot
        if caller is not None:
            self._slots[caller] = slot
            self._line.append((slot, caller))
        return _seconds(slot - now)

    def finished(self) -> None:
        """An admitted request ended."""
        self.in_flight -= 1
        self._finished += 1
        self._roll(self.clock())

    def waited(self, seconds: float) -> None:
        """A database checkout waited `seconds` for a free connection."""
        now = self.clock()
        self._waits.append(seconds)
        if now - self._interval_start >= INTERVAL_S:
            self._adapt()
            self._interval_start = now

    def _adapt(self) -> None:
        waits = self._waits
        if len(waits) >= MIN_SAMPLES and self.target_s > 0:
            waits.sort()
            typical = waits[len(waits) // 2]
            if typical > self.target_s:  # as many in flight as would wait `target_s`, at most
                scaled = int(self.in_flight * self.target_s / typical)
                self.limit = max(self.floor, min(int(self.limit * 0.9), scaled))
            elif typical <= self.target_s / 2:
                self.limit = min(self.top, int(self.limit * 1.1) + 1)
        self._waits = []

    def _roll(self, now: float) -> None:
        elapsed = now - self._window_start
        if elapsed < WINDOW_S:
            return
        finished = self._finished / elapsed
        self._rates.append(finished)
        if self._first_window or elapsed >= 4 * WINDOW_S:  # idle a while: old rates say nothing
            self.finished_per_s = finished
            self._first_window = False
        else:
            self.finished_per_s += SMOOTHING * (finished - self.finished_per_s)
        self._finished = 0
        self._window_start = now
        while self._line and self._line[0][0] < now - FORGET_S:
            slot, caller = self._line.popleft()
            if self._slots.get(caller) == slot:
                del self._slots[caller]


def _seconds(wait: float) -> int:
    return max(1, min(MAX_RETRY_AFTER_S, math.ceil(wait)))
