"""The reminder plan, as a table: which notices a lead owes, and when they go out.

The example policy: Asia/Tokyo, 09:00-18:00 Mon-Fri, Japanese holidays (Mon 23 Nov 2026 is
Labour Thanksgiving Day), first contact within 2 business hours (1 for the "hot" tier),
5 touches, one follow-up per 9 business hours, a decision within 7 days.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.policy import Policy
from bot.reminders.plan import (
    Audience,
    LeadClocks,
    NoticeKind,
    Promise,
    Snooze,
    _quiet,
    due_now,
    plan,
)
from storage.models import LeadStatus

TOKYO = ZoneInfo("Asia/Tokyo")


def jst(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TOKYO)


def lead(**changes: object) -> LeadClocks:
    base = LeadClocks(
        status=LeadStatus.POSTED,
        qualified_at=jst(24, 9),
        posted_at=jst(24, 10),
        owner_id=None,
        first_touch_at=None,
        last_touch_at=None,
        touch_count=0,
        decided_at=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def table(notices: list) -> list[tuple[str, str, str, datetime]]:
    return [(n.clock.value, n.kind.value, n.step, n.send_at) for n in notices]


def test_an_unclaimed_untouched_lead_owes_the_whole_ladder(policy: Policy) -> None:
    assert table(plan(lead(), policy)) == [
        ("claim", "reminder", "unclaimed", jst(24, 10, 15)),
        ("first_contact", "reminder", "30m", jst(24, 11, 30)),
        ("first_contact", "breach", "due", jst(24, 12)),
        ("decision", "reminder", "1d", jst(30, 10)),
        ("decision", "breach", "due", jst(1, 10, month=12)),
    ]


def test_who_hears_what(policy: Policy) -> None:
    by_key = {(n.clock, n.kind): n.audiences for n in plan(lead(), policy)}
    assert by_key[(Promise.CLAIM, NoticeKind.REMINDER)] == (Audience.CHANNEL,)
    assert by_key[(Promise.FIRST_CONTACT, NoticeKind.REMINDER)] == (Audience.OWNER,)
    assert by_key[(Promise.FIRST_CONTACT, NoticeKind.BREACH)] == (Audience.OWNER, Audience.MANAGERS)
    no_escalation = policy.model_copy(update={
        "reminders": policy.reminders.model_copy(update={"escalate_to_managers": False})
    })
    by_key = {(n.clock, n.kind): n.audiences for n in plan(lead(), no_escalation)}
    assert by_key[(Promise.DECISION, NoticeKind.BREACH)] == (Audience.OWNER,)


def test_friday_evening_hand_off_is_due_on_monday_or_after_a_holiday(policy: Policy) -> None:
    monday = plan(lead(posted_at=jst(27, 17, 30)), policy)
    fc = [n for n in monday if n.clock == Promise.FIRST_CONTACT]
    assert [(n.kind, n.send_at) for n in fc] == [
        (NoticeKind.REMINDER, jst(30, 10)), (NoticeKind.BREACH, jst(30, 10, 30))
    ]
    # Friday 20 Nov 17:30: Monday 23 Nov is a public holiday, so Tuesday 10:30.
    holiday = plan(lead(posted_at=jst(20, 17, 30), qualified_at=jst(20, 17)), policy)
    fc = [n for n in holiday if n.clock == Promise.FIRST_CONTACT]
    assert [n.send_at for n in fc] == [jst(24, 10), jst(24, 10, 30)]


def test_a_reminder_due_before_opening_waits_for_the_opening(policy: Policy) -> None:
    # Handed off Friday 16:20: due Monday 09:20, so "30 min before" is 08:50 -> 09:00.
    notices = plan(lead(posted_at=jst(27, 16, 20)), policy)
    (reminder,) = [n for n in notices if n.clock == Promise.FIRST_CONTACT and n.step == "30m"]
    assert reminder.deadline == jst(30, 9, 20)
    assert reminder.send_at == jst(30, 9)


def test_a_reminder_whose_deadline_comes_before_the_opening_goes_the_evening_before(
    policy: Policy,
) -> None:
    cal = policy.business_calendar
    # A deadline on Saturday 10:00 and a reminder planned for Saturday 08:00.
    assert _quiet(jst(28, 8), jst(28, 10), jst(20, 9), policy, cal) == jst(27, 17, 59)
    # Unless the lead did not exist yet on Friday evening: then as planned.
    assert _quiet(jst(28, 8), jst(28, 10), jst(28, 7), policy, cal) == jst(28, 8)


def test_breach_notices_wait_for_business_hours_but_keep_their_true_instant(
    policy: Policy,
) -> None:
    # Handed off on Saturday 28 Nov 10:00: the decision deadline is Saturday 5 Dec 10:00.
    notices = plan(lead(posted_at=jst(28, 10), qualified_at=jst(28, 9)), policy)
    (breach,) = [n for n in notices if n.clock == Promise.DECISION and n.kind == NoticeKind.BREACH]
    assert breach.deadline == jst(5, 10, month=12)
    assert breach.send_at == jst(7, 9, month=12)  # Monday morning


def test_a_hot_lead_has_its_own_first_contact_target(policy: Policy) -> None:
    fc = [n for n in plan(lead(tier="hot"), policy) if n.clock == Promise.FIRST_CONTACT]
    assert [n.send_at for n in fc] == [jst(24, 10, 30), jst(24, 11)]


def test_a_touch_makes_first_contact_reminders_moot_and_starts_follow_ups(
    policy: Policy,
) -> None:
    touched = lead(status=LeadStatus.WORKING, owner_id="U1", first_touch_at=jst(24, 11),
                   last_touch_at=jst(24, 11), touch_count=1)
    assert table(plan(touched, policy)) == [
        ("follow_up", "reminder", "touch2", jst(25, 11)),
        ("decision", "reminder", "1d", jst(30, 10)),
        ("decision", "breach", "due", jst(1, 10, month=12)),
    ]
    enough = replace(touched, touch_count=5, last_touch_at=jst(27, 16))
    assert Promise.FOLLOW_UP not in {n.clock for n in plan(enough, policy)}


def test_a_touch_after_the_deadline_keeps_the_breach(policy: Policy) -> None:
    late = lead(status=LeadStatus.WORKING, owner_id="U1", first_touch_at=jst(24, 13),
                last_touch_at=jst(24, 13), touch_count=1)
    fc = [n for n in plan(late, policy) if n.clock == Promise.FIRST_CONTACT]
    assert [(n.kind, n.send_at) for n in fc] == [(NoticeKind.BREACH, jst(24, 12))]


def test_claimed_leads_are_not_nudged_in_the_channel(policy: Policy) -> None:
    claimed = lead(status=LeadStatus.CLAIMED, owner_id="U1")
    assert Promise.CLAIM not in {n.clock for n in plan(claimed, policy)}


@pytest.mark.parametrize(
    ("decided_at", "breached"),
    [(jst(30, 15), False), (jst(1, 11, month=12), True)],
)
def test_a_decision_closes_the_clocks(
    policy: Policy, decided_at: datetime, breached: bool
) -> None:
    decided = lead(status=LeadStatus.CONVERTED, owner_id="U1", first_touch_at=jst(24, 11),
                   last_touch_at=jst(24, 11), touch_count=1, decided_at=decided_at)
    notices = plan(decided, policy)
    assert all(n.kind == NoticeKind.BREACH for n in notices)
    assert (Promise.DECISION in {n.clock for n in notices}) is breached


def test_a_late_hand_off_is_a_breach_for_marketing(policy: Policy) -> None:
    late = plan(lead(qualified_at=jst(22, 9)), policy)
    (handoff,) = [n for n in late if n.clock == Promise.HANDOFF]
    assert (handoff.kind, handoff.deadline, handoff.audiences) == (
        NoticeKind.BREACH, jst(23, 9), (Audience.MARKETING,)
    )
    still_queued = lead(status=LeadStatus.QUEUED, posted_at=None, qualified_at=jst(22, 9))
    assert [n.clock for n in plan(still_queued, policy)] == [Promise.HANDOFF]
    on_time = plan(lead(), policy)
    assert Promise.HANDOFF not in {n.clock for n in on_time}


def test_a_snooze_reminds_again_but_never_after_the_deadline(policy: Policy) -> None:
    snoozed = lead(status=LeadStatus.CLAIMED, owner_id="U1", snoozes=(
        Snooze(Promise.FIRST_CONTACT, jst(24, 11, 45)),
        Snooze(Promise.FIRST_CONTACT, jst(24, 14)),
    ))
    reminders = [n for n in plan(snoozed, policy)
                 if n.clock == Promise.FIRST_CONTACT and n.kind == NoticeKind.REMINDER]
    assert [n.send_at for n in reminders] == [jst(24, 11, 30), jst(24, 11, 45), jst(24, 12)]


def test_after_downtime_only_the_latest_reminder_per_clock_goes_and_breaches_all_go(
    policy: Policy,
) -> None:
    ladder = policy.model_copy(update={
        "reminders": policy.reminders.model_copy(update={"first_contact_before_minutes": (60, 30)})
    })
    notices = plan(lead(status=LeadStatus.CLAIMED, owner_id="U1"), ladder)
    send, skip = due_now(notices, jst(24, 11, 45), handled=set())
    assert [(n.clock, n.step) for n in send] == [(Promise.FIRST_CONTACT, "30m")]
    assert [n.step for n in skip] == ["60m"]
    # Once the deadline lapsed too, the breach supersedes every reminder of its clock.
    send, skip = due_now(notices, jst(24, 12, 5), handled=set())
    assert [(n.clock, n.kind) for n in send] == [(Promise.FIRST_CONTACT, NoticeKind.BREACH)]
    assert [n.step for n in skip] == ["60m", "30m"]
    # What was handled is not due again; nothing is due before its time.
    handled = {n.key for n in send + skip}
    assert due_now(notices, jst(24, 12, 5), handled) == ([], [])
    assert due_now(notices, jst(24, 10, 59), set()) == ([], [])


def test_keys_are_stable_and_distinct(policy: Policy) -> None:
    first = plan(lead(), policy)
    again = plan(lead(), policy)
    assert [n.key for n in first] == [n.key for n in again]
    assert len({n.key for n in first}) == len(first)
    moved = plan(lead(posted_at=jst(24, 10) + timedelta(minutes=1)), policy)
    assert {n.key for n in moved}.isdisjoint({n.key for n in first})


def test_a_ladder_by_share_of_the_window(policy: Policy) -> None:
    """"At 50 %, 30 min before, at breach": half of 2 business hours from Friday 17:30 is
    Monday 09:30 (30 min on Friday, 30 on Monday)."""
    ladder = policy.model_copy(update={
        "reminders": policy.reminders.model_copy(update={"first_contact_at_percent": (50,)})
    })
    notices = plan(lead(posted_at=jst(27, 17, 30)), ladder)
    fc = [(n.kind, n.step, n.send_at) for n in notices if n.clock == Promise.FIRST_CONTACT]
    assert fc == [
        (NoticeKind.REMINDER, "50%", jst(30, 9, 30)),
        (NoticeKind.REMINDER, "30m", jst(30, 10)),
        (NoticeKind.BREACH, "due", jst(30, 10, 30)),
    ]
