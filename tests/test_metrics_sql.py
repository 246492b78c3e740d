"""On PostgreSQL the figures are aggregates over the stamped business-time facts; they must give
exactly what the Python path gives, and the stamps exactly what measuring on the calendar gives.

Random months of leads stored directly (hand-offs at night, on weekends and holidays; claims
stamped a little before the hand-off; touches and decisions in any order; unknown tiers), under
the example calendar (Tokyo, holidays, year-end closure) and a DST calendar with a lunch break,
are reported both ways and compared to the microsecond (floats compared with ``==``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from bot import timings
from bot.policy import CalendarConfig, Policy, Tier
from bot.reporting import metrics
from bot.reporting.periods import Period, month
from storage.models import Activity, Lead, LeadEvent, LeadStatus
from storage.report_queries import ReportQueries
from tests.harness.databases import Database

REPS = ["U0000REP1", "U0000REP2", "U0000REP3", None]
TIERS = [None, None, "hot", "vip", "gone"]


def dst_policy(policy: Policy) -> Policy:
    """New York hours with a lunch break (DST starts 8 Mar and ends 1 Nov 2026)."""
    calendar = CalendarConfig(
        timezone="America/New_York", working_hours=((time(9), time(12)), (time(13), time(17, 30))),
        holidays="US", closed_dates=(datetime(2026, 3, 13).date(),),
    )
    tiers = (Tier(name="hot", first_contact_business_hours=0.5),
             Tier(name="vip", first_contact_business_hours=3.25))
    return policy.model_copy(update={"calendar": calendar, "tiers": tiers})


def seed(session: Session, policy: Policy, period: Period, rng: random.Random,
         leads: int) -> None:
    """Leads handed off, decided or received in ``period`` with their claims and activities,
    stamped as the bot stamps them (``bot.timings``)."""
    span = (period.end - period.start).total_seconds()

    def instant(base: datetime, hours: float) -> datetime:
        # whole seconds plus odd microseconds: durations must match to the microsecond
        return base + timedelta(hours=hours, microseconds=rng.randrange(1_000_000))

    for i in range(leads):
        posted = period.start + timedelta(seconds=rng.uniform(-0.2, 1.0) * span)
        owner = rng.choice(REPS)
        touched = instant(posted, rng.uniform(-0.5, 80)) if rng.random() < 0.6 else None
        decided = instant(posted, rng.uniform(0, 300)) if rng.random() < 0.5 else None
        status = (LeadStatus.CONVERTED if decided and rng.random() < 0.4 else
                  LeadStatus.RECYCLED if decided else
                  rng.choice([LeadStatus.POSTED, LeadStatus.CLAIMED, LeadStatus.WORKING]))
        lead = Lead(
            external_id=f"sql-{i}", source="test", status=status.value, tier=rng.choice(TIERS),
            qualified_at=posted - timedelta(hours=rng.uniform(0, 40)),
            received_at=posted - timedelta(minutes=5), contact_name=f"Lead {i}",
            posted_at=posted, owner_id=owner, first_touch_at=touched,
            touch_count=rng.randrange(0, 8), decided_at=decided,
            decision_reason=rng.choice(["no_budget", "timing", None, "other", ""])
            if status == LeadStatus.RECYCLED else None,
            updated_at=posted,
        )
        if rng.random() < 0.5:
            lead.activities.append(Activity(type="page_view", at=posted - timedelta(days=1)))
            lead.has_history = True  # as intake stores it
        claims = rng.choice([0, 1, 1, 2])
        for _ in range(claims):
            # a claim stamped a few minutes before the hand-off (clock skew) counts as 0
            lead.events.append(LeadEvent(at=instant(posted, rng.uniform(-0.1, 50)), kind="claim",
                                         surface="button"))
        # the first claim ever, as the claim services store it
        lead.first_claimed_at = min((e.at for e in lead.events), default=None)
        timings.stamp(lead, policy)
        session.add(lead)
    for i in range(leads // 10):  # received in the period, not qualified
        at = period.start + timedelta(seconds=rng.uniform(0, span))
        session.add(Lead(external_id=f"nq-{i}", source="test",
                         status=LeadStatus.NOT_QUALIFIED.value, qualified_at=at, received_at=at,
                         contact_name="nq", updated_at=at))
    session.commit()


def python_figures(session: Session, policy: Policy, period: Period, now: datetime, *,
                   rep: str | None, team: bool, reps: bool) -> dict[object, metrics._Raw]:
    """The Python path of ``metrics._figures``: SQLite's, and PostgreSQL's on stale stamps."""
    reads = ReportQueries(session)
    figures = metrics._python_figures(reads, policy, period, now, rep=rep, team=team,
                                      reps=reps)
    return metrics._with_reasons(figures, metrics._reasons(reads, period, rep, by_rep=reps))


@pytest.fixture
def pg(db: Database) -> Iterator[Session]:
    if db.kind != "postgresql":
        pytest.skip("the SQL evaluation of business time is PostgreSQL's")
    with Session(db.engine) as session:
        yield session


@pytest.mark.parametrize(("calendar", "year_month", "now_days"), [
    ("example", (2026, 11), 3),      # the month closed, two days later
    ("example", (2026, 12), -12),    # mid-month, over the year-end closure
    ("dst", (2026, 3), -10),         # DST starts on 8 March
    ("dst", (2026, 11), 40),         # DST ends on 1 November; well after the month
])
def test_sql_figures_equal_python_figures(
    pg: Session, policy: Policy, calendar: str, year_month: tuple[int, int], now_days: int,
) -> None:
    chosen = dst_policy(policy) if calendar == "dst" else policy
    period = month(*year_month, ZoneInfo(chosen.calendar.timezone))
    seed(pg, chosen, period, random.Random(f"{calendar}{year_month}"), 400)
    now = period.end + timedelta(days=now_days)
    shapes = [(None, True, True), (None, False, True), (None, True, False),
              ("U0000REP2", True, False)]
    stamped = {}
    for rep, team, reps in shapes:
        sql = metrics._sql_figures(ReportQueries(pg), chosen, period, now, rep=rep, team=team,
                                   reps=reps)
        python = python_figures(pg, chosen, period, now, rep=rep, team=team, reps=reps)
        assert sql is not None, "the SQL evaluation fell back to Python"
        assert sql == python
        stamped[rep, team, reps] = python
    # the stamps hold exactly what measuring every lead on the calendar gives
    pg.query(Lead).update({Lead.timing_basis: "an older calendar"})
    for rep, team, reps in shapes:
        measured = python_figures(pg, chosen, period, now, rep=rep, team=team, reps=reps)
        assert measured == stamped[rep, team, reps]
    team = python_figures(pg, chosen, period, now, rep=None, team=True, reps=False)
    # the data exercise every figure (a comparison of zeros would prove nothing)
    raw = team[metrics.TEAM]
    assert len(raw.reasons) == 3, raw.reasons  # two reasons and "other" (none, "" or "other")
    assert raw.claim.count > 100 and raw.contact.count > 100
    assert 0 < raw.first_contact_on_time < raw.first_contact_settled
    assert all(value > 0 for name, value in raw.counts.items()), raw.counts


def test_stale_stamps_are_measured_again_by_python(pg: Session, policy: Policy) -> None:
    """A lead whose stamp is missing, of another calendar, or behind its first touch: SQL
    declines, Python measures it on the calendar; the figures equal the freshly stamped ones."""
    period = month(2026, 11, policy.tz)
    seed(pg, policy, period, random.Random(7), 60)
    now = period.end + timedelta(days=1)
    fresh = metrics.scorecard(pg, policy, period, now=now)
    touched = pg.query(Lead).filter(Lead.first_touch_at.is_not(None),
                                    Lead.posted_at >= period.start).first()
    untouched = pg.query(Lead).filter(Lead.first_touch_at.is_(None),
                                      Lead.posted_at >= period.start).first()
    assert touched is not None and untouched is not None
    for lead, damage in [(touched, {"contact_business_us": None}),
                         (untouched, {"timing_basis": "an older calendar"}),
                         (untouched, {"first_contact_due_at": None, "timing_basis": None})]:
        for name, value in damage.items():
            setattr(lead, name, value)
        pg.commit()
        assert metrics._sql_figures(ReportQueries(pg), policy, period, now, rep=None, team=True,
                                    reps=True) is None
        assert metrics.scorecard(pg, policy, period, now=now) == fresh
        timings.stamp(lead, policy)
        pg.commit()
        assert metrics._sql_figures(ReportQueries(pg), policy, period, now, rep=None, team=True,
                                    reps=True) is not None


def test_median_of_an_even_count_is_the_mean_of_the_two_middle_ranks() -> None:
    assert metrics._durations(4, (60_000_000, 120_000_000, 180_000_000)) == \
        metrics.Durations.of([0.5, 1.0, 2.0, 3.0])
    assert metrics._durations(3, (60_000_000, 60_000_000, 120_000_000)) == \
        metrics.Durations.of([0.5, 1.0, 2.0])
    assert metrics._durations(0, None) == metrics.Durations()

