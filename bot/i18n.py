"""Every user-facing text, in English and Japanese, from one message catalog.

Why a small key-based catalog (TOML files in ``bot/locales``) rather than gettext: keys stay
stable when the English wording changes, there is no compile step (.po → .mo) in the build,
and a test checks that both languages have the same keys and the same ``{placeholders}``.
Values are ``str.format`` templates; callers escape user text before passing it in.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

Language = Literal["en", "ja"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
FALLBACK: Language = "en"

_JA_WEEKDAYS = "月火水木金土日"
_EN_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _flatten(prefix: str, table: dict[str, Any], into: dict[str, str]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(name, value, into)
        else:
            into[name] = str(value)


@cache
def catalog(language: Language) -> dict[str, str]:
    """The flattened catalog of one language: ``{"claim.button": "Claim", ...}``."""
    text = resources.files("bot.locales").joinpath(f"{language}.toml").read_text("utf-8")
    flat: dict[str, str] = {}
    _flatten("", tomllib.loads(text), flat)
    return flat


def t(language: str, key: str, /, **params: Any) -> str:
    """Translate ``key``; falls back to English, then to the key itself (never raises)."""
    lang: Language = language if language in LANGUAGES else FALLBACK  # type: ignore[assignment]
    template = catalog(lang).get(key) or catalog(FALLBACK).get(key)
    if template is None:
        return key
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


def plural(language: str, key: str, count: int, /, **params: Any) -> str:
    """``key`` with the plural form ``count`` asks for: ``key_one`` for 1, else ``key_other``.

    Why forms rather than ``lead(s)``: people read "1 lead" and "2 leads"; Japanese has no
    plural and counts with counters (2件), so its catalog gives only ``_other`` (CLDR's single
    category for Japanese). A key without forms is used as it is. ``{count}`` is passed
    formatted with thousands grouped.
    """
    lang: Language = language if language in LANGUAGES else FALLBACK  # type: ignore[assignment]
    known = catalog(lang).keys() | catalog(FALLBACK).keys()
    form = f"{key}_one" if count == 1 and f"{key}_one" in catalog(lang) else f"{key}_other"
    return t(lang, form if form in known else key, count=format_number(count, lang), **params)


class Translator:
    """``t`` bound to one language, handy to pass to view functions."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else FALLBACK

    def __call__(self, key: str, /, **params: Any) -> str:
        return t(self.language, key, **params)

    def plural(self, key: str, count: int, /, **params: Any) -> str:
        """``plural`` in this language: ``t.plural("digest.headline", 2, …)``."""
        return plural(self.language, key, count, **params)


def format_datetime(at: datetime, language: str, tz: ZoneInfo) -> str:
    """A short local date-time as people read it: ``Tue 24 Nov 10:30`` / ``11/24(火) 10:30``."""
    local = at.astimezone(tz)
    if language == "ja":
        return f"{local.month}/{local.day}({_JA_WEEKDAYS[local.weekday()]}) {local:%H:%M}"
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def format_number(value: float, language: str, digits: int = 0) -> str:
    """Group thousands; both languages use ``1,234.5``."""
    return f"{value:,.{digits}f}"


def format_percent(share: float, language: str) -> str:
    """A share (0.32) as people write it: ``32 %`` in English as the reports always showed it,
    ``32%`` in Japanese, where a unit follows its number without a space."""
    number = format_number(share * 100, language)
    return f"{number}%" if language == "ja" else f"{number} %"


def format_weekdays(days: Iterable[int], language: str) -> str:
    """Opening weekdays (0 = Monday) as people write them: runs of three or more days joined,
    ``Mon–Fri`` / ``月〜金``, others listed: ``Mon, Wed`` / ``月・水``."""
    names = _JA_WEEKDAYS if language == "ja" else _EN_WEEKDAYS
    ordered = sorted(set(days))
    runs: list[list[int]] = []
    for day in ordered:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    dash, sep = ("〜", "・") if language == "ja" else ("–", ", ")
    parts = [
        f"{names[run[0]]}{dash}{names[run[-1]]}" if len(run) >= 3
        else sep.join(names[d] for d in run)
        for run in runs
    ]
    return sep.join(parts)


def format_lateness(delta: timedelta, language: str) -> str | None:
    """How late something is, or None under a minute (callers then say "just now")."""
    if delta < timedelta(minutes=1):
        return None
    return format_duration(delta, language)


def format_duration(delta: timedelta, language: str) -> str:
    """A duration as people say it, to the minute: ``2 h 5 min``, ``3 d 4 h`` / ``2時間5分``."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if language == "ja":
        parts = [f"{days}日" if days else "", f"{hours}時間" if hours else "",
                 f"{mins}分" if mins and not days else ""]
        return "".join(parts) or "0分"
    out = [f"{days} d" if days else "", f"{hours} h" if hours else "",
           f"{mins} min" if mins and not days else ""]
    return " ".join(p for p in out if p) or "0 min"
