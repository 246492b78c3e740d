"""Report periods: ``[start, end)`` instants for "this month", "last week", "2026-11"...

Months and ISO weeks (Monday start) are cut at local midnight in the policy's time zone, so
"November" in Tokyo is what people in Tokyo call November; the instants are kept in UTC-aware
form for the database. ``parse_status_args`` turns ``/sla-status`` text into a period and an
optional rep.

Slack and mentions: with ``should_escape: false`` (our manifest) Slack sends a mention picked
from the autocomplete as plain ``@name`` text, which cannot be mapped to a user id without
listing every user; with escaping on it sends ``<@U123|name>``. Both escaped forms
(``<@U123|name>``, ``<@U123>``) and a bare user id (``U123``) are accepted; plain ``@name``
is refused with the usage line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.errors import DomainError

__all__ = [
    "BadStatusArgs",
    "Period",
    "last_week",
    "month",
    "parse_status_args",
    "this_month",
    "this_week",
    "week_of",
]

_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class BadStatusArgs(DomainError):
    """``/sla-status`` text that is not a period and/or a rep; the message is the usage line."""

    message_key = "status_report.usage"


@dataclass(frozen=True)
class Period:
    """``[start, end)`` as aware instants; ``label`` names it (``2026-11``, ``2026-W47``)."""

    start: datetime
    end: datetime
    label: str
    #: "month" or "week": how views name it
    kind: str = "month"

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """Local midnight of ``day`` as a UTC instant (a midnight lost to DST moves forward)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def month(year: int, month_number: int, tz: ZoneInfo) -> Period:
    """The calendar month ``year-month`` in ``tz``."""
    if not 1 <= month_number <= 12 or not 1970 <= year <= 9998:
        raise BadStatusArgs(f"no month {year}-{month_number}")
    first = date(year, month_number, 1)
    following = date(year + (month_number == 12), month_number % 12 + 1, 1)
    return Period(_midnight(first, tz), _midnight(following, tz), f"{year:04d}-{month_number:02d}",
                  "month")


def this_month(now: datetime, tz: ZoneInfo) -> Period:
    local = now.astimezone(tz)
    return month(local.year, local.month, tz)


def week_of(day: date, tz: ZoneInfo) -> Period:
    """The ISO week (Monday 00:00 to the next Monday 00:00, local) holding ``day``."""
    monday = day - timedelta(days=day.weekday())
    year, week, _ = monday.isocalendar()
    return Period(_midnight(monday, tz), _midnight(monday + timedelta(days=7), tz),
                  f"{year:04d}-W{week:02d}", "week")


def this_week(now: datetime, tz: ZoneInfo) -> Period:
    return week_of(now.astimezone(tz).date(), tz)


def last_week(now: datetime, tz: ZoneInfo) -> Period:
    return week_of(now.astimezone(tz).date() - timedelta(days=7), tz)


def parse_status_args(text: str, now: datetime, tz: ZoneInfo) -> tuple[Period, str | None]:
    """``""`` → this month; ``last-week``, ``this-week``, ``YYYY-MM``, a rep mention, or both.

    ``BadStatusArgs`` (its message is the usage line) for anything else, two periods or two
    reps.
    """
    period: Period | None = None
    rep: str | None = None
    for word in (text or "").split():
        found_period: Period | None = None
        lowered = word.lower()
        if lowered == "last-week":
            found_period = last_week(now, tz)
        elif lowered == "this-week":
            found_period = this_week(now, tz)
        elif lowered == "this-month":
            found_period = this_month(now, tz)
        elif (match := _MONTH.match(word)) is not None:
            found_period = month(int(match[1]), int(match[2]), tz)
        elif (mention := _MENTION.match(word)) is not None or _USER_ID.match(word):
            if rep is not None:
                raise BadStatusArgs("two reps")
            rep = mention[1] if mention is not None else word
            continue
        else:
            raise BadStatusArgs("unknown argument")
        if period is not None:
            raise BadStatusArgs("two periods")
        period = found_period
    return period or this_month(now, tz), rep
