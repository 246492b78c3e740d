"""Both languages say the same things."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.i18n import LANGUAGES, Translator, catalog, format_datetime, t


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    en = catalog("en")
    assert en, "the English catalog is empty"
    for language in LANGUAGES:
        other = catalog(language)
        # A singular form (``_one``) is optional: Japanese counts without plurals.
        assert {k for k in other if not k.endswith("_one")} == {
            k for k in en if not k.endswith("_one")}, f"{language}: keys differ from en"
        for key, template in en.items():
            if key.endswith("_one"):
                assert f"{key[:-4]}_other" in other, f"{language}: {key} without _other"
                continue
            assert placeholders(other[key]) == placeholders(template), f"{language}: {key}"
            assert other[key].strip(), f"{language}: {key} is empty"


def test_translate_formats_and_falls_back() -> None:
    assert t("en", "status.mql_target", target=100) == "MQLs per month: *100*"
    assert t("ja", "status.mql_target", target=100) == "月間 MQL 目標: *100* 件"
    assert t("fr", "status.title") == t("en", "status.title")
    assert t("en", "no.such.key") == "no.such.key"
    assert Translator("ja")("lead_status.converted") == "SQL 化"


def test_plurals_pick_the_form_by_count() -> None:
    en, ja = Translator("en"), Translator("ja")
    assert en.plural("review.summary", 1) == "1 suggestion for the review meeting"
    assert en.plural("review.summary", 2) == "2 suggestions for the review meeting"
    assert en.plural("review.summary", 1200) == "1,200 suggestions for the review meeting"
    assert ja.plural("review.summary", 1) == "レビュー会議への提案 1件"
    assert "(s)" not in "".join(catalog("en").values())


def test_weekdays_read_as_written() -> None:
    from bot.i18n import format_weekdays

    assert format_weekdays(range(5), "en") == "Mon–Fri"
    assert format_weekdays(range(5), "ja") == "月〜金"
    assert format_weekdays([0, 2, 3, 4, 5], "ja") == "月・水〜土"
    assert format_weekdays([0, 2], "en") == "Mon, Wed"


def test_dates_read_naturally_in_each_language() -> None:
    at = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
    tokyo = ZoneInfo("Asia/Tokyo")
    assert format_datetime(at, "en", tokyo) == "Tue 24 Nov 10:30"
    assert format_datetime(at, "ja", tokyo) == "11/24(火) 10:30"


def test_durations_read_naturally_in_each_language() -> None:
    from datetime import timedelta

    from bot.i18n import format_duration

    assert format_duration(timedelta(hours=2, minutes=5), "en") == "2 h 5 min"
    assert format_duration(timedelta(days=3, hours=4, minutes=7), "en") == "3 d 4 h"
    assert format_duration(timedelta(seconds=59), "en") == "0 min"
    assert format_duration(timedelta(hours=2, minutes=5), "ja") == "2時間5分"
    assert format_duration(timedelta(days=1), "ja") == "1日"
