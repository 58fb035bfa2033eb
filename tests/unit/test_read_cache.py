"""The catalogue read cache: kept for its time and no longer, dropped whole, off at zero."""

from __future__ import annotations

from api.read_cache import MAX_ENTRIES, ReadCache, render


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_kept_for_its_time_and_no_longer() -> None:
    clock = Clock()
    cache = ReadCache(1.0, clock)
    cache.put("k", b"answer")
    clock.now += 0.999
    assert cache.get("k") == b"answer"
    clock.now += 0.001
    assert cache.get("k") is None
    assert cache.get("other") is None


def test_clear_drops_every_answer() -> None:
    cache = ReadCache(60.0, Clock())
    cache.put("a", b"1")
    cache.put("b", b"2")
    cache.clear()
    assert cache.get("a") is None and cache.get("b") is None


def test_zero_seconds_keeps_nothing() -> None:
    cache = ReadCache(0.0, Clock())
    cache.put("k", b"answer")
    assert cache.get("k") is None


def test_a_full_cache_starts_afresh() -> None:
    cache = ReadCache(60.0, Clock())
    for index in range(MAX_ENTRIES):
        cache.put(index, b"x")
    cache.put("newest", b"y")
    assert cache.get(0) is None
    assert cache.get("newest") == b"y"


def test_render_is_compact_utf8_json() -> None:
    expected = '{"title":"地域応援","n":[1,null]}'.encode()
    assert render({"title": "地域応援", "n": [1, None]}) == expected
