"""Requests to the provider, signed the way the hub signs them (Standard Webhooks), with the
hub's handling of 429: wait `Retry-After`, send again. Every 429 seen is kept for its case."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from adapters.signing import sign_headers

MAX_RATE_LIMITED_RETRIES = 5


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # parsed JSON, or None
    text: str

    def field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None

    def shown(self) -> str:
        return f"{self.status} {self.text[:160]}"


@dataclass(frozen=True)
class RateLimited:
    """One 429 the provider sent, with its `Retry-After` as given (None: absent)."""

    path: str
    retry_after: str | None


@dataclass
class ProtocolClient:
    http: httpx.AsyncClient
    secret: str
    max_retry_after_s: float
    rate_limited: list[RateLimited] = field(default_factory=list)

    async def send(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        secret: str | None = None,
        at: datetime | None = None,
        headers: dict[str, str] | None = None,
        tamper: bool = False,
        signed: bool = True,
    ) -> Answer:
        """One signed request; a 429 is waited out (`Retry-After`) and sent again, freshly
        signed, as the hub does. `tamper` changes the body after signing it."""
        body = json.dumps(payload, separators=(",", ":")).encode() if payload is not None else b""
        for _ in range(MAX_RATE_LIMITED_RETRIES + 1):
            sent = {"content-type": "application/json", **(headers or {})}
            if signed:
                sent.update(sign_headers(secret or self.secret, body, at=at))
            content = body[:-1] + b',"tampered":true}' if tamper else body
            response = await self.http.request(method, path, content=content, headers=sent)
            if response.status_code != 429:
                return _answer(response)
            retry_after = response.headers.get("retry-after")
            self.rate_limited.append(RateLimited(path, retry_after))
            await asyncio.sleep(min(_seconds(retry_after) or 1.0, self.max_retry_after_s))
        return _answer(response)

    async def send_raw(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        """Exactly these bytes and headers, no retry: for the burst that looks for 429s."""
        response = await self.http.request(method, path, content=body, headers=headers)
        if response.status_code == 429:
            self.rate_limited.append(RateLimited(path, response.headers.get("retry-after")))
        return _answer(response)


def _answer(response: httpx.Response) -> Answer:
    try:
        body = response.json()
    except ValueError:
        body = None
    return Answer(response.status_code, body, response.text)


def _seconds(retry_after: str | None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if retry_after is None:
        return None
    value = retry_after.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC

    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def retry_after_problem(seen: RateLimited, limit_s: float) -> str | None:
    """Why a 429's `Retry-After` is not usable, or None when it is."""
    if seen.retry_after is None:
        return f"429 on {seen.path} without Retry-After"
    seconds = _seconds(seen.retry_after)
    if seconds is None:
        return f"429 on {seen.path}: Retry-After {seen.retry_after!r} is neither seconds nor a date"
    if seconds > limit_s:
        return f"429 on {seen.path}: Retry-After {seconds:.0f} s is longer than {limit_s:.0f} s"
    return None
