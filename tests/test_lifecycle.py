"""The lead lifecycle: legal paths, illegal transitions, and the event every step writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.errors import IllegalTransition
from bot.event_kind import EVENT_KINDS, Fact
from bot.i18n import Translator
from bot.lifecycle import (
    OUTCOME_ACTIONS,
    SQL_STATUSES,
    TERMINAL,
    TRANSITIONS,
    Action,
    Surface,
    apply,
    next_status,
    record,
)
from storage.db import make_session_factory
from storage.models import Lead, LeadEvent, LeadStatus
from tests.harness.databases import Database

S = LeadStatus
T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def lead(status: LeadStatus = S.RECEIVED) -> Lead:
    return Lead(
        external_id="x",
        source="test",
        status=status,
        qualified_at=T0,
        received_at=T0,
        updated_at=T0,
        contact_name="n",
    )


@pytest.mark.parametrize(
    ("path", "final"),
    [
        ([Action.DISQUALIFY], S.NOT_QUALIFIED),
        ([Action.QUALIFY, Action.POST, Action.CLAIM, Action.TOUCH, Action.CONVERT], S.CONVERTED),
        ([Action.QUALIFY, Action.POST, Action.CLAIM, Action.RECYCLE], S.RECYCLED),
        ([Action.QUALIFY, Action.POST, Action.CLAIM, Action.TOUCH, Action.TOUCH], S.WORKING),
        ([Action.QUALIFY, Action.POST, Action.CLAIM, Action.RELEASE, Action.CLAIM], S.CLAIMED),
        ([Action.QUALIFY, Action.POST, Action.CLAIM, Action.REASSIGN], S.CLAIMED),
        ([Action.DISQUALIFY, Action.REQUALIFY, Action.POST], S.POSTED),
        ([Action.QUALIFY, Action.POST, Action.CLAIM, Action.CONVERT, Action.WIN], S.WON),
        ([Action.QUALIFY, Action.POST, Action.CLAIM, Action.CONVERT, Action.LOSE, Action.WIN],
         S.WON),
        ([Action.QUALIFY, Action.POST, Action.CLAIM, Action.CONVERT, Action.WIN, Action.LOSE],
         S.LOST),
        ([Action.QUALIFY, Action.POST, Action.CLAIM, Action.CONVERT, Action.LOSE,
          Action.REOPEN], S.CONVERTED),
    ],
    ids=["not-qualified", "converted", "recycled", "working", "released", "reassigned",
         "requalified", "won", "lost-then-won", "won-then-lost", "reopened"],
)
def test_legal_paths(path: list[Action], final: LeadStatus) -> None:
    item = lead()
    for step, action in enumerate(path):
        apply(item, action, at=T0 + timedelta(minutes=step), surface=Surface.SYSTEM, actor="U1")
    assert item.status == final
    assert [e.kind for e in item.events] == [a.value for a in path]
    assert item.events[-1].to_status == final.value
    assert item.updated_at == T0 + timedelta(minutes=len(path) - 1)


ALL_PAIRS = [(status, action) for status in S for action in Action]


@pytest.mark.parametrize(("status", "action"), ALL_PAIRS, ids=lambda v: str(v))
def test_every_pair_is_either_a_transition_or_refused(status: S, action: Action) -> None:
    item = lead(status)
    if status in TRANSITIONS[action]:
        apply(item, action, at=T0, surface=Surface.SYSTEM)
        assert item.status == TRANSITIONS[action][status]
        assert len(item.events) == 1
    else:
        with pytest.raises(IllegalTransition):
            apply(item, action, at=T0, surface=Surface.SYSTEM)
        assert item.status == status, "a refused transition must not change the lead"
        assert item.events == []


def test_decided_leads_only_move_by_a_deal_outcome_between_sql_states() -> None:
    assert S.RECYCLED in TERMINAL and SQL_STATUSES < TERMINAL
    for terminal in TERMINAL:
        ways_out = [a for a in Action if terminal in TRANSITIONS[a]]
        assert set(ways_out) == (OUTCOME_ACTIONS if terminal in SQL_STATUSES else set())
    for action in OUTCOME_ACTIONS:
        assert set(TRANSITIONS[action]) == SQL_STATUSES
        assert set(TRANSITIONS[action].values()) <= SQL_STATUSES


def test_a_lead_that_never_became_an_sql_has_no_outcome() -> None:
    for status in set(S) - SQL_STATUSES:
        for action in OUTCOME_ACTIONS:
            with pytest.raises(IllegalTransition):
                next_status(status, action)


def test_illegal_transition_says_what_and_where() -> None:
    with pytest.raises(IllegalTransition) as info:
        next_status(S.CONVERTED, Action.RECYCLE)
    assert info.value.params == {"action": "recycle", "status": "converted"}


def test_events_are_persisted_with_the_lead(db: Database) -> None:
    factory = make_session_factory(db.engine)
    with factory() as session:
        item = lead()
        session.add(item)
        apply(item, Action.QUALIFY, at=T0, surface=Surface.WEBHOOK, data={"version": "v1"})
        record(item, Fact.SNOOZE, at=T0 + timedelta(hours=1), surface=Surface.BUTTON)
        session.commit()
    with factory() as session:
        events = session.scalars(select(LeadEvent).order_by(LeadEvent.id)).all()
        assert [(e.kind, e.from_status, e.to_status, e.surface, e.data) for e in events] == [
            ("qualify", "received", "queued", "webhook", {"version": "v1"}),
            ("snooze", None, None, "button", {}),
        ]
        assert session.scalars(select(Lead)).one().status == S.QUEUED


def test_a_fact_never_shares_a_transition_s_kind() -> None:
    """One column holds both: a fact named like a transition would be counted as one."""
    assert not {action.value for action in Action} & {fact.value for fact in Fact}
    assert len(EVENT_KINDS) == len(Action) + len(Fact)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_every_event_kind_has_a_name_in_the_details_timeline(language: str) -> None:
    """No raw kind reaches a person: the Details timeline names each one in both languages."""
    t = Translator(language)
    unnamed = [kind.value for kind in EVENT_KINDS
               if t(f"details.event.{kind.value}") == f"details.event.{kind.value}"]
    assert unnamed == []
