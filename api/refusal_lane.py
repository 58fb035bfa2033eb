"""A lane of its own for applications to a measure whose budget is known to be used up.

In an opening rush (docs/benchmarks.md) the budget is gone within the first minute and every
later application is refused `budget_exhausted`. Such a refusal is one read, but it used to wait
its turn behind every request in flight: first for a place under `HUB_API_MAX_IN_FLIGHT`, then
for one of the process's database connections, then for the audit entry's commit on the same
pool, seconds in all under load.

A measure's budget only ever grows used, and a published measure's budget never changes, so a
measure once seen used up stays used up: this process remembers it (`budget_gone`, told by the
application service when the decision in the request refused on the budget). An application to
such a measure then goes in this lane: counted against the lane's own limit
(`HUB_API_REFUSAL_LANE_MAX_IN_FLIGHT`) instead of the process's, and served from a pool of its
own (`HUB_API_REFUSAL_LANE_POOL_SIZE`), never behind the requests in flight. The audit entries'
group commits, which every write request waits for, have a connection of their own too
(`api/app.py`).

The lane is off unless `HUB_API_REFUSAL_LANE_MAX_IN_FLIGHT` is set (docs/benchmarks.md, "A lane
for the refusals": in the full rush it cut the refusals' p99 from 11.3 s to 1.4 s, but left 23
requests unanswered for 30 s on a two-core machine, where the event loop itself is the queue).

The lane changes only where the request waits. The answer is still the request's own, by the
same code: the session, the measure and a previous application read in one query, refused in
the same order (401, 404, `already_applied`, then the measure's rules), so a resident who
applied before still hears `already_applied`. Nothing is decided from memory.
"""

from __future__ import annotations

import re

from starlette.types import Scope

_APPLICATION = re.compile(r"^/v1/measures/([^/]+)/applications/?$")
IN_LANE = "refusal_lane"  # the request state's flag: served from the lane's pool


class RefusalLane:
    """The measures this process has seen used up, and the requests in the lane now
    (single-threaded: the event loop's)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._gone: set[str] = set()

    def budget_gone(self, measure_id: str) -> None:
        self._gone.add(measure_id)

    def takes(self, scope: Scope) -> bool:
        """Whether `scope` is an application to a measure whose budget this process saw gone."""
        if scope.get("method") != "POST" or not self._gone:
            return False
        found = _APPLICATION.match(str(scope.get("path", "")))
        return found is not None and found.group(1) in self._gone


def in_lane(scope: Scope) -> bool:
    state = scope.get("state") or {}
    return bool(state.get(IN_LANE))
