"""Admission in an overloaded API process (`api/shedding.py`): a limit that follows the wait
for a database connection, and a place in line for every shed caller."""

from __future__ import annotations

from api.shedding import FORGET_S, HOLD_S, INTERVAL_S, MAX_RETRY_AFTER_S, MIN_SAMPLES, Admission


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def serving(admission: Admission, clock: Clock, *, per_s: int, seconds: int = 3) -> None:
    """`per_s` requests admitted and finished each second, one after another."""
    for _ in range(seconds * per_s):
        assert admission.admit(None) is None
        admission.finished()
        clock.now += 1.0 / per_s


def filled(admission: Admission) -> None:
    while admission.in_flight < admission.limit:
        assert admission.admit(None) is None


def intervals(admission: Admission, clock: Clock, wait_s: float, count: int) -> None:
    """`count` intervals in which every checkout waited `wait_s` for a connection."""
    for _ in range(count):
        for _ in range(MIN_SAMPLES):
            admission.waited(wait_s)
        clock.now += INTERVAL_S * 1.01
        admission.waited(wait_s)


def test_an_idle_process_admits_and_a_full_one_asks_for_at_least_a_second() -> None:
    admission = Admission(2, clock=Clock())
    assert admission.admit(1) is None
    assert admission.admit(2) is None
    assert admission.admit(3) == 1
    admission.finished()
    assert admission.admit(4) is None


def test_the_shed_get_places_in_line_at_nine_tenths_of_the_rate_finished() -> None:
    clock = Clock()
    admission = Admission(4, clock=clock)
    serving(admission, clock, per_s=100)
    filled(admission)  # saturated: the rate finished is what it can do
    waits = [admission.admit(caller) or 0 for caller in range(1000)]
    # 1000 callers in line at 90 a second: the first a second from now, the last about 12 s
    # later; never all at once, each later than the one before
    assert waits[0] == 1
    assert waits[-1] in (12, 13)
    assert waits == sorted(waits)
    assert waits.count(5) in (89, 90, 91)


def test_with_room_to_spare_the_line_moves_at_the_best_rate_of_late() -> None:
    clock = Clock()
    admission = Admission(64, clock=clock)
    serving(admission, clock, per_s=100)
    serving(admission, clock, per_s=10, seconds=5)  # few came since, the capacity is the same
    # shed for want of a connection, below the limit: 90 a second, not 9
    waits = [admission.shed(caller) for caller in range(180)]
    assert waits[-1] in (3, 4)


def test_a_caller_back_at_its_place_goes_ahead_of_new_ones() -> None:
    clock = Clock()
    admission = Admission(8, clock=clock)  # new callers up to 7, callers in line up to 8
    serving(admission, clock, per_s=100)
    filled(admission)
    first = admission.admit(7)
    assert first == 1
    clock.now += first
    assert admission.admit(8) is not None  # a new caller is still shed: the limit is reached
    assert admission.admit(7) is None  # the caller in line is not
    assert admission.in_flight == 8


def test_a_caller_back_early_is_told_the_time_left_and_keeps_its_place() -> None:
    clock = Clock()
    admission = Admission(8, clock=clock)
    serving(admission, clock, per_s=10)
    filled(admission)
    for caller in range(100):
        admission.admit(caller)
    last = admission.admit(100)
    assert last is not None and last >= 10
    clock.now += 3.0
    again = admission.admit(100)
    assert again is not None and again in (last - 3, last - 2)
    clock.now += again
    assert admission.admit(100) is None
    admission.finished()
    assert admission.admit(100) is None  # it may look before it retries: both go ahead
    clock.now += HOLD_S + 1
    assert admission.admit(100) is not None  # its place is long past: a new caller again


def test_the_wait_is_capped_and_the_line_keeps_its_order() -> None:
    clock = Clock()
    admission = Admission(8, clock=clock)
    serving(admission, clock, per_s=10)
    filled(admission)
    waits = [admission.admit(caller) for caller in range(1000)]
    assert max(w for w in waits if w is not None) == MAX_RETRY_AFTER_S
    wait = waits[250]
    assert wait is not None and wait < MAX_RETRY_AFTER_S
    clock.now += wait
    assert admission.admit(999) is not None  # its place is still ahead: about 100 s in all
    assert admission.admit(250) is None


def test_a_place_never_claimed_is_forgotten() -> None:
    clock = Clock()
    admission = Admission(1, clock=clock)
    serving(admission, clock, per_s=10)
    filled(admission)
    admission.admit(5)
    clock.now += FORGET_S + 5
    admission.finished()  # rolls a window, which drops what is long past
    assert admission.admit(5) is None
    assert 5 not in admission._slots


def test_without_credentials_there_is_a_wait_but_no_place() -> None:
    clock = Clock()
    admission = Admission(1, clock=clock)
    filled(admission)
    assert admission.admit(None) == 1
    clock.now += 1
    assert admission.admit(None) == 1  # still shed: nobody kept its place


def test_a_standing_queue_lowers_the_limit_to_the_floor_and_it_comes_back() -> None:
    clock = Clock()
    admission = Admission(512, floor=8, target_s=0.02, clock=clock)
    for _ in range(200):
        assert admission.admit(None) is None
    intervals(admission, clock, wait_s=0.04, count=1)
    assert admission.limit == 100  # 200 in flight waited twice the target: half as many
    intervals(admission, clock, wait_s=0.021, count=1)
    assert admission.limit == 90  # a tenth at least
    intervals(admission, clock, wait_s=0.5, count=1)
    assert admission.limit == 8
    intervals(admission, clock, wait_s=0.015, count=20)
    assert admission.limit == 8  # between half the target and the target: it stays
    intervals(admission, clock, wait_s=0.0, count=100)
    assert admission.limit == 448  # seven eighths of the ceiling: the rest is for callers in line


def test_a_few_slow_checkouts_or_too_few_checkouts_do_not_move_the_limit() -> None:
    clock = Clock()
    admission = Admission(512, target_s=0.02, clock=clock)
    for _ in range(200):
        assert admission.admit(None) is None
    for _ in range(5):  # most checkouts in each interval waited nothing: no standing queue
        for wait in [0.5] * 4 + [0.0] * 5:
            admission.waited(wait)
        clock.now += INTERVAL_S * 1.01
        admission.waited(0.0)
    assert admission.limit == 448
    for _ in range(5):  # too few checkouts to say anything
        admission.waited(0.5)
        clock.now += INTERVAL_S * 1.01
    assert admission.limit == 448


def test_a_target_of_zero_keeps_the_limit() -> None:
    clock = Clock()
    admission = Admission(64, target_s=0, clock=clock)
    intervals(admission, clock, wait_s=5.0, count=50)
    assert admission.limit == 56


def test_a_caller_back_early_is_served_when_there_is_room() -> None:
    clock = Clock()
    admission = Admission(8, clock=clock)
    serving(admission, clock, per_s=10)
    filled(admission)
    for caller in range(50):
        admission.admit(caller)
    assert admission.admit(49) is not None  # early and full: told to wait
    admission.finished()  # room for one
    assert admission.admit(49) is None  # early, but there is room
    admission.finished()
    assert 49 not in admission._slots  # its place was used
