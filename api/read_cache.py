"""Rendered answers to the hottest resident read, the measure catalogue, kept for a moment.

Every resident sees the same catalogue for the same query, and it changes only when staff edit a
measure or a grant uses budget; rendering it (twenty measures, their services, the JSON) is most
of what a read costs. An answer is kept for `HUB_CATALOG_CACHE_S` seconds (0 turns it off), and
every write this process handles drops them all, so a change made through this API shows at once
and one made elsewhere (a worker's grant, another API process) within that many seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

from pydantic import TypeAdapter

_JSON = TypeAdapter(dict[str, Any])
MAX_ENTRIES = 1024  # distinct queries kept; a full cache starts afresh


def render(body: dict[str, Any]) -> bytes:
    """The JSON FastAPI would send for `body`, so a kept answer matches a fresh one."""
    return _JSON.dump_json(body)


class ReadCache:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, bytes]] = {}

    def get(self, key: Hashable) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, body = entry
        if self.clock() >= expires:
            del self._entries[key]
            return None
        return body

    def put(self, key: Hashable, body: bytes) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (self.clock() + self.ttl_s, body)

    def clear(self) -> None:
        self._entries.clear()
