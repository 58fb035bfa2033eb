"""Who an overloaded API process serves now, and when it asks the others to come back.

Two rules, both in this process's memory (single-threaded: the event loop's):

**A limit that follows the queue.** New callers are admitted up to a limit that moves between
`floor` and seven eighths of `ceiling` (`HUB_API_MAX_IN_FLIGHT`, which callers coming back at
their place in line may fill). The queue is the wait for one of
the process's database connections (`storage.database.TimedPool` reports each checkout's wait).
Every `INTERVAL_S`, the shortest wait in it says whether a queue is standing (CoDel's rule, RFC
8289 §3: the *minimum* sojourn over an interval, so a burst does not count but a standing queue
does): above `target_s` the limit shrinks by a tenth, at or below half of it the limit grows by
a tenth. The time a request spends on a provider or a workflow is not a wait for a connection,
so a slow request does not shrink the limit. Every admitted request is served by one event loop
and one pool: a limit of 512 held an opening rush's refusals for seconds behind the others, at no
more throughput than a few dozen in flight give.

**A place in line for the shed.** A shed request's caller (its `Authorization` header) gets a
slot: the next free one on a calendar that hands out slots at the rate this process finishes
requests, never sooner than a second from now. `Retry-After` is the time to the slot (RFC 9110
§10.2.3: whole seconds, at most `MAX_RETRY_AFTER_S`). A caller that comes back at its slot is
admitted ahead of new callers, up to the ceiling; one that comes back early is told the time
left, and keeps its slot. So the shed are served in the order they first came (SPEC §2's first
come, first served, for an opening rush), and their retries do not arrive together to be shed
again. A caller without credentials (a login) gets the calendar's time but no slot.

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
EARLY_S = 0.25  # a caller this much before its slot counts as on time
FORGET_S = 60.0  # a slot not claimed this long after its time is dropped
MIN_RATE = 10.0  # the calendar's rate before anything has finished


class Admission:
    """In flight, the moving limit, the finishing rate and the line of shed callers."""

    def __init__(
        self,
        ceiling: int,
        *,
        floor: int = 8,
        target_s: float = 0.02,
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
        self._fastest = math.inf
        self._samples = 0
        self._interval_start = self._window_start
        self._slots: dict[int, float] = {}
        self._line: deque[tuple[float, int]] = deque()  # (slot, caller), slots in order
        self._last_slot = 0.0

    def admit(self, caller: int | None) -> int | None:
        """None when the request may start (then `finished` must follow), else the whole seconds
        its caller should wait."""
        now = self.clock()
        slot = self._slots.get(caller) if caller is not None else None
        if slot is not None:
            if now < slot - EARLY_S:
                return _seconds(slot - now)
            del self._slots[caller]  # type: ignore[arg-type]
            if self.in_flight < self.ceiling:
                self.in_flight += 1
                return None
        elif self.in_flight < self.limit:
            self.in_flight += 1
            return None
        return self.shed(caller)

    def shed(self, caller: int | None) -> int:
        """Shed a request (over the limit, or no database connection free in time): the seconds
        to its caller's slot on the calendar."""
        now = self.clock()
        self._roll(now)
        rate = max(self.finished_per_s, MIN_RATE)
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
        self._fastest = min(self._fastest, seconds)
        self._samples += 1
        if now - self._interval_start >= INTERVAL_S:
            self._adapt()
            self._interval_start = now

    def _adapt(self) -> None:
        if self._samples >= MIN_SAMPLES and self.target_s > 0:
            if self._fastest > self.target_s:
                self.limit = max(self.floor, int(self.limit * 0.9))
            elif self._fastest <= self.target_s / 2:
                self.limit = min(self.top, int(self.limit * 1.1) + 1)
        self._fastest = math.inf
        self._samples = 0

    def _roll(self, now: float) -> None:
        elapsed = now - self._window_start
        if elapsed < WINDOW_S:
            return
        finished = self._finished / elapsed
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
