"""The per-lead facts the reports read (``leads.first_claimed_at``, ``leads.has_history``, the
business-time stamps of ``bot.timings`` and ``leads.first_breach_at``): written by the real
services in the transaction that makes them true, backfilled by the migration that adds them or
re-stamped at start, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from bot import timings
from bot.clock import ManualClock
from bot.deadlines import first_contact_due
from bot.ids import Action
from bot.intake import accept, parse_data
from bot.lifecycle import Surface
from bot.policy import Policy
from bot.reporting.metrics import scorecard
from bot.reporting.periods import month
from storage import migrate
from storage.models import Lead, LeadEvent
from storage.types import UTCDateTime
from tests.harness import FakeSlack
from tests.harness.adapters import BotFactory, envelope, leads, send
from tests.harness.bot_env import Env, claim_by, make_services
from tests.harness.databases import Database
from tests.harness.leads import spec_lead
from tests.harness.notices_world import World, jst
from tests.harness.people import REP1, REP2
from tests.harness.policies import with_auto_assign
from tests.harness.touch import form, submit
from tests.harness.waiting import eventually


@pytest.fixture
def env(any_env: Env) -> Env:
    """The bot on each kind of database."""
    return any_env


def test_release_and_reclaim_keep_the_first_claim_and_time_to_claim_counts_from_it(
    env: Env, policy: Policy
) -> None:
    lead_id, ts = env.posted()
    assert env.lead(lead_id).first_claimed_at is None
    env.clock.advance(timedelta(minutes=20))
    claim_by(env, lead_id, ts, REP1)
    first = env.lead(lead_id).first_claimed_at
    assert first is not None and first == env.events(lead_id, "claim")[0].at

    env.clock.advance(timedelta(hours=1))
    env.press(Action.RELEASE, lead_id, ts, REP1, "release")
    eventually(lambda: env.lead(lead_id).owner_id is None)
    env.drain()
    assert env.lead(lead_id).first_claimed_at == first
    env.clock.advance(timedelta(hours=1))
    claim_by(env, lead_id, ts, REP2)

    lead = env.lead(lead_id)
    assert lead.owner_id == REP2 and lead.claimed_at is not None and lead.claimed_at > first
    assert lead.first_claimed_at == first == min(e.at for e in env.events(lead_id, "claim"))
    # the report measures from the stored first claim, not the latest one
    assert lead.posted_at is not None
    card = scorecard(env.services, policy, month(2026, 11, policy.tz))
    expected = policy.business_calendar.between(lead.posted_at, first).total_seconds() / 60
    assert (card.time_to_claim.count, card.time_to_claim.median) == (1, expected)
    assert card.with_history == 1


def test_hand_off_claim_and_first_touch_stamp_their_business_time(
    env: Env, policy: Policy
) -> None:
    calendar = policy.business_calendar
    lead_id, ts = env.posted()
    lead = env.lead(lead_id)
    assert lead.posted_at is not None
    assert lead.first_contact_due_at == first_contact_due(lead, policy)
    assert (lead.claim_business_us, lead.contact_business_us) == (None, None)
    assert lead.timing_basis == timings.basis(policy)

    env.clock.advance(timedelta(minutes=20, seconds=7, microseconds=13))
    claim_by(env, lead_id, ts, REP1)
    lead = env.lead(lead_id)
    assert lead.first_claimed_at is not None
    claim = calendar.between(lead.posted_at, lead.first_claimed_at)
    assert lead.claim_business_us == claim // timedelta(microseconds=1) > 0

    env.clock.advance(timedelta(hours=3))  # past 18:00: the evening does not count
    assert submit(env, lead_id, REP1, form()).status == 200
    eventually(lambda: env.lead(lead_id).first_touch_at is not None)
    lead = env.lead(lead_id)
    assert lead.first_touch_at is not None
    contact = calendar.between(lead.posted_at, lead.first_touch_at)
    assert lead.contact_business_us == contact // timedelta(microseconds=1)
    assert timings.is_stamped(lead, timings.basis(policy))


def test_restamp_all_stamps_stale_leads_once(env: Env, policy: Policy) -> None:
    first, _ = env.posted("stale-1")
    second, ts = env.posted("stale-2")
    claim_by(env, second, ts, REP1)
    services = env.services
    with services.unit_of_work() as uow:
        uow.session.execute(sa.update(Lead).values(
            first_contact_due_at=None, claim_business_us=None, timing_basis="old"))
        uow.commit()
    assert timings.restamp_all(services) == 2
    for lead_id in (first, second):
        assert timings.is_stamped(env.lead(lead_id), timings.basis(policy))
    assert env.lead(second).claim_business_us is not None
    assert timings.restamp_all(services) == 0


def test_a_changed_calendar_changes_the_basis(policy: Policy) -> None:
    later = policy.model_copy(update={"calendar": policy.calendar.model_copy(
        update={"timezone": "Asia/Seoul"})})
    tiered = policy.model_copy(update={"agreement": policy.agreement.model_copy(
        update={"first_contact_business_hours": 3})})
    assert len({timings.basis(policy), timings.basis(later), timings.basis(tiered)}) == 3
    assert timings.basis(policy) == timings.basis(policy.model_copy())


@pytest.fixture
def world(fake_slack: FakeSlack, db: Database, policy: Policy) -> World:

    clock = ManualClock(jst(24, 10))
    return World(make_services(fake_slack, db, policy, clock), clock, fake_slack)


def test_auto_assignment_stores_the_first_claim(world: World) -> None:
    world.services.policy = with_auto_assign(world.services.policy)
    lead_id, _ = world.posted("auto-1")
    world.at(jst(24, 10, 59))
    assert world.lead(lead_id).first_claimed_at is None
    world.at(jst(24, 11, 1))
    lead = world.lead(lead_id)
    with world.services.unit_of_work() as uow:
        (event,) = uow.session.scalars(select(LeadEvent).where(
            LeadEvent.lead_id == lead_id, LeadEvent.kind == "claim"))
        assert event.data == {"auto": True}
        assert lead.owner_id is not None and lead.first_claimed_at == event.at


def test_a_breach_stores_the_earliest_breached_deadline(world: World) -> None:
    from bot.reporting.metrics import open_breaches
    from bot.workflow import claim

    lead_id, _ = world.posted("breach-1")
    claim(world.services, lead_id, REP1, surface=Surface.BUTTON)
    world.drain()
    world.at(jst(24, 11, 59))
    assert world.lead(lead_id).first_breach_at is None
    world.at(jst(24, 12, 1))  # the first-contact deadline lapsed at 12:00
    assert world.lead(lead_id).first_breach_at == jst(24, 12)
    world.at(jst(24, 12) + timedelta(days=8))  # the decision deadline lapses too
    assert len(world.breaches(lead_id)) == 2
    assert world.lead(lead_id).first_breach_at == jst(24, 12)
    (row,) = open_breaches(world.services, world.services.policy).rows
    assert (row.lead_id, row.first_breach_at, row.promises) == (
        lead_id, jst(24, 12), ("first_contact", "decision"))


def test_intake_stores_whether_the_lead_has_history(env: Env) -> None:
    services = env.services
    now = services.clock.now()
    with_history = accept(services, parse_data(spec_lead("with"), now=now),
                          surface=Surface.WEBHOOK)
    without = accept(services, parse_data(spec_lead("without", activities=[]), now=now),
                     surface=Surface.WEBHOOK)
    assert env.lead(with_history.lead_id).has_history is True
    assert env.lead(without.lead_id).has_history is False


def test_behaviour_added_by_a_vendor_event_sets_the_flag(make_bot: BotFactory) -> None:
    bot = make_bot()
    created = send(bot, envelope("mautic.lead_post_save_new"))
    assert created.json()["results"][0]["status"] == "not_qualified", created.body
    (lead,) = leads(bot.services)
    assert (lead.activities, lead.has_history) == ([], False)

    points = envelope("mautic.lead_points_change")
    event = points["mautic.lead_points_change"][0]
    event["contact"]["id"] = 52  # the person created above
    event["timestamp"] = "2026-11-24T00:40:00+00:00"
    event["points"] = {"old_points": 0, "new_points": 5}
    assert send(bot, points).json()["results"][0]["status"] == "not_qualified"
    (lead,) = leads(bot.services)
    assert [a.type for a in lead.activities] == ["points_change"] and lead.has_history is True


# ---------------------------------------------------------------------------- migration

T0 = datetime(2026, 11, 2, 1, 0, 30, 123456, tzinfo=UTC)
LEADS = sa.table(
    "leads", *(sa.column(n) for n in ("id", "external_id", "source", "status",
                                      "contact_name", "touch_count")),
    *(sa.column(n, UTCDateTime()) for n in ("qualified_at", "received_at", "updated_at")),
    *(sa.column(n, sa.JSON()) for n in ("extra", "qualification")),
)
EVENTS = sa.table("lead_events", sa.column("lead_id"), sa.column("at", UTCDateTime()),
                  sa.column("kind"), sa.column("surface"), sa.column("data", sa.JSON()))
ACTIVITIES = sa.table("activities", sa.column("lead_id"), sa.column("type"),
                      sa.column("at", UTCDateTime()), sa.column("extra", sa.JSON()))


def test_the_migration_backfills_the_facts_from_the_audit_trail(empty_db: Database) -> None:
    engine = empty_db.engine
    migrate.upgrade(engine, "0005")
    with engine.begin() as connection:
        connection.execute(sa.insert(LEADS), [
            {"id": i, "external_id": f"old-{i}", "source": "test", "status": "claimed",
             "contact_name": "x", "touch_count": 0, "qualified_at": T0, "received_at": T0,
             "updated_at": T0, "extra": {}, "qualification": {}} for i in (1, 2, 3)])
        connection.execute(sa.insert(EVENTS), [
            {"lead_id": lead_id, "at": T0 + timedelta(minutes=m), "kind": kind,
             "surface": "button", "data": {}}
            for lead_id, m, kind in [(1, 50, "claim"), (1, 30, "claim"), (1, 10, "post"),
                                     (1, 40, "release"), (2, 5, "post"), (2, 90, "breach"),
                                     (2, 70, "breach")]])
        connection.execute(sa.insert(ACTIVITIES), [
            {"lead_id": 2, "type": "page_view", "at": T0, "extra": {}},
            {"lead_id": 2, "type": "download", "at": T0, "extra": {}}])
    migrate.upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            select(Lead.id, Lead.first_claimed_at, Lead.has_history, Lead.first_breach_at,
                   Lead.timing_basis).order_by(Lead.id)).all()
        # adding the columns must not rebuild ``leads``: on SQLite that cascades to its children
        kept = [connection.scalar(select(sa.func.count()).select_from(t))
                for t in (EVENTS, ACTIVITIES)]
    assert kept == [7, 2]
    # the business-time stamps need the calendar: they are left for the start-up re-stamp
    assert [tuple(r) for r in rows] == [
        (1, T0 + timedelta(minutes=30), False, None, None),
        (2, None, True, T0 + timedelta(minutes=70), None),
        (3, None, False, None, None),
    ]


def test_the_basis_digests_kept_are_bounded(policy: Policy) -> None:
    """A long-running process meets a new policy object at each agreement change: the digests
    it remembers stay a few, and a forgotten one is computed again the same."""
    copies = [policy.model_copy() for _ in range(timings.BASES_KEPT * 3)]
    digests = {timings.basis(copy) for copy in copies}
    assert len(timings._BASES) <= timings.BASES_KEPT
    assert digests == {timings.basis(policy)} == {timings.basis(copies[0])}
