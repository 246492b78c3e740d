"""Due instants of the agreement's promises for one lead, as people will be told them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.deadlines import (
    decision_due,
    decision_due_from,
    first_contact_due,
    first_contact_due_from,
    first_contact_target_hours,
    handoff_due,
    handoff_lateness,
)
from bot.policy import Policy, parse_policy
from storage.models import Lead

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
QUALIFIED = datetime(2026, 11, 19, 10, 0, tzinfo=TOKYO)
FRIDAY_LATE = datetime(2026, 11, 20, 17, 30, tzinfo=TOKYO)  # Monday 23 Nov is a holiday


def make_lead(**fields: Any) -> Lead:
    values: dict[str, Any] = {
        "external_id": "x-1",
        "source": "test",
        "contact_name": "Sato Hanako",
        "qualified_at": QUALIFIED,
        "posted_at": FRIDAY_LATE,
        "tier": None,
    }
    values.update(fields)
    return Lead(**values)


def same_instant(a: datetime | None, b: datetime) -> bool:
    assert a is not None
    return a.astimezone(UTC) == b.astimezone(UTC)


def test_first_contact_skips_the_weekend_and_the_holiday(policy: Policy) -> None:
    due = first_contact_due(make_lead(), policy)
    assert same_instant(due, datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO))
    assert due is not None and due.tzinfo == policy.tz  # ready to show


def test_hot_tier_has_a_one_hour_target(policy: Policy) -> None:
    lead = make_lead(tier="hot")
    assert first_contact_target_hours(lead, policy) == 1
    assert same_instant(
        first_contact_due(lead, policy), datetime(2026, 11, 24, 9, 30, tzinfo=TOKYO)
    )


def test_a_tier_no_longer_configured_falls_back_to_the_agreement(policy: Policy) -> None:
    lead = make_lead(tier="platinum")
    assert first_contact_target_hours(lead, policy) == 2
    assert same_instant(
        first_contact_due(lead, policy), datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
    )


def test_inside_business_hours_counts_from_the_hand_off(policy: Policy) -> None:
    lead = make_lead(posted_at=datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO))
    assert same_instant(
        first_contact_due(lead, policy), datetime(2026, 11, 24, 12, 0, tzinfo=TOKYO)
    )


def test_decision_is_seven_calendar_days_after_hand_off(policy: Policy) -> None:
    assert same_instant(
        decision_due(make_lead(), policy), datetime(2026, 11, 27, 17, 30, tzinfo=TOKYO)
    )


def test_decision_keeps_the_wall_time_across_dst() -> None:
    policy = parse_policy(
        {
            "mql_definition": {"version": "v1"},
            "channels": {"handoff": "C0SALES", "marketing_feedback": "C0MKTG"},
            "calendar": {"timezone": "America/New_York"},
        }
    )
    posted = datetime(2026, 10, 30, 10, 30, tzinfo=NEW_YORK)  # DST ends on 1 Nov
    due = decision_due_from(posted, policy)
    assert due.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2026, 11, 6, 10, 30)
    assert due.astimezone(UTC) - posted.astimezone(UTC) == timedelta(days=7, hours=1)


@pytest.mark.parametrize(
    ("posted_after", "lateness"),
    [
        (timedelta(hours=1), None),
        (timedelta(hours=24), None),
        (timedelta(hours=27), timedelta(hours=3)),
        (timedelta(days=3, minutes=5), timedelta(days=2, minutes=5)),
    ],
)
def test_handoff_lateness(
    policy: Policy, posted_after: timedelta, lateness: timedelta | None
) -> None:
    lead = make_lead(posted_at=QUALIFIED + posted_after)
    assert same_instant(handoff_due(lead, policy), QUALIFIED + timedelta(hours=24))
    assert handoff_lateness(lead, policy) == lateness


def test_nothing_runs_before_hand_off(policy: Policy) -> None:
    lead = make_lead(posted_at=None)
    assert first_contact_due(lead, policy) is None
    assert decision_due(lead, policy) is None
    assert handoff_lateness(lead, policy) is None
    assert same_instant(handoff_due(lead, policy), datetime(2026, 11, 20, 10, 0, tzinfo=TOKYO))


def test_preview_as_if_handed_off_now(policy: Policy) -> None:
    lead = make_lead(posted_at=None)
    assert same_instant(
        first_contact_due_from(FRIDAY_LATE, lead, policy),
        datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO),
    )
    assert same_instant(
        decision_due_from(FRIDAY_LATE, policy), datetime(2026, 11, 27, 17, 30, tzinfo=TOKYO)
    )


def test_utc_timestamps_from_the_database_give_the_same_deadlines(policy: Policy) -> None:
    lead = make_lead(posted_at=FRIDAY_LATE.astimezone(UTC), qualified_at=QUALIFIED.astimezone(UTC))
    assert same_instant(
        first_contact_due(lead, policy), datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
    )
    assert handoff_lateness(lead, policy) == timedelta(hours=7, minutes=30)
