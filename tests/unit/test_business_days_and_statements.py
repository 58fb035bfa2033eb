"""JST business days from the public holiday calendar, and the statement reader that takes a file
in arbitrary pieces."""

from __future__ import annotations

from datetime import date, datetime

from domain.business_days import (
    JST,
    business_day_of,
    day_window,
    is_business_day,
    month_window,
    next_month,
    previous_business_day,
    previous_month,
)
from domain.reconciliation import Action, BreakKind, Resolution, action_for
from domain.settlement import Line, render_csv, totals
from domain.statements import StatementReader


def test_weekends_national_and_bank_holidays_are_not_business_days() -> None:
    assert not is_business_day(date(2026, 1, 1))  # 元日
    assert not is_business_day(date(2026, 1, 2))  # bank holiday
    assert not is_business_day(date(2026, 12, 31))  # bank holiday
    assert not is_business_day(date(2026, 5, 6))  # substitute holiday
    assert not is_business_day(date(2026, 9, 22))  # citizens' holiday between two holidays
    assert not is_business_day(date(2026, 12, 5))  # Saturday
    assert is_business_day(date(2026, 1, 5))
    assert previous_business_day(date(2026, 1, 5)) == date(2025, 12, 30)


def test_a_credit_on_a_holiday_belongs_to_the_next_business_day() -> None:
    assert business_day_of(datetime(2026, 12, 5, 10, tzinfo=JST)) == date(2026, 12, 7)
    assert business_day_of(datetime(2026, 12, 4, 23, 59, 59, tzinfo=JST)) == date(2026, 12, 4)
    lo, hi = day_window(date(2026, 12, 7))
    assert lo == datetime(2026, 12, 5, tzinfo=JST) and hi == datetime(2026, 12, 8, tzinfo=JST)
    assert day_window(date(2026, 12, 4))[1] == lo  # the windows tile time


def test_a_month_holds_the_business_days_of_its_calendar_month() -> None:
    # 2026-01-31 is a Saturday: its credits belong to Monday 2 February.
    lo, hi = month_window("2026-01")
    assert hi == datetime(2026, 1, 31, tzinfo=JST)
    assert month_window("2026-02")[0] == hi
    assert lo == datetime(2025, 12, 31, tzinfo=JST)  # 12/31–1/4 roll into 1/5
    assert next_month("2026-12") == "2027-01" and previous_month("2026-01") == "2025-12"


def test_the_reader_takes_a_statement_in_any_pieces() -> None:
    text = (
        "\ufeffreceipt_id,points,credited_at,provider_reference\r\n"
        'r-1,100,2026-12-04T10:00:00+09:00,"ref, with a comma"\r\n'
        'r-2,200,2026-12-04T10:00:01+09:00,"two\nlines"\r\n'
        "r-3,300,2026-12-04T10:00:02+09:00,\r\n"
    ).encode()
    for size in (1, 2, 3, 7, 64, len(text)):
        reader = StatementReader()
        rows = []
        for start in range(0, len(text), size):
            rows += reader.feed(text[start : start + size])
        rows += reader.finish()
        assert [r.receipt_id for r in rows] == ["r-1", "r-2", "r-3"], size
        assert rows[1].provider_reference == "two\nlines"
        assert rows[2].line == 5  # the quoted line break counts as a line
        assert (reader.records, reader.total_points, reader.problems) == (3, 600, [])


def test_which_resolution_fits_which_break() -> None:
    credit, no_credit = (
        Resolution.PROVIDER_CONFIRMED_CREDIT,
        Resolution.PROVIDER_CONFIRMED_NO_CREDIT,
    )
    assert action_for(BreakKind.MISSING_AT_PROVIDER, no_credit, "credited") is Action.REVERSE_CREDIT
    assert action_for(BreakKind.MISSING_AT_HUB, credit, "accepted") is Action.ACKNOWLEDGE_CREDIT
    assert action_for(BreakKind.MISSING_AT_HUB, no_credit, "crediting") is Action.RETURN_OPEN
    assert action_for(BreakKind.MISSING_AT_HUB, no_credit, None) is Action.NOTHING
    assert action_for(BreakKind.POINTS_MISMATCH, credit, "credited") is Action.NOTHING


def test_the_report_is_the_same_bytes_for_the_same_figures() -> None:
    lines = [
        Line("p2", "Pay 2", "m1", "施策①", 1000, 1000, 1000, 0, 2, -100),
        Line("p1", "Pay 1", "m1", "施策①", 500, 400, 400, 1, 1, 0),
    ]
    first = render_csv("2026-11", "131016", lines, totals(lines))
    again = render_csv("2026-11", "131016", list(reversed(lines)), totals(lines))
    assert first == again and first.startswith(b"\xef\xbb\xbf")
    assert totals(lines).amount_yen == (1000 - 100) * 2 + 500
    sjis = render_csv("2026-11", "131016", lines, totals(lines), "shift_jis")
    assert sjis.decode("cp932") == first.decode("utf-8-sig")
