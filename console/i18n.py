"""Japanese first, English on request: the message catalogue and how figures are shown.

Messages live in `locales/<lang>.toml`, one dotted key per sentence; a key missing from English
falls back to Japanese, and a key missing from both shows itself (a test keeps the two files in
step). Times are shown in JST (Japan has no daylight saving, so a fixed +09:00 is exact), points
with thousands separators.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request

from domain.provider_errors import describe

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
LANG_COOKIE = "mph_lang"
JST = timezone(timedelta(hours=9), "JST")
LOCALES = Path(__file__).parent / "locales"
_REPEATS = re.compile(r"repeats line (\d+)")


def _flatten(prefix: str, table: dict[str, Any], into: dict[str, str]) -> None:
    for name, value in table.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(value, dict):
            _flatten(key, value, into)
        else:
            into[key] = str(value)


@lru_cache(maxsize=len(LANGUAGES))
def catalogue(lang: str) -> dict[str, str]:
    with (LOCALES / f"{lang}.toml").open("rb") as file:
        messages: dict[str, str] = {}
        _flatten("", tomllib.load(file), messages)
        return messages


@dataclass(frozen=True)
class Translator:
    lang: str

    def has(self, key: str) -> bool:
        return key in catalogue(self.lang) or key in catalogue(DEFAULT_LANGUAGE)

    def __call__(self, key: str, **params: Any) -> str:
        message = catalogue(self.lang).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
        return message.format(**params) if params else message

    def error(self, code: str, detail: str = "") -> str:
        """A refusal in the reader's language: by its stable code, or by the stable sentence
        the measure rules use (`domain/measures.py`), else the English detail as it came."""
        if self.has(f"rules.{detail}"):
            return self(f"rules.{detail}")
        if self.has(f"errors.{code}"):
            return self(f"errors.{code}")
        return detail or code

    def provider_failure(self, code: str) -> str:
        """A provider failure's stable code (`domain/provider_errors.py`) as a sentence."""
        return describe(code, self.lang)

    def row_reason(self, reason: str) -> str:
        """A target-list row's reason (`domain/targets.py` sentences), translated when known."""
        repeated = _REPEATS.fullmatch(reason)
        if repeated:
            return self("row_errors.repeats", line=repeated.group(1))
        return self(f"row_errors.{reason}") if self.has(f"row_errors.{reason}") else reason

    def duration(self, seconds: int | float | None) -> str:
        """ "3日 4時間" / "3 d 4 h": how late a report is, at the precision staff decide by."""
        if seconds is None:
            return "—"
        minutes = max(int(seconds) // 60, 0)
        days, rest = divmod(minutes, 24 * 60)
        hours, mins = divmod(rest, 60)
        if days:
            return self("units.days_hours", days=days, hours=hours)
        if hours:
            return self("units.hours_minutes", hours=hours, minutes=mins)
        return self("units.minutes", minutes=mins)


def choose_language(request: Request) -> tuple[str, bool]:
    """The `lang` query parameter wins (and is remembered), then the cookie, then Japanese."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked, True
    kept = request.cookies.get(LANG_COOKIE)
    if kept in LANGUAGES:
        return kept, False
    return DEFAULT_LANGUAGE, False


def actor(value: str | None) -> str:
    """Who did something, as support staff may see it: a resident's MyKey ID is masked."""
    role, _, who = (value or "").partition(":")
    if role == "resident" and who:
        return f"resident:{'*' * max(len(who) - 4, 0)}{who[-4:]}"
    return value or "—"


def points(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def jst(value: datetime | None, *, with_zone: bool = True) -> str:
    if value is None:
        return "—"
    shown = value.astimezone(JST).strftime("%Y/%m/%d %H:%M")
    return f"{shown} JST" if with_zone else shown


def jst_input(value: datetime | None) -> str:
    """The value of an `<input type="datetime-local">`, in JST."""
    return "" if value is None else value.astimezone(JST).strftime("%Y-%m-%dT%H:%M")


def from_jst_input(raw: str) -> str:
    """A datetime-local value read as JST and written as ISO 8601 with its offset; anything
    else is passed on unchanged for the schema to refuse or accept."""
    text = raw.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=JST)
    return parsed.isoformat()
