"""The console's pure parts: the message catalogue, how figures and times are shown, the chart,
form reading, the sign-in redirect rule and the production check of the session secret."""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from console import i18n
from console.auth import safe_next
from console.charts import daily_bars, fill_days, nice_ceiling
from console.forms import measure_draft, read_measure_form
from hub.settings import Environment, Settings

TEMPLATES = Path(i18n.__file__).parent / "templates"
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_0-9]+)["']\s*[,)]""")


def _fields(message: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


def test_both_languages_have_the_same_messages_with_the_same_placeholders() -> None:
    ja, en = i18n.catalogue("ja"), i18n.catalogue("en")
    assert set(ja) == set(en)
    for key in ja:
        assert _fields(ja[key]) == _fields(en[key]), key


def test_every_message_a_template_names_exists() -> None:
    named = set()
    for template in TEMPLATES.rglob("*.html"):
        named |= set(LITERAL_KEY.findall(template.read_text()))
    assert named, "no message keys found in the templates"
    missing = sorted(k for k in named if k not in i18n.catalogue("ja"))
    assert missing == []


def test_figures_and_times_are_shown_as_staff_in_japan_read_them() -> None:
    assert i18n.points(1234567) == "1,234,567" and i18n.points(None) == "—"
    moment = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)
    assert i18n.jst(moment) == "2026/04/01 00:30 JST"
    assert i18n.jst_input(moment) == "2026-04-01T00:30"
    assert i18n.from_jst_input("2026-04-01T00:30") == "2026-04-01T00:30:00+09:00"
    assert i18n.from_jst_input("not a time") == "not a time"
    ja, en = i18n.Translator("ja"), i18n.Translator("en")
    assert ja.duration(26 * 3600 + 120) == "1日 2時間"
    assert en.duration(3 * 3600 + 5 * 60) == "3 h 5 min"
    assert ja.duration(59) == "0分"
    assert i18n.actor("resident:AB12CD34") == "resident:****CD34"
    assert i18n.actor("support:key_1") == "support:key_1"


def test_refusals_are_translated_by_code_or_by_the_rule_sentence() -> None:
    ja = i18n.Translator("ja")
    assert ja.error("review_already_decided") == "この審査はすでに判断済みです。"
    assert ja.error("invalid_measure", "closes_at must be after opens_at") == (
        "申請締切は申請開始より後にしてください。"
    )
    assert ja.error("invalid_measure", "something new") == "something new"
    assert ja.row_reason("repeats line 3") == "3 行目と重複しています"
    assert i18n.Translator("en").row_reason("no such MyKey ID") == "no such MyKey ID"


def test_the_chart_has_a_bar_per_day_and_says_what_it_shows() -> None:
    days = fill_days([(date(2026, 4, 1), 3), (date(2026, 4, 4), 12)], start=date(2026, 3, 31))
    assert [n for _, n in days] == [0, 3, 0, 0, 12]
    assert nice_ceiling(12) == (15, 5) and nice_ceiling(0) == (1, 1) and nice_ceiling(7) == (8, 2)
    svg = str(daily_bars(days, title="申請数 <テスト>", description="5 日分", unit="件"))
    assert svg.count("<rect") == 5
    assert 'role="img"' in svg and '<title id="chart-title">申請数 &lt;テスト&gt;</title>' in svg
    assert "04/04: 12 件" in svg
    assert fill_days([]) == []


def _form(**fields: str | list[str]) -> FormData:
    items: list[tuple[str, str | UploadFile]] = []
    for name, value in fields.items():
        for one in value if isinstance(value, list) else [value]:
            items.append((name, one))
    return FormData(items)


def test_a_measure_form_is_read_with_jst_times_and_separators() -> None:
    form = read_measure_form(
        _form(
            title="子育て応援",
            description="",
            kind="application",
            points_per_grant="１，０００",
            per_person_cap="3,000",
            budget_points="",
            late_report_days="",
            opens_at="2026-04-01T09:00",
            closes_at="2026-04-30T17:00",
            receipt_deadline="2026-05-31T23:59",
            target_list_only="on",
            service=["pay-a", "pay-a"],
            **{"available_from.pay-a": "2026-04-01T00:00"},
        )
    )
    draft = measure_draft(form)
    assert form.errors == {}
    assert draft is not None
    assert draft.points_per_grant == 1000 and draft.per_person_cap == 3000
    assert draft.budget_points is None and draft.late_report_days == 0
    assert draft.opens_at == datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    assert draft.target_list_only and not draft.auto_grant
    [offer] = draft.payment_services
    assert offer.available_from == datetime(2026, 3, 31, 15, 0, tzinfo=UTC)


def test_a_wrong_measure_form_names_each_wrong_field() -> None:
    form = read_measure_form(
        _form(
            title="",
            kind="lottery",
            points_per_grant="abc",
            per_person_cap="0",
            opens_at="",
            closes_at="2026-04-30T17:00",
            receipt_deadline="2026-05-31T23:59",
            description="番号 1234 5678 9018 を確認",
        )
    )
    assert measure_draft(form) is None
    keys = {name: error.key for name, error in form.errors.items()}
    assert keys == {
        "title": "form.required",
        "description": "form.contains_my_number",
        "kind": "form.choice",
        "points_per_grant": "form.integer",
        "per_person_cap": "form.at_least",
        "opens_at": "form.datetime",
        "payment_services": "form.choose_service",
    }
    assert form.errors["per_person_cap"].params == {"ge": 1}


def test_only_console_paths_are_followed_after_sign_in() -> None:
    assert (
        safe_next("/console/reviews?status=pending", "/home") == "/console/reviews?status=pending"
    )
    for outside in ("https://evil.example/", "//evil.example/console/", "/console//evil", None):
        assert safe_next(outside, "/home") == "/home"
    assert safe_next("/console/\\evil", "/home") == "/home"


def test_production_refuses_the_development_console_secret() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(env=Environment.PRODUCTION)
    assert "HUB_CONSOLE_SESSION_SECRET is the development default" in str(caught.value)


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    lighter, darker = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_text_colours_keep_wcag_aa_contrast_on_their_backgrounds() -> None:
    css = (Path(i18n.__file__).parent / "static" / "console.css").read_text()
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", css))
    backgrounds = {"paper": colours["paper"], "wash": colours["wash"], "alert": "#fdecea"}
    pairs = [
        (text, background)
        for text in ("ink", "muted", "brand", "brand-dark", "danger", "ok")
        for background in backgrounds
    ] + [("paper", "brand"), ("paper", "brand-dark"), ("paper", "ink")]
    for text, background in pairs:
        fg = colours[text]
        bg = backgrounds.get(background) or colours[background]
        assert contrast(fg, bg) >= 4.5, (text, background, round(contrast(fg, bg), 2))
