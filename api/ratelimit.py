"""Rate limits on login and resident writes.

Card login costs the resident a PIN entry and the hub a signature check, a CRL lookup and
perhaps a call to the linking service; resident writes start workflows. A client that sends
them in a loop is slowed down with 429 `rate_limited` and a `Retry-After`.

Login abuse is keyed on what identifies the one doing it: the challenge (each is single use,
so repeated attempts with one are replays; counted before the challenge is looked up), the
card (its certificate serial, counted once the signature proves the card was used, so nobody
can use up another resident's allowance with a copy of their certificate) and the MyKey ID.
Per client address there is only a coarse flood valve, because a mobile carrier puts many
residents behind one public address. Counters live in memory by default (each API process
counts on its own); with `HUB_RATE_LIMIT_STORAGE=redis://…` every API process shares them.

In memory the windows are this module's own (`MemoryWindows`): `limits`' in-memory moving window
inserts each hit at the front of a list as long as the limit (6,000 for one address) and sweeps
every key once a second, which cost about 5 % of the API's CPU under load (py-spy).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from domain.errors import RuleViolation
from hub.settings import Settings


def _storage(uri: str) -> Storage:
    if uri.startswith(("redis://", "rediss://")):
        built = storage_from_string(f"async+{uri}", implementation="redispy")
    elif uri.startswith("memory://"):
        built = storage_from_string(f"async+{uri}")
    else:
        built = storage_from_string(uri)
    if not isinstance(built, Storage):
        raise ValueError(f"HUB_RATE_LIMIT_STORAGE {uri!r} is not an asyncio storage")
    return built


class MemoryWindows:
    """Moving windows in this process's memory: for each key the times of the hits still inside
    its window, oldest first. A key whose window has emptied is forgotten on the next sweep, so
    single-use keys (challenge IDs) do not pile up."""

    SWEEP_EVERY_S = 30.0

    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], tuple[float, deque[float]]] = {}
        self._next_sweep = 0.0

    def hit(self, item: RateLimitItem, name: str, who: str) -> float | None:
        """Count one hit; None when it is allowed, else when (epoch seconds) a slot frees up."""
        now = time.time()
        if now >= self._next_sweep:
            self._sweep(now)
        window = float(item.get_expiry())
        key = (name, who)
        kept = self._hits.get(key)
        if kept is None:
            kept = self._hits[key] = (window, deque())
        times = kept[1]
        while times and times[0] <= now - window:
            times.popleft()
        if len(times) >= item.amount:
            return times[0] + window
        times.append(now)
        return None

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.SWEEP_EVERY_S
        stale = [k for k, (window, t) in self._hits.items() if not t or t[-1] <= now - window]
        for key in stale:
            del self._hits[key]


@dataclass(frozen=True)
class Limit:
    name: str
    item: RateLimitItem


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        uri = settings.rate_limit_storage
        self.memory = MemoryWindows() if uri.startswith("memory://") else None
        self.limiter = None if self.memory else MovingWindowRateLimiter(_storage(uri))
        self.login = Limit("login-address", parse(settings.rate_limit_login))
        self.login_card = Limit("login-card", parse(settings.rate_limit_login_card))
        self.login_challenge = Limit("login-challenge", parse(settings.rate_limit_login_challenge))
        self.login_mykey = Limit("login-mykey", parse(settings.rate_limit_login_mykey))
        self.resident = Limit("resident-writes", parse(settings.rate_limit_resident_writes))
        self.address = Limit("address-writes", parse(settings.rate_limit_address_writes))

    async def hit(self, limit: Limit, who: str) -> None:
        """Count one request by `who`; refuse it when the window is full."""
        if self.memory is not None:
            reset_time = self.memory.hit(limit.item, limit.name, who)
            if reset_time is None:
                return
        else:
            assert self.limiter is not None
            if await self.limiter.hit(limit.item, limit.name, who):
                return
            reset_time = (
                await self.limiter.get_window_stats(limit.item, limit.name, who)
            ).reset_time
        retry_after = max(1, math.ceil(reset_time - time.time()))
        raise RuleViolation(
            "rate_limited",
            f"too many requests; retry in {retry_after} s",
            status=429,
            retry_after_s=retry_after,
        )

    # ----- the login checks (services/identity.py `LoginLimits`) -------------------------------

    async def challenge_use(self, challenge_id: str) -> None:
        await self.hit(self.login_challenge, challenge_id)

    async def card_use(self, serial_hex: str) -> None:
        await self.hit(self.login_card, serial_hex)

    async def login_of(self, mykey_id: str) -> None:
        await self.hit(self.login_mykey, mykey_id)
