"""`Retry-After` for shed requests, from the API process's own load (`api/shedding.py`)."""

from __future__ import annotations

from api.shedding import MAX_RETRY_AFTER_S, LoadGauge


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def busy(gauge: LoadGauge, clock: Clock, *, seconds: int, finished: int, shed: int) -> None:
    """`seconds` windows in which `finished` requests end and `shed` are shed each second."""
    for _ in range(seconds):
        for _ in range(finished):
            gauge.started()
            gauge.finished()
        for _ in range(shed):
            gauge.shed()
        clock.now += 1.0
    gauge.shed()  # rolls the last window


def test_an_idle_process_asks_for_one_second() -> None:
    assert LoadGauge().retry_after_s() == 1


def test_the_wait_is_the_work_ahead_over_the_rate_spread_over_twice_as_long() -> None:
    lowest_clock, highest_clock = Clock(), Clock()
    lowest = LoadGauge(lowest_clock, draw=lambda low, high: low)
    highest = LoadGauge(highest_clock, draw=lambda low, high: high)
    for gauge, clock in ((lowest, lowest_clock), (highest, highest_clock)):
        busy(gauge, clock, seconds=8, finished=250, shed=500)
        for _ in range(500):
            gauge.started()
    # (500 in flight + 500 shed a second) / 250 finished a second = 4 s, drawn from [4, 8]
    assert lowest.retry_after_s() == 4
    assert highest.retry_after_s() == 8


def test_the_wait_is_capped() -> None:
    clock = Clock()
    gauge = LoadGauge(clock, draw=lambda low, high: high)
    busy(gauge, clock, seconds=8, finished=10, shed=1000)
    assert gauge.retry_after_s() == MAX_RETRY_AFTER_S


def test_rates_from_before_a_quiet_spell_are_forgotten() -> None:
    clock = Clock()
    gauge = LoadGauge(clock, draw=lambda low, high: high)
    busy(gauge, clock, seconds=8, finished=100, shed=1000)
    assert gauge.retry_after_s() > 1
    clock.now += 10.0
    gauge.started()
    gauge.finished()
    assert gauge.retry_after_s() == 1
