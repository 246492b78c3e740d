"""Business-hours calendar for SLA deadlines.

"First contact within 2 business hours of handoff" only means something once we
know when the business is open: which weekdays, which shifts (lunch breaks
included), which public holidays and which company closures. This module answers
that, in real elapsed time, so deadlines stay correct across DST switches.

Pure domain code: standard library plus the ``holidays`` package.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "AnnualClosure",
    "BusinessCalendar",
    "BusinessTimeline",
    "Shift",
    "micros",
]

_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)
# If this many consecutive days have no open interval, the calendar is effectively
# always closed; stop instead of looping forever.
_MAX_CLOSED_DAYS = 3 * 366


@dataclass(frozen=True)
class Shift:
    """One working interval in local wall time, e.g. 09:00-12:00.

    Wall time (not a fixed UTC offset) because offices open at "9 o'clock" whatever
    the DST state. Ends are exclusive, so a shift cannot cross midnight.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("Shift times must be naive wall-clock times")
        if not self.start < self.end:
            raise ValueError(f"Shift start {self.start} must be before its end {self.end}")


@dataclass(frozen=True)
class AnnualClosure:
    """A closed range recurring every year, by (month, day), both ends inclusive.

    May wrap the year end, e.g. (12, 29) -> (1, 3), which is how year-end
    shutdowns are usually stated.
    """

    start: tuple[int, int]
    end: tuple[int, int]

    def __post_init__(self) -> None:
        for month, day in (self.start, self.end):
            try:
                date(2000, month, day)  # a leap year, so (2, 29) is accepted
            except (TypeError, ValueError) as exc:
                raise ValueError(f"Invalid (month, day) in annual closure: {(month, day)}") from exc

    def contains(self, day: date) -> bool:
        """Whether ``day`` falls inside this closure (in any year)."""
        key = (day.month, day.day)
        if self.start <= self.end:
            return self.start <= key <= self.end
        return key >= self.start or key <= self.end


_DEFAULT_SHIFTS: tuple[Shift, ...] = (Shift(time(9), time(18)),)

Interval = tuple[datetime, datetime]


