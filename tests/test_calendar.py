"""Tests for the business-hours calendar behind SLA deadlines.

Table tests pin the concrete deadlines people will see; hypothesis properties pin
the algebra (add/between are inverses, monotonic, additive) that keeps them
consistent. Results are compared as UTC instants: Python compares aware datetimes
of the same zone by wall clock and ignores ``fold``, which is wrong around DST.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar import AnnualClosure, BusinessCalendar, Shift
from tests.harness.policies import EXAMPLE_POLICY

TOKYO_TZ = ZoneInfo("Asia/Tokyo")
NY_TZ = ZoneInfo("America/New_York")
YEAR_END = AnnualClosure((12, 29), (1, 3))
LUNCH_SPLIT = (Shift(time(9), time(12)), Shift(time(13), time(18)))

TOKYO = BusinessCalendar("Asia/Tokyo", holiday_country="JP", annual_closures=[YEAR_END])
TOKYO_NO_HOLIDAYS = BusinessCalendar("Asia/Tokyo", annual_closures=[YEAR_END])
TOKYO_SPLIT = BusinessCalendar(
    "Asia/Tokyo", shifts=LUNCH_SPLIT, holiday_country="JP", annual_closures=[YEAR_END]
)
NEW_YORK = BusinessCalendar(
    "America/New_York", shifts=(Shift(time(9), time(17)),), holiday_country="US"
)
# Seven days a week with night shifts straddling 02:00, so DST gaps and folds fall
# inside and on the edges of shifts (the spring gap swallows most of 01:50-02:40).
NEW_YORK_NIGHTS = BusinessCalendar(
    "America/New_York",
    working_days=range(7),
    shifts=(
        Shift(time(0, 30), time(1, 45)),
        Shift(time(1, 50), time(2, 40)),
        Shift(time(9), time(12)),
        Shift(time(13), time(17, 30)),
    ),
    holiday_country="US",
)
SUNDAY_NIGHT_SHIFT = BusinessCalendar(
    "America/New_York", working_days=(6,), shifts=(Shift(time(1), time(4)),)
)


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO_TZ)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY_TZ)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def instant(value: datetime) -> datetime:
    """Normalise to UTC so equality/ordering is by instant, never by wall clock."""
    return value.astimezone(UTC)


H = timedelta(hours=1)

# ------------------------------------------------------------------ add table


@pytest.mark.parametrize(
    ("cal", "start", "duration", "expected"),
    [
        pytest.param(TOKYO, jst(2026, 11, 13, 17, 30), 2 * H, jst(2026, 11, 16, 10, 30),
                     id="friday-evening-rolls-to-monday"),
        pytest.param(TOKYO, jst(2026, 11, 20, 17, 30), 2 * H, jst(2026, 11, 24, 10, 30),
                     id="skips-labour-thanksgiving-monday"),
        pytest.param(TOKYO_NO_HOLIDAYS, jst(2026, 11, 20, 17, 30), 2 * H,
                     jst(2026, 11, 23, 10, 30), id="without-holidays-monday-counts"),
        # 2027-01-04 is a Monday and not a JP holiday (asserted against the holidays
        # package in test_year_end_expectation_matches_holidays_package).
        pytest.param(TOKYO, jst(2026, 12, 28, 17), 2 * H, jst(2027, 1, 4, 10),
                     id="year-end-closure"),
        pytest.param(TOKYO, jst(2026, 11, 24, 7), 2 * H, jst(2026, 11, 24, 11),
                     id="before-opening"),
        pytest.param(TOKYO, jst(2026, 11, 14, 10), 2 * H, jst(2026, 11, 16, 11),
                     id="saturday-start"),
        pytest.param(TOKYO, jst(2026, 11, 24, 18), 2 * H, jst(2026, 11, 25, 11),
                     id="exactly-at-close"),
        pytest.param(TOKYO, jst(2026, 11, 13, 17), 1 * H, jst(2026, 11, 13, 18),
                     id="used-up-exactly-at-shift-end"),
        pytest.param(TOKYO, jst(2026, 11, 24, 10, 15), timedelta(0), jst(2026, 11, 24, 10, 15),
                     id="zero-duration-is-identity"),
        pytest.param(TOKYO, jst(2026, 11, 24, 7), timedelta(0), jst(2026, 11, 24, 7),
                     id="zero-duration-outside-hours-is-identity"),
        pytest.param(TOKYO_SPLIT, jst(2026, 11, 24, 11, 30), 1 * H, jst(2026, 11, 24, 13, 30),
                     id="split-shift-skips-lunch"),
        pytest.param(TOKYO_SPLIT, jst(2026, 11, 24, 11), 1 * H, jst(2026, 11, 24, 12),
                     id="split-shift-used-up-at-lunch"),
        pytest.param(TOKYO, jst(2026, 11, 24, 10, 30), -2 * H, jst(2026, 11, 20, 17, 30),
                     id="negative-crosses-holiday-weekend"),
        pytest.param(TOKYO, jst(2026, 11, 16, 10), -1 * H, jst(2026, 11, 16, 9),
                     id="negative-used-up-exactly-at-shift-start"),
        pytest.param(TOKYO_SPLIT, jst(2026, 11, 24, 13, 30), -1 * H, jst(2026, 11, 24, 11, 30),
                     id="negative-split-shift"),
        pytest.param(NEW_YORK, ny(2026, 3, 6, 16), 2 * H, ny(2026, 3, 9, 10),
                     id="ny-spring-forward-weekend"),
        pytest.param(NEW_YORK, ny(2026, 10, 30, 16), 2 * H, ny(2026, 11, 2, 10),
                     id="ny-fall-back-weekend"),
        pytest.param(TOKYO, utc(2026, 11, 24, 0), 2 * H, jst(2026, 11, 24, 11),
                     id="input-in-other-zone"),
    ],
)
def test_add(
    cal: BusinessCalendar, start: datetime, duration: timedelta, expected: datetime
) -> None:
    result = cal.add(start, duration)
    assert instant(result) == instant(expected)
    assert result.tzinfo == cal.tz


def test_year_end_expectation_matches_holidays_package() -> None:
    monday = date(2027, 1, 4)
    assert monday.weekday() == 0
    assert monday not in holidays.country_holidays("JP", years=2027)
    assert TOKYO.is_business_day(monday)


def test_ny_spring_forward_utc_instants() -> None:
    # 16:00 EST is 21:00Z; Monday 10:00 is already EDT (UTC-4), so 14:00Z, not 15:00Z.
    assert instant(ny(2026, 3, 6, 16)) == utc(2026, 3, 6, 21)
    assert instant(NEW_YORK.add(ny(2026, 3, 6, 16), 2 * H)) == utc(2026, 3, 9, 14)


def test_ny_fall_back_utc_instants() -> None:
    assert instant(NEW_YORK.add(ny(2026, 10, 30, 16), 2 * H)) == utc(2026, 11, 2, 15)


# -------------------------------------------------------------- between table


@pytest.mark.parametrize(
    ("cal", "start", "end", "expected"),
    [
        pytest.param(TOKYO, jst(2026, 11, 24, 10), jst(2026, 11, 24, 12), 2 * H,
                     id="same-interval"),
        pytest.param(TOKYO, jst(2026, 11, 24, 12), jst(2026, 11, 24, 10), -2 * H,
                     id="reversed-is-negative"),
        pytest.param(TOKYO, jst(2026, 11, 24, 10), jst(2026, 11, 24, 10), timedelta(0),
                     id="empty"),
        pytest.param(TOKYO, jst(2026, 11, 9), jst(2026, 11, 16), 45 * H,
                     id="whole-week-no-holidays"),
        pytest.param(TOKYO, jst(2026, 11, 16), jst(2026, 11, 30), 81 * H,
                     id="two-weeks-with-labour-thanksgiving"),
        pytest.param(TOKYO, jst(2026, 11, 14), jst(2026, 11, 16), timedelta(0),
                     id="weekend-only"),
        pytest.param(TOKYO_SPLIT, jst(2026, 11, 24, 11), jst(2026, 11, 24, 14), 2 * H,
                     id="split-shift-excludes-lunch"),
        pytest.param(TOKYO, jst(2026, 12, 28, 17), jst(2027, 1, 4, 10), 2 * H,
                     id="across-year-end-closure"),
        pytest.param(NEW_YORK, ny(2026, 3, 6, 16), ny(2026, 3, 9, 10), 2 * H,
                     id="ny-across-spring-forward"),
        pytest.param(NEW_YORK, ny(2026, 3, 6, 9), ny(2026, 3, 9, 17), 16 * H,
                     id="ny-full-days-across-spring-forward"),
        pytest.param(NEW_YORK, ny(2026, 10, 30, 16), ny(2026, 11, 2, 10), 2 * H,
                     id="ny-across-fall-back"),
        pytest.param(NEW_YORK, ny(2026, 10, 30, 9), ny(2026, 11, 2, 17), 16 * H,
                     id="ny-full-days-across-fall-back"),
    ],
)
def test_between(
    cal: BusinessCalendar, start: datetime, end: datetime, expected: timedelta
) -> None:
    assert cal.between(start, end) == expected


# ---------------------------------------------------------------- DST shifts


@pytest.mark.parametrize(
    ("sunday", "expected"),
    [
        pytest.param(date(2026, 3, 1), 3 * H, id="ordinary-sunday"),
        pytest.param(date(2026, 3, 8), 2 * H, id="spring-forward-gap-inside-shift"),
        pytest.param(date(2026, 11, 1), 4 * H, id="fall-back-fold-inside-shift"),
    ],
)
def test_night_shift_lasts_real_hours(sunday: date, expected: timedelta) -> None:
    day_start = datetime.combine(sunday, time(0), tzinfo=NY_TZ)
    assert SUNDAY_NIGHT_SHIFT.between(day_start, day_start + timedelta(days=1)) == expected


def test_night_shift_deadline_across_gap() -> None:
    # 01:30 EST + 1.5h of real time is 04:00 EDT (08:00Z), the shift end.
    result = SUNDAY_NIGHT_SHIFT.add(ny(2026, 3, 8, 1, 30), timedelta(hours=1, minutes=30))
    assert instant(result) == utc(2026, 3, 8, 8)


def _intervals_on(cal: BusinessCalendar, day: date) -> list[tuple[datetime, datetime]]:
    start = datetime.combine(day, time(0), tzinfo=cal.tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=cal.tz)
    return [(instant(s), instant(e)) for s, e in cal.open_intervals(start, end)]


def test_shift_start_in_dst_gap_opens_at_transition() -> None:
    cal = BusinessCalendar("America/New_York", working_days=(6,),
                           shifts=(Shift(time(2, 30), time(3, 30)),))
    # 02:30 does not exist on 2026-03-08; clocks jump 02:00 EST -> 03:00 EDT at 07:00Z.
    assert _intervals_on(cal, date(2026, 3, 8)) == [(utc(2026, 3, 8, 7), utc(2026, 3, 8, 7, 30))]


def test_shift_end_in_dst_gap_closes_at_transition() -> None:
    cal = BusinessCalendar("America/New_York", working_days=(6,),
                           shifts=(Shift(time(1), time(2, 30)),))
    assert _intervals_on(cal, date(2026, 3, 8)) == [(utc(2026, 3, 8, 6), utc(2026, 3, 8, 7))]


def test_shift_wholly_inside_dst_gap_is_empty() -> None:
    cal = BusinessCalendar("America/New_York", working_days=(6,),
                           shifts=(Shift(time(2), time(2, 59)), Shift(time(9), time(10))))
    assert cal.is_business_day(date(2026, 3, 8))
    assert _intervals_on(cal, date(2026, 3, 8)) == [(utc(2026, 3, 8, 13), utc(2026, 3, 8, 14))]


def test_ambiguous_shift_boundaries_use_first_occurrence() -> None:
    cal = BusinessCalendar("America/New_York", working_days=(6,),
                           shifts=(Shift(time(1, 30), time(2, 30)),))
    # Starts at the first 01:30 (EDT, 05:30Z), ends 02:30 EST (07:30Z): 2 real hours.
    assert _intervals_on(cal, date(2026, 11, 1)) == [
        (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 7, 30))
    ]


# ----------------------------------------------------------- closure_reason


def test_closure_reasons() -> None:
    cal = BusinessCalendar(
        "Asia/Tokyo",
        holiday_country="JP",
        closed_dates=[date(2026, 11, 25)],
        annual_closures=[YEAR_END],
    )
    assert cal.closure_reason(date(2026, 11, 14)) == "weekend"
    holiday = cal.closure_reason(date(2026, 11, 23))
    assert holiday is not None
    assert holiday.startswith("holiday: ")
    assert holiday.removeprefix("holiday: ").strip()
    assert cal.closure_reason(date(2026, 11, 25)) == "closed"
    assert cal.closure_reason(date(2026, 12, 30)) == "annual closure"
    assert cal.closure_reason(date(2026, 11, 24)) is None
    assert cal.is_business_day(date(2026, 11, 24))
    assert not cal.is_business_day(date(2026, 11, 25))


@pytest.mark.parametrize(
    ("closure", "day", "inside"),
    [
        pytest.param(YEAR_END, date(2026, 12, 29), True, id="wrap-first-day"),
        pytest.param(YEAR_END, date(2027, 1, 3), True, id="wrap-last-day"),
        pytest.param(YEAR_END, date(2026, 12, 28), False, id="wrap-day-before"),
        pytest.param(YEAR_END, date(2027, 1, 4), False, id="wrap-day-after"),
        pytest.param(AnnualClosure((8, 13), (8, 16)), date(2026, 8, 14), True, id="obon"),
        pytest.param(AnnualClosure((8, 13), (8, 16)), date(2026, 8, 17), False, id="after-obon"),
    ],
)
def test_annual_closure_contains(closure: AnnualClosure, day: date, inside: bool) -> None:
    assert closure.contains(day) is inside


def test_holidays_are_loaded_once_per_year(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = holidays.country_holidays

    def counting(*args: object, **kwargs: object) -> holidays.HolidayBase:
        calls.append(kwargs.get("years"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(holidays, "country_holidays", counting)
    cal = BusinessCalendar("Asia/Tokyo", holiday_country="JP")
    calls.clear()  # construction validates the country once
    for offset in range(365):
        cal.closure_reason(date(2026, 1, 1) + timedelta(days=offset))
    cal.between(jst(2026, 1, 1), jst(2026, 12, 31))
    # 2026 once; the day-by-day walk also peeks at 2025-12-31 (the local day before).
    assert sorted(calls) == [2025, 2026]


def test_subdivision_holidays() -> None:
    # Lincoln's Birthday (Feb 12) is a New York state holiday, not a federal one.
    ny_state = BusinessCalendar("America/New_York", holiday_country="US", holiday_subdivision="NY")
    assert (ny_state.closure_reason(date(2026, 2, 12)) or "").startswith("holiday: ")
    assert NEW_YORK.closure_reason(date(2026, 2, 12)) is None


# ------------------------------------------- is_open / next_open / previous_close


@pytest.mark.parametrize(
    ("cal", "at", "expected"),
    [
        pytest.param(TOKYO, jst(2026, 11, 24, 9), True, id="opening-instant"),
        pytest.param(TOKYO, jst(2026, 11, 24, 17, 59, 59, 999999), True, id="last-microsecond"),
        pytest.param(TOKYO, jst(2026, 11, 24, 18), False, id="closing-instant"),
        pytest.param(TOKYO, jst(2026, 11, 24, 8, 59), False, id="before-opening"),
        pytest.param(TOKYO, jst(2026, 11, 14, 10), False, id="saturday"),
        pytest.param(TOKYO, jst(2026, 11, 23, 10), False, id="holiday"),
        pytest.param(TOKYO_SPLIT, jst(2026, 11, 24, 12, 30), False, id="lunch"),
        pytest.param(TOKYO, utc(2026, 11, 24, 1), True, id="utc-input"),
    ],
)
def test_is_open(cal: BusinessCalendar, at: datetime, expected: bool) -> None:
    assert cal.is_open(at) is expected


@pytest.mark.parametrize(
    ("cal", "at", "expected"),
    [
        pytest.param(TOKYO, jst(2026, 11, 24, 10), jst(2026, 11, 24, 10), id="open-returns-itself"),
        pytest.param(TOKYO, jst(2026, 11, 24, 7), jst(2026, 11, 24, 9), id="early-morning"),
        pytest.param(TOKYO, jst(2026, 11, 20, 18), jst(2026, 11, 24, 9), id="over-holiday-weekend"),
        pytest.param(TOKYO_SPLIT, jst(2026, 11, 24, 12), jst(2026, 11, 24, 13), id="lunch"),
        pytest.param(TOKYO, jst(2026, 12, 28, 18), jst(2027, 1, 4, 9), id="year-end"),
    ],
)
def test_next_open(cal: BusinessCalendar, at: datetime, expected: datetime) -> None:
    assert instant(cal.next_open(at)) == instant(expected)


@pytest.mark.parametrize(
    ("cal", "at", "expected"),
    [
        pytest.param(TOKYO, jst(2026, 11, 24, 10), jst(2026, 11, 20, 18),
                     id="inside-interval-gives-previous-close"),
        pytest.param(TOKYO, jst(2026, 11, 24, 18), jst(2026, 11, 24, 18), id="exactly-at-close"),
        pytest.param(TOKYO, jst(2026, 11, 24, 20), jst(2026, 11, 24, 18), id="evening"),
        pytest.param(TOKYO, jst(2026, 11, 25, 9), jst(2026, 11, 24, 18), id="at-opening"),
        pytest.param(TOKYO_SPLIT, jst(2026, 11, 24, 12, 30), jst(2026, 11, 24, 12), id="lunch"),
        pytest.param(TOKYO_SPLIT, jst(2026, 11, 24, 13, 30), jst(2026, 11, 24, 12),
                     id="afternoon-shift"),
    ],
)
def test_previous_close(cal: BusinessCalendar, at: datetime, expected: datetime) -> None:
    assert instant(cal.previous_close(at)) == instant(expected)


def test_open_intervals_clipped() -> None:
    got = list(TOKYO_SPLIT.open_intervals(jst(2026, 11, 20, 10), jst(2026, 11, 24, 15)))
    assert [(instant(s), instant(e)) for s, e in got] == [
        (instant(jst(2026, 11, 20, 10)), instant(jst(2026, 11, 20, 12))),
        (instant(jst(2026, 11, 20, 13)), instant(jst(2026, 11, 20, 18))),
        (instant(jst(2026, 11, 24, 9)), instant(jst(2026, 11, 24, 12))),
        (instant(jst(2026, 11, 24, 13)), instant(jst(2026, 11, 24, 15))),
    ]
    assert all(s.tzinfo == TOKYO.tz and e.tzinfo == TOKYO.tz for s, e in got)
    assert list(TOKYO.open_intervals(jst(2026, 11, 24, 15), jst(2026, 11, 24, 10))) == []


# --------------------------------------------------------------------- errors

NAIVE = datetime(2026, 11, 24, 10)
AWARE = jst(2026, 11, 24, 10)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: TOKYO.add(NAIVE, H), id="add"),
        pytest.param(lambda: TOKYO.between(NAIVE, AWARE), id="between-start"),
        pytest.param(lambda: TOKYO.between(AWARE, NAIVE), id="between-end"),
        pytest.param(lambda: TOKYO.is_open(NAIVE), id="is_open"),
        pytest.param(lambda: TOKYO.next_open(NAIVE), id="next_open"),
        pytest.param(lambda: TOKYO.previous_close(NAIVE), id="previous_close"),
        pytest.param(lambda: TOKYO.open_intervals(NAIVE, AWARE), id="open_intervals-eager"),
    ],
)
def test_naive_datetime_rejected(call: object) -> None:
    with pytest.raises(ValueError, match="Naive"):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"timezone": "Mars/Olympus_Mons"}, "time zone", id="unknown-zone"),
        pytest.param({"timezone": ""}, "time zone", id="empty-zone"),
        pytest.param({"holiday_country": "XX"}, "holiday", id="unknown-country"),
        pytest.param({"holiday_country": "US", "holiday_subdivision": "ZZ"}, "holiday",
                     id="unknown-subdivision"),
        pytest.param({"holiday_subdivision": "NY"}, "holiday_country", id="subdivision-only"),
        pytest.param({"working_days": ()}, "working_days", id="no-working-days"),
        pytest.param({"working_days": (0, 7)}, "working_days", id="bad-weekday"),
        pytest.param({"shifts": ()}, "shifts", id="no-shifts"),
        pytest.param({"shifts": (Shift(time(9), time(13)), Shift(time(12), time(18)))},
                     "overlap", id="overlapping-shifts"),
    ],
)
def test_invalid_calendar(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"timezone": "Asia/Tokyo", **kwargs}
    with pytest.raises(ValueError, match=match):
        BusinessCalendar(**args)  # type: ignore[arg-type]


def test_invalid_shift_and_closure() -> None:
    with pytest.raises(ValueError, match="before its end"):
        Shift(time(18), time(9))
    with pytest.raises(ValueError, match="before its end"):
        Shift(time(9), time(9))
    with pytest.raises(ValueError, match="naive"):
        Shift(time(9, tzinfo=UTC), time(18))
    with pytest.raises(ValueError, match="month, day"):
        AnnualClosure((2, 30), (3, 1))


def test_unsorted_shifts_are_sorted() -> None:
    cal = BusinessCalendar("Asia/Tokyo", shifts=tuple(reversed(LUNCH_SPLIT)))
    assert cal.shifts == LUNCH_SPLIT


def test_always_closed_calendar_raises_instead_of_looping() -> None:
    cal = BusinessCalendar("Asia/Tokyo", annual_closures=[AnnualClosure((1, 1), (12, 31))])
    with pytest.raises(ValueError, match="no open business hours"):
        cal.add(AWARE, H)
    with pytest.raises(ValueError, match="no open business hours"):
        cal.add(AWARE, -H)
    with pytest.raises(ValueError, match="no open business hours"):
        cal.next_open(AWARE)
    with pytest.raises(ValueError, match="no open business hours"):
        cal.previous_close(AWARE)
    # A bounded question still has an answer.
    assert cal.between(AWARE, AWARE + timedelta(days=30)) == timedelta(0)
    assert not cal.is_open(AWARE)


# ----------------------------------------------------------------- properties

PROPERTY_CALENDARS = [
    pytest.param(TOKYO, id="tokyo"),
    pytest.param(NEW_YORK, id="new-york"),
    pytest.param(TOKYO_SPLIT, id="tokyo-split"),
    pytest.param(NEW_YORK_NIGHTS, id="new-york-night-split"),
]


def _us_dst_switches() -> list[datetime]:
    """07:00Z on the US switch Sundays (2nd Sunday of March, 1st of November)."""
    switches = []
    for year in range(2024, 2031):
        for month, nth in ((3, 2), (11, 1)):
            first = date(year, month, 1)
            sunday = first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (nth - 1))
            switches.append(datetime.combine(sunday, time(7), tzinfo=UTC))
    return switches


_anywhere = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
# Uniform instants almost never land on a DST weekend; aim some there on purpose.
_near_dst = st.builds(
    lambda switch, offset: switch + timedelta(seconds=offset),
    st.sampled_from(_us_dst_switches()),
    st.integers(-3 * 86400, 3 * 86400),
)
instants = st.one_of(_anywhere, _near_dst)
MAX_SECONDS = 60 * 3600
durations = st.one_of(
    st.integers(0, MAX_SECONDS // 60).map(lambda m: timedelta(minutes=m)),
    st.integers(0, MAX_SECONDS).map(lambda s: timedelta(seconds=s)),
)
# No example database: keep test runs from writing .hypothesis/ into the shared tree.
PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, database=None)


def calendar_property(**strategies: Any) -> Callable[[Callable[..., None]], Any]:
    """A property of every calendar in ``PROPERTY_CALENDARS`` (the test's ``cal``), checked
    on hypothesis's draws from ``strategies``."""

    def check(test: Callable[..., None]) -> Any:
        drawn = PROPERTY_SETTINGS(given(**strategies)(test))
        return pytest.mark.parametrize("cal", PROPERTY_CALENDARS)(drawn)

    return check


# The round-trip and landing properties share one test (same draws) to halve the
# hypothesis overhead; each is still its own assert.
@calendar_property(t=instants, d=durations)
def test_add_round_trips_and_lands_in_hours(
    cal: BusinessCalendar, t: datetime, d: timedelta
) -> None:
    forward = cal.add(t, d)
    backward = cal.add(t, -d)
    assert cal.between(t, forward) == d
    assert cal.between(backward, t) == d
    assert forward.tzinfo == cal.tz
    assert backward.tzinfo == cal.tz
    if d > timedelta(0):
        assert instant(forward) > t
        # Either inside hours, or exactly on a shift end (open 1 µs earlier).
        assert cal.is_open(forward) or cal.is_open(forward - timedelta(microseconds=1))
        assert instant(backward) < t
        assert cal.is_open(backward)


@calendar_property(t=instants, d1=durations, d2=durations)
def test_add_monotonic_in_duration(
    cal: BusinessCalendar, t: datetime, d1: timedelta, d2: timedelta
) -> None:
    d1, d2 = sorted((d1, d2))
    assert instant(cal.add(t, d1)) <= instant(cal.add(t, d2))
    assert instant(cal.add(t, -d2)) <= instant(cal.add(t, -d1))


@calendar_property(t1=instants, t2=instants, d=durations)
def test_add_monotonic_in_start(
    cal: BusinessCalendar, t1: datetime, t2: datetime, d: timedelta
) -> None:
    t1, t2 = sorted((t1, t2))
    assert instant(cal.add(t1, d)) <= instant(cal.add(t2, d))


# Spans up to ~2 months keep the day-by-day walk cheap; long spans are just more days.
_gaps = st.integers(0, 60 * 86400 * 10**6).map(lambda us: timedelta(microseconds=us))


@calendar_property(a=instants, ab=_gaps, bc=_gaps)
def test_between_additive(
    cal: BusinessCalendar, a: datetime, ab: timedelta, bc: timedelta
) -> None:
    b = a + ab
    c = b + bc
    assert cal.between(a, b) + cal.between(b, c) == cal.between(a, c)
    assert cal.between(c, a) == -cal.between(a, c)


@calendar_property(t=instants)
def test_next_open_and_previous_close_bracket_closed_time(
    cal: BusinessCalendar, t: datetime
) -> None:
    opening = cal.next_open(t)
    closing = cal.previous_close(t)
    assert cal.is_open(opening)
    assert instant(closing) <= t <= instant(opening)
    assert cal.between(t, opening) == timedelta(0)
    assert (instant(opening) == t) is cal.is_open(t)
    assert not cal.is_open(closing) or cal.is_open(closing - timedelta(microseconds=1))


@calendar_property(a=instants, b=instants)
def test_open_intervals_well_formed(cal: BusinessCalendar, a: datetime, b: datetime) -> None:
    a, b = sorted((a, b))
    b = min(b, a + timedelta(days=21))  # bounded for speed
    spans = [(instant(s), instant(e)) for s, e in cal.open_intervals(a, b)]
    assert all(a <= s < e <= b for s, e in spans)
    assert all(e1 <= s2 for (_, e1), (s2, _) in pairwise(spans))
    assert sum((e - s for s, e in spans), timedelta(0)) == cal.between(a, b)


def test_the_timeline_answers_exactly_as_the_calendar() -> None:
    """Reports use ``BusinessTimeline`` for speed; it must never disagree with the calendar."""
    import random

    from bot.calendar import BusinessTimeline
    from bot.policy import load_policy

    cal = load_policy(EXAMPLE_POLICY).business_calendar
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime(2027, 1, 20, tzinfo=UTC)
    timeline = BusinessTimeline(cal, start, end)
    rng = random.Random(20261124)
    span = int((end - start).total_seconds())
    instants = [start + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(10**6))
                for _ in range(400)]
    # exact boundaries too: openings, closings, a holiday, the year-end closure
    for day in (20, 23, 24, 27):
        for hour in (9, 18):
            instants.append(datetime(2026, 11, day, hour - 9, tzinfo=UTC))
    instants.append(datetime(2026, 12, 28, 9, tzinfo=UTC))
    for a, b in zip(instants, reversed(instants), strict=True):
        lo, hi = min(a, b), max(a, b)
        assert timeline.between(lo, hi) == cal.between(lo, hi), (lo, hi)
    for a in instants:
        for hours in (0.5, 1, 2, 9, 30):
            assert timeline.add(a, timedelta(hours=hours)) == cal.add(a, timedelta(hours=hours)), a
    outside = datetime(2027, 3, 1, tzinfo=UTC)
    assert timeline.between(start, outside) == cal.between(start, outside)
