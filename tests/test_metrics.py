"""Every figure of the scorecard, for a month of leads driven through the real services.

November 2026 in Tokyo (09:00–18:00 Mon–Fri; 3 and 23 Nov are public holidays). The leads,
with the business minutes each one took (hand-computed from the calendar):

| lead | handed off (JST)  | owner | claim | first touch | decided                         |
|------|-------------------|-------|-------|-------------|---------------------------------|
| L7   | Fri 30 Oct 10:00  | REP1  | —     | —           | converted Mon 2 Nov (2 touches) |
| L1   | Mon 2 Nov 10:00   | REP1  | 10    | 20          | converted Thu 5 Nov (5 touches) |
| L2   | Wed 4 Nov 17:00   | REP2  | 30    | 110         | recycled Fri 6 Nov, no_budget (1) |
| L3   | Fri 6 Nov 17:00 (33 h late) | REP1 | 80 | 210 | recycled Fri 20 Nov, timing (1) |
| L4   | Tue 10 Nov 09:30, no activities | REP2 | 210 | 1110 | open (breached both) |
| L5   | received Thu 12 Nov, not qualified | — | — | — | — |
| L8   | Mon 16 Nov 10:00, hot tier (1 h) | REP1 | 5 | 90 | converted Wed 18 Nov (3 touches) |
| L9   | Fri 20 Nov 17:30  | REP2  | 35 (Mon 23 is a holiday) | 75 | open (decision breached) |
| L6   | Wed 25 Nov 09:00  | —     | —     | —           | open, never claimed (breached) |

The report is made on Mon 30 Nov 12:00.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.clock import ManualClock
from bot.intake import accept, parse_data
from bot.lifecycle import Surface
from bot.policy import Policy
from bot.reporting.metrics import (
    Durations,
    median,
    open_breaches,
    per_rep,
    percentile,
    recycle_reasons,
    scorecard,
)
from bot.reporting.periods import month
from tests.harness import FakeSlack
from tests.harness.bot_env import make_services
from tests.harness.databases import Database
from tests.harness.people import REP1, REP2
from tests.harness.policies import lenient
from tests.harness.report_month import TOKYO, Month, jst, payload


@pytest.fixture
def november(fake_slack: FakeSlack, db: Database, policy: Policy) -> Iterator[Month]:
    clock = ManualClock(jst(10, 29, 9))
    world = Month(make_services(fake_slack, db, lenient(policy), clock), clock, fake_slack)
    l7 = world.hand_off("L7", jst(10, 30, 9), jst(10, 30, 10))
    world.claim(l7, REP1, jst(10, 30, 10, 5))
    world.touch(l7, REP1, jst(10, 30, 10, 30), times=2)
    world.convert(l7, REP1, jst(11, 2, 9, 30))

    l1 = world.hand_off("L1", jst(11, 2, 9), jst(11, 2, 10))
    world.claim(l1, REP1, jst(11, 2, 10, 10))
    world.touch(l1, REP1, jst(11, 2, 10, 20), times=5)

    l2 = world.hand_off("L2", jst(11, 4, 9), jst(11, 4, 17))
    world.claim(l2, REP2, jst(11, 4, 17, 30))
    world.convert(l1, REP1, jst(11, 5, 9))
    world.touch(l2, REP2, jst(11, 5, 9, 50))

    l3 = world.hand_off("L3", jst(11, 5, 8), jst(11, 6, 17))
    world.recycle(l2, REP2, jst(11, 6, 17, 30), "no_budget")
    world.claim(l3, REP1, jst(11, 9, 9, 20))
    world.touch(l3, REP1, jst(11, 9, 11, 30))

    l4 = world.hand_off("L4", jst(11, 10, 9), jst(11, 10, 9, 30), activities=False)
    world.claim(l4, REP2, jst(11, 10, 13))
    world.touch(l4, REP2, jst(11, 12, 10))

    world.at(jst(11, 12, 11))
    rejected = accept(world.services, parse_data(payload("L5", jst(11, 12, 11),
                                                         industry="education"),
                                               now=world.clock.now()),
                      surface=Surface.WEBHOOK)
    assert rejected.status == "not_qualified"

    l8 = world.hand_off("L8", jst(11, 16, 9, 30), jst(11, 16, 10), hot=True)
    world.claim(l8, REP1, jst(11, 16, 10, 5))
    world.touch(l8, REP1, jst(11, 16, 11, 30), times=3)
    world.convert(l8, REP1, jst(11, 18, 15))

    world.recycle(l3, REP1, jst(11, 20, 11), "timing")
    l9 = world.hand_off("L9", jst(11, 20, 9), jst(11, 20, 17, 30))
    world.claim(l9, REP2, jst(11, 24, 9, 5))
    world.touch(l9, REP2, jst(11, 24, 9, 45))

    world.hand_off("L6", jst(11, 25, 8), jst(11, 25, 9))
    world.at(jst(11, 30, 12))
    world.ids = {"L1": l1, "L4": l4, "L9": l9}  # type: ignore[attr-defined]
    yield world


def test_percentiles_are_nearest_rank_and_the_median_averages_the_middle_pair() -> None:
    assert median([5, 10, 30, 35, 80, 210]) == 32.5
    assert percentile([5, 10, 30, 35, 80, 210], 0.9) == 210
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert median([]) is None and percentile([], 0.9) is None


def test_the_team_scorecard_for_november(november: Month) -> None:
    card = scorecard(november.services, november.services.policy, month(2026, 11, TOKYO))
    assert card.now == jst(11, 30, 12)
    assert card.handed_off == 7
    # 29.5 of November's 30 days have elapsed by Monday 30 Nov 12:00
    assert card.mql_target == pytest.approx(100 * 29.5 / 30)
    assert card.not_qualified == 1
    assert (card.handoff_on_time, card.handoff_rate) == (6, pytest.approx(6 / 7))
    assert (card.with_history, card.history_rate) == (6, pytest.approx(6 / 7))
    assert card.time_to_claim == Durations(6, 32.5, 210)
    assert card.time_to_first_contact == Durations(6, 100, 1110)
    # L6 is past its deadline untouched; L8 (hot: 1 h) took 90 min; L3 and L4 were late
    assert (card.first_contact_on_time, card.first_contact_settled) == (3, 7)
    assert (card.decided, card.converted, card.recycled) == (5, 3, 2)
    assert card.touches_per_lead == pytest.approx(12 / 5)
    assert card.recycled_under_min_touches == 2
    # L1, L2, L8 in time, L3 late, L4 and L9 past their week undecided; L6 still has time
    assert (card.decision_on_time, card.decision_settled) == (3, 6)
    assert card.sql_rate == pytest.approx(3 / 5)
    assert (card.cohort_converted, card.cohort_sql_rate) == (2, pytest.approx(2 / 7))
    assert card.recycle_reasons == (("no_budget", 1), ("timing", 1))
    assert recycle_reasons(november.services, november.services.policy,
                           month(2026, 11, TOKYO)) == [("no_budget", 1), ("timing", 1)]


def test_per_rep_figures_add_up_to_the_owned_leads(november: Month) -> None:
    policy = november.services.policy
    cards = per_rep(november.services, policy, month(2026, 11, TOKYO))
    assert set(cards) == {REP1, REP2}
    one, two = cards[REP1], cards[REP2]
    assert one.mql_target is None and one.rep == REP1
    assert (one.handed_off, one.handoff_on_time, one.with_history) == (3, 2, 3)
    assert one.time_to_claim == Durations(3, 10, 80)
    assert one.time_to_first_contact == Durations(3, 90, 210)
    assert (one.first_contact_on_time, one.first_contact_settled) == (1, 3)
    assert (one.decided, one.converted, one.recycled, one.touches_on_decided) == (4, 3, 1, 11)
    assert one.recycled_under_min_touches == 1
    assert (one.decision_on_time, one.decision_settled, one.cohort_converted) == (2, 3, 2)
    assert one.recycle_reasons == (("timing", 1),)

    assert (two.handed_off, two.handoff_on_time, two.with_history) == (3, 3, 2)
    assert two.time_to_claim == Durations(3, 35, 210)
    assert two.time_to_first_contact == Durations(3, 110, 1110)
    assert (two.first_contact_on_time, two.first_contact_settled) == (2, 3)
    assert (two.decided, two.recycled, two.recycled_under_min_touches) == (1, 1, 1)
    assert (two.decision_on_time, two.decision_settled) == (1, 3)
    assert two.recycle_reasons == (("no_budget", 1),)

    alone = scorecard(november.services, policy, month(2026, 11, TOKYO), REP2)
    assert alone == two


def test_open_breaches_list_the_open_leads_with_their_promises(november: Month) -> None:
    ids = november.ids  # type: ignore[attr-defined]
    policy = november.services.policy
    breaches = open_breaches(november.services, policy)
    assert breaches.total == 3
    rows = {row.contact_name: row for row in breaches.rows}
    assert set(rows) == {"Contact L4", "Contact L9", "Contact L6"}
    assert rows["Contact L4"].promises == ("first_contact", "decision")
    assert rows["Contact L4"].owner_id == REP2 and rows["Contact L4"].lead_id == ids["L4"]
    assert rows["Contact L9"].promises == ("decision",)
    assert rows["Contact L6"].owner_id is None
    assert rows["Contact L6"].promises == ("first_contact",)
    assert all(row.channel_id and row.message_ts for row in breaches.rows)
    assert breaches.rows[0].contact_name == "Contact L4"  # oldest breach first

    mine = open_breaches(november.services, policy, REP2, limit=1)
    assert mine.total == 2 and len(mine.rows) == 1


def test_other_periods(november: Month) -> None:
    policy = november.services.policy
    from bot.reporting.periods import week_of

    week = week_of(jst(11, 16, 12).astimezone(TOKYO).date(), TOKYO)  # Mon 16 – Sun 22 Nov
    card = scorecard(november.services, policy, week)
    assert card.handed_off == 2  # L8 and L9
    assert card.mql_target == pytest.approx(100 * 7 / 30)
    assert (card.decided, card.converted, card.recycled) == (2, 1, 1)  # L8, L3
    assert card.time_to_claim == Durations(2, 20, 35)
    october = scorecard(november.services, policy, month(2026, 10, TOKYO))
    assert (october.handed_off, october.decided, october.mql_target) == (1, 0, 100)
    empty = scorecard(november.services, policy, month(2026, 12, TOKYO))
    assert empty.handed_off == 0 and empty.sql_rate is None and empty.mql_target == 0
    assert empty.time_to_claim == Durations()


def test_the_team_and_every_rep_from_one_pass_match_the_separate_figures(
    november: Month,
) -> None:
    from bot.reporting.metrics import team_and_reps

    policy = november.services.policy
    period = month(2026, 11, TOKYO)
    team, reps = team_and_reps(november.services, policy, period)
    assert team == scorecard(november.services, policy, period)
    assert reps == per_rep(november.services, policy, period)