class BusinessCalendar:
    """Open/closed times of one business, and arithmetic on business time.

    Business time is real elapsed time inside open intervals. Internally every
    instant is handled in UTC (aware same-zone arithmetic in Python is wall-clock
    arithmetic, which is wrong across DST); results are returned in ``self.tz``.
    """

    def __init__(
        self,
        timezone: str,
        working_days: Iterable[int] = (0, 1, 2, 3, 4),
        shifts: Sequence[Shift] = _DEFAULT_SHIFTS,
        holiday_country: str | None = None,
        holiday_subdivision: str | None = None,
        closed_dates: Iterable[date] = (),
        annual_closures: Iterable[AnnualClosure] = (),
    ) -> None:
        try:
            self.tz: ZoneInfo = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"Unknown time zone: {timezone!r}") from exc

        days = frozenset(working_days)
        if not days:
            raise ValueError("working_days must not be empty: the calendar would never open")
        if not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
            raise ValueError(f"working_days must be integers 0 (Monday) to 6, got {sorted(days)}")
        self.working_days: frozenset[int] = days

        ordered = tuple(sorted(shifts, key=lambda s: (s.start, s.end)))
        if not ordered:
            raise ValueError("shifts must not be empty: the calendar would never open")
        for earlier, later in pairwise(ordered):
            if later.start < earlier.end:
                raise ValueError(f"Shifts overlap: {earlier} and {later}")
        self.shifts: tuple[Shift, ...] = ordered

        if holiday_subdivision is not None and holiday_country is None:
            raise ValueError("holiday_subdivision given without holiday_country")
        self.holiday_country = holiday_country
        self.holiday_subdivision = holiday_subdivision
        if holiday_country is not None:
            # Fail fast on a typo rather than at the first deadline computation.
            self._load_holidays_raw(years=())

        closed: set[date] = set()
        for day in closed_dates:
            if isinstance(day, datetime):
                raise TypeError(f"closed_dates must hold dates, not datetimes: {day!r}")
            closed.add(day)
        self.closed_dates: frozenset[date] = frozenset(closed)
        self.annual_closures: tuple[AnnualClosure, ...] = tuple(annual_closures)

        self._holiday_cache: dict[int, dict[date, str]] = {}
        self._interval_cache: dict[date, tuple[Interval, ...]] = {}

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar({self.tz.key!r}, working_days={sorted(self.working_days)}, "
            f"shifts={list(self.shifts)}, holiday_country={self.holiday_country!r})"
        )

    # ----------------------------------------------------------------- days

    def is_business_day(self, day: date) -> bool:
        """Whether ``day`` (a local calendar date) has working shifts."""
        return self.closure_reason(day) is None

    def closure_reason(self, day: date) -> str | None:
        """Why ``day`` is closed, for explaining deadlines to humans; None if open.

        Precedence: "weekend" (non-working weekday), then "holiday: <name>", then
        "closed" (extra company date), then "annual closure".
        """
        if day.weekday() not in self.working_days:
            return "weekend"
        name = self._holiday_name(day)
        if name is not None:
            return f"holiday: {name}"
        if day in self.closed_dates:
            return "closed"
        if any(closure.contains(day) for closure in self.annual_closures):
            return "annual closure"
        return None

    def _load_holidays_raw(self, years: int | tuple[int, ...]) -> holidays.HolidayBase:
        try:
            return holidays.country_holidays(
                self.holiday_country, subdiv=self.holiday_subdivision, years=years
            )
        except NotImplementedError as exc:
            raise ValueError(
                f"Unknown holiday country/subdivision: "
                f"{self.holiday_country!r}/{self.holiday_subdivision!r}"
            ) from exc

    def _holiday_name(self, day: date) -> str | None:
        """Holiday name from the ``holidays`` package, cached per year (lookups are hot)."""
        if self.holiday_country is None:
            return None
        year_map = self._holiday_cache.get(day.year)
        if year_map is None:
            year_map = dict(self._load_holidays_raw(years=day.year).items())
            self._holiday_cache[day.year] = year_map
        return year_map.get(day)

    # ------------------------------------------------------------ intervals

    def _instant(self, day: date, wall: time) -> datetime:
        """Local wall time on ``day`` as a UTC instant, monotonic in wall time.

        Ambiguous times (DST fall-back) resolve to their first occurrence. Times that
        do not exist (DST spring-forward gap) resolve to the transition instant: the
        clocks jump straight past them, so the office opens when the jump happens.
        Both rules keep the mapping non-decreasing, so intervals stay well-formed.
        """
        local = datetime.combine(day, wall, tzinfo=self.tz)  # fold=0: first occurrence
        instant = local.astimezone(UTC)
        if instant.astimezone(self.tz).replace(tzinfo=None) == local.replace(tzinfo=None):
            return instant
        # Nonexistent: the transition lies between the two fold readings. tzdata
        # transitions fall on whole seconds, so bisect over POSIX seconds.
        readings = sorted((instant, local.replace(fold=1).astimezone(UTC)))
        lo = int(readings[0].timestamp()) - 1
        hi = int(readings[1].timestamp()) + 1
        after = datetime.fromtimestamp(hi, UTC).astimezone(self.tz).utcoffset()
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, UTC).astimezone(self.tz).utcoffset() == after:
                hi = mid
            else:
                lo = mid
        return datetime.fromtimestamp(hi, UTC)

    def _day_intervals(self, day: date) -> tuple[Interval, ...]:
        """Open intervals of one local date as sorted, non-empty UTC pairs (cached)."""
        cached = self._interval_cache.get(day)
        if cached is not None:
            return cached
        result: list[Interval] = []
        if self.is_business_day(day):
            for shift in self.shifts:
                start = self._instant(day, shift.start)
                end = self._instant(day, shift.end)
                if start < end:  # a shift wholly inside a DST gap has no real time
                    result.append((start, end))
        intervals = tuple(result)
        self._interval_cache[day] = intervals
        return intervals

    def _forward(self, after: datetime, until: datetime | None = None) -> Iterator[Interval]:
        """Unclipped UTC intervals ending after ``after``, in order, day by day.

        Stops once past ``until``; raises ValueError if the calendar stays closed for
        years, which means it is misconfigured rather than merely on holiday.
        """
        day = after.astimezone(self.tz).date() - _ONE_DAY
        last_day = None if until is None else until.astimezone(self.tz).date() + _ONE_DAY
        closed_run = 0
        while last_day is None or day <= last_day:
            found = False
            for start, end in self._day_intervals(day):
                if end > after:
                    found = True
                    yield start, end
            closed_run = 0 if found else closed_run + 1
            if closed_run > _MAX_CLOSED_DAYS:
                raise ValueError(
                    f"{self!r} has no open business hours within ~3 years after {after}"
                )
            day += _ONE_DAY

    def _backward(self, before: datetime, until: datetime | None = None) -> Iterator[Interval]:
        """Unclipped UTC intervals starting before ``before``, latest first."""
        day = before.astimezone(self.tz).date() + _ONE_DAY
        first_day = None if until is None else until.astimezone(self.tz).date() - _ONE_DAY
        closed_run = 0
        while first_day is None or day >= first_day:
            found = False
            for start, end in reversed(self._day_intervals(day)):
                if start < before:
                    found = True
                    yield start, end
            closed_run = 0 if found else closed_run + 1
            if closed_run > _MAX_CLOSED_DAYS:
                raise ValueError(
                    f"{self!r} has no open business hours within ~3 years before {before}"
                )
            day -= _ONE_DAY

    # -------------------------------------------------------------- queries

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` lies inside an open interval (start inclusive, end exclusive)."""
        instant = _to_utc(at)
        local_day = instant.astimezone(self.tz).date()
        return any(
            start <= instant < end
            for day in (local_day - _ONE_DAY, local_day, local_day + _ONE_DAY)
            for start, end in self._day_intervals(day)
        )

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself if open, else the next opening instant."""
        instant = _to_utc(at)
        for start, _end in self._forward(instant):
            return max(start, instant).astimezone(self.tz)
        raise AssertionError("unreachable: _forward raises when nothing is found")

    def previous_close(self, at: datetime) -> datetime:
        """End of the last open interval ending at or before ``at``.

        If ``at`` is inside an open interval, that is the end of the previous one.
        """
        instant = _to_utc(at)
        for _start, end in self._backward(instant):
            if end <= instant:
                return end.astimezone(self.tz)
        raise AssertionError("unreachable: _backward raises when nothing is found")

    def open_intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals clipped to [start, end), in order, in ``self.tz``.

        Arguments are validated eagerly, not on first iteration.
        """
        lo, hi = _to_utc(start), _to_utc(end)
        return (
            (s.astimezone(self.tz), e.astimezone(self.tz)) for s, e in self._clipped(lo, hi)
        )

    def _clipped(self, lo: datetime, hi: datetime) -> Iterator[Interval]:
        """UTC open intervals clipped to [lo, hi)."""
        if hi <= lo:
            return
        for s, e in self._forward(lo, until=hi):
            if s >= hi:
                return
            yield max(s, lo), min(e, hi)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time in [start, end); negative if ``end`` precedes ``start``."""
        lo, hi = _to_utc(start), _to_utc(end)
        if hi < lo:
            return -self.between(hi, lo)
        total = _ZERO
        for s, e in self._clipped(lo, hi):
            total += e - s  # UTC on both sides, so this is real elapsed time
        return total

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` of business time has elapsed from ``start``.

        Outside hours, counting starts at the next opening. Running out exactly at a
        shift end returns that end (a deadline of "Friday 18:00" rather than "Monday
        09:00"). Negative durations count backwards and land on a shift start when
        used up exactly there, so ``between(add(t, -d), t) == d``.
        """
        instant = _to_utc(start)
        if duration == _ZERO:
            return instant.astimezone(self.tz)
        if duration > _ZERO:
            remaining = duration
            for s, e in self._forward(instant):
                s = max(s, instant)
                if remaining <= e - s:
                    return (s + remaining).astimezone(self.tz)
                remaining -= e - s
        else:
            remaining = -duration
            for s, e in self._backward(instant):
                e = min(e, instant)
                if remaining <= e - s:
                    return (e - remaining).astimezone(self.tz)
                remaining -= e - s
        raise AssertionError("unreachable: interval iterators raise when nothing is found")


def _to_utc(value: datetime) -> datetime:
    """Reject naive datetimes (an SLA clock without a zone is a bug) and normalise to UTC."""
    if not isinstance(value, datetime):
        raise TypeError(f"Expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"Naive datetime not allowed (needs a time zone): {value!r}")
    return value.astimezone(UTC)


class BusinessTimeline:
    """``between`` and ``add`` of one calendar over a fixed window, by binary search.

    Reports measure business time for every lead of a month; walking the calendar's intervals
    for each lead costs milliseconds apiece. Inside ``[start, end)`` this answers from cumulative
    sums of the open intervals (two bisections); outside it defers to the calendar, so results
    are always the calendar's own.
    """

    def __init__(self, calendar: BusinessCalendar, start: datetime, end: datetime) -> None:
        self.calendar = calendar
        self._lo, self._hi = micros(start), micros(end)
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._before: list[int] = []  # open microseconds before each interval
        total = 0
        for s, e in calendar.open_intervals(start, end):
            self._starts.append(micros(s))
            self._ends.append(micros(e))
            self._before.append(total)
            total += micros(e) - micros(s)
        self._after = [b + (e - s) for b, s, e in zip(self._before, self._starts, self._ends,
                                                      strict=True)]

    def _covers(self, ts: int) -> bool:
        return self._lo <= ts <= self._hi

    def _open_before(self, ts: int) -> int:
        i = bisect.bisect_right(self._starts, ts) - 1
        if i < 0:
            return 0
        return self._before[i] + min(ts, self._ends[i]) - self._starts[i]

    def between(self, start: datetime, end: datetime) -> timedelta:
        a, b = micros(start), micros(end)
        if not (self._covers(a) and self._covers(b)):
            return self.calendar.between(start, end)
        return timedelta(microseconds=self._open_before(b) - self._open_before(a))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        a = micros(start)
        if duration <= _ZERO or not self._covers(a):
            return self.calendar.add(start, duration)
        target = self._open_before(a) + duration // _MICRO
        j = bisect.bisect_left(self._after, target)
        if j >= len(self._after):
            return self.calendar.add(start, duration)
        instant = self._starts[j] + (target - self._before[j])
        return (_EPOCH + instant * _MICRO).astimezone(self.calendar.tz)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    """Exact microseconds since the epoch (float timestamps would round)."""
    return (_to_utc(value) - _EPOCH) // _MICRO
