"""Japan's business days (営業日) and settlement months, in JST.

A business day is a weekday that is neither a national holiday (国民の祝日, with substitute and
citizens' holidays) nor a bank holiday (12/31–1/3, 銀行法施行令 第5条): the calendar of the
`holidays` package (`country_holidays("JP", categories=("public", "bank"))`), kept current by its
maintainers rather than written here.

A credit belongs to the business day of its JST date, or to the next business day when it was
made on a weekend or holiday (the banks' 翌営業日 rule). So the credits of one business day are
those made in one interval of time: from the end of the previous business day until the end of
that day. A settlement month (精算月) holds the business days of its calendar month.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache

import holidays

JST = timezone(timedelta(hours=9), "JST")
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    calendar = holidays.country_holidays("JP", years=year, categories=("public", "bank"))
    return frozenset(calendar.keys())


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def next_business_day(day: date) -> date:
    """The first business day after `day`."""
    day += timedelta(days=1)
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def previous_business_day(day: date) -> date:
    """The last business day before `day`."""
    day -= timedelta(days=1)
    while not is_business_day(day):
        day -= timedelta(days=1)
    return day


def add_business_days(day: date, count: int) -> date:
    for _ in range(count):
        day = next_business_day(day)
    return day


def jst_date(moment: datetime) -> date:
    return moment.astimezone(JST).date()


def business_day_of(moment: datetime) -> date:
    """The business day a credit made at `moment` belongs to."""
    day = jst_date(moment)
    return day if is_business_day(day) else next_business_day(day)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), JST).astimezone(UTC)


def day_window(day: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the moments whose business day is `day` (a business day)."""
    return _start_of(previous_business_day(day) + timedelta(days=1)), _start_of(
        day + timedelta(days=1)
    )


def parse_month(text: str) -> tuple[int, int]:
    """`YYYY-MM` → (year, month); raises ValueError otherwise."""
    found = MONTH.match(text)
    if not found:
        raise ValueError("a month is YYYY-MM")
    return int(found.group(1)), int(found.group(2))


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _first_of(year: int, month: int) -> date:
    return date(year, month, 1)


def month_days(text: str) -> tuple[date, date]:
    """First and last calendar day of a month."""
    year, month = parse_month(text)
    first = _first_of(year, month)
    following = _first_of(year + month // 12, month % 12 + 1)
    return first, following - timedelta(days=1)


def month_business_days(text: str) -> tuple[date, date]:
    """First and last business day of a month."""
    first, last = month_days(text)
    if not is_business_day(first):
        first = next_business_day(first)
    if not is_business_day(last):
        last = previous_business_day(last)
    return first, last


def month_window(text: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the moments whose business day falls in the month."""
    first, last = month_business_days(text)
    return day_window(first)[0], day_window(last)[1]


def month_end(text: str) -> datetime:
    """The end of the month's last calendar day in JST: before it, the month is not over."""
    return _start_of(month_days(text)[1] + timedelta(days=1))


def next_month(text: str) -> str:
    year, month = parse_month(text)
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def previous_month(text: str) -> str:
    year, month = parse_month(text)
    return f"{year - (month == 1):04d}-{(month - 2) % 12 + 1:02d}"


def business_days_between(first: date, last: date) -> list[date]:
    """Every business day from `first` to `last`, both included."""
    days = []
    day = first if is_business_day(first) else next_business_day(first)
    while day <= last:
        days.append(day)
        day = next_business_day(day)
    return days
