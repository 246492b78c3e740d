"""Claim and Release, end to end: signed button presses to the running bot, the real outbox
worker run by hand, the fake Slack showing what people would see.

The race is the point: however many reps press Claim at once, on SQLite and PostgreSQL, one
of them owns the lead, gets one DM, and everyone else is told who has it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from threading import Barrier, Thread
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.ids import Action
from bot.policy import Policy
from storage.models import Lead, LeadStatus
from tests.harness import FakeSlack
from tests.harness.blocks import action_ids, shown
from tests.harness.bot_env import OWNER_ACTIONS, Env, claim_by, make_services, make_worker, start
from tests.harness.databases import Database
from tests.harness.leads import queue
from tests.harness.people import CHANNEL, MANAGER, MARKETER, REP1, REP2
from tests.harness.policies import with_reps
from tests.harness.waiting import eventually

RACERS = [f"U0000RACE{i}" for i in range(10)]
ROUNDS = 50


@pytest.fixture
def race_env(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> Iterator[Env]:
    """A bot per database kind whose policy has ten reps."""
    running = start(fake_slack, db, with_reps(policy, reps=RACERS), clock)
    yield running
    running.bot.stop()


# ---------------------------------------------------------------------------- claim


def test_claim_updates_the_message_in_place_replies_in_thread_and_dms_the_rep(env: Env) -> None:
    lead_id, ts = env.posted()
    claim_by(env, lead_id, ts, REP1)

    (message,) = env.fake.messages(CHANNEL)  # updated, not posted again
    assert message["ts"] == ts and "edited" in message
    assert f"<@{REP1}>" in shown(message)
    assert action_ids(message) == OWNER_ACTIONS
    assert len(env.fake.calls_to("chat.update")) == 1
    (reply,) = env.fake.thread(CHANNEL, ts)
    assert reply["text"] == env.services.t("claim.thread", owner=f"<@{REP1}>")
    (dm,) = env.fake.dms(REP1)
    assert "Sato Hanako" in dm["text"] and "Sato Hanako" in shown(dm)

    lead = env.lead(lead_id)
    assert (lead.status, lead.owner_id) == (LeadStatus.CLAIMED, REP1)
    assert lead.claimed_at == env.events(lead_id, "claim")[0].at
    (event,) = env.events(lead_id, "claim")
    assert (event.actor, event.surface, event.from_status, event.to_status) == (
        REP1, "button", "posted", "claimed"
    )


def test_pressing_twice_changes_nothing(env: Env) -> None:
    lead_id, ts = env.posted()
    claim_by(env, lead_id, ts, REP1)
    rows = env.outbox_count(lead_id)

    assert env.press(Action.CLAIM, lead_id, ts, REP1, "again").status == 200
    eventually(lambda: len(env.answers("again")) == 1)
    env.drain()
    assert env.answers("again") == [env.services.t("claim.already_yours")]
    assert env.outbox_count(lead_id) == rows
    assert len(env.events(lead_id, "claim")) == 1
    assert len(env.fake.dms(REP1)) == 1


def test_the_second_rep_is_told_who_has_it(env: Env) -> None:
    lead_id, ts = env.posted()
    claim_by(env, lead_id, ts, REP1)
    assert env.press_answered(Action.CLAIM, lead_id, ts, REP2, "late") == (
        [env.services.t("claim.taken", owner=f"<@{REP1}>")])
    assert env.fake.ephemerals[-1]["user"] == REP2
    assert env.lead(lead_id).owner_id == REP1


def test_a_non_rep_is_refused_and_nothing_changes(env: Env) -> None:
    lead_id, ts = env.posted()
    rows = env.outbox_count(lead_id)
    assert env.press_answered(Action.CLAIM, lead_id, ts, MARKETER, "marketer") == (
        [env.services.t("error.not_a_rep")])
    lead = env.lead(lead_id)
    assert (lead.status, lead.owner_id) == (LeadStatus.POSTED, None)
    assert env.outbox_count(lead_id) == rows and env.events(lead_id, "claim") == []


def test_a_forged_button_value_is_refused(env: Env) -> None:
    lead_id, ts = env.posted()
    env.slack.block_action(Action.CLAIM.value, "999; drop", user_id=REP1, channel_id=CHANNEL,
                           message_ts=ts, response_url=env.fake.response_url("forged"))
    eventually(lambda: len(env.answers("forged")) == 1)
    assert env.answers("forged") == [env.services.t("error.not_found")]
    assert env.lead(lead_id).owner_id is None


def test_open_lead_cap_refuses_with_the_reason(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> None:
    capped = start(fake_slack, sqlite_db, with_reps(policy, max_open=1), clock)
    try:
        first, first_ts = capped.posted("cap-1")
        second, second_ts = capped.posted("cap-2")
        claim_by(capped, first, first_ts, REP1)
        assert capped.press_answered(Action.CLAIM, second, second_ts, REP1, "over") == [
            capped.services.t("error.open_lead_limit", count=1, limit=1)
        ]
        assert capped.lead(second).owner_id is None
        claim_by(capped, second, second_ts, REP2)  # another rep is still welcome
        assert capped.lead(second).owner_id == REP2
    finally:
        capped.bot.stop()


# --------------------------------------------------------------------------- release


def test_the_owner_releases_and_the_claim_button_returns(env: Env) -> None:
    lead_id, ts = env.posted()
    claim_by(env, lead_id, ts, REP1)
    env.press(Action.RELEASE, lead_id, ts, REP1, "release")
    eventually(lambda: env.lead(lead_id).status == LeadStatus.POSTED)
    env.drain()

    (message,) = env.fake.messages(CHANNEL)
    assert action_ids(message) == [Action.CLAIM.value, Action.DETAILS.value]
    assert env.services.t("handoff.released", user=f"<@{REP1}>") in shown(message)
    replies = [r["text"] for r in env.fake.thread(CHANNEL, ts)]
    assert replies[-1] == env.services.t("release.thread", user=f"<@{REP1}>")
    lead = env.lead(lead_id)
    assert (lead.owner_id, lead.claimed_at) == (None, None)
    (event,) = env.events(lead_id, "release")
    assert event.data == {"previous_owner": REP1}

    claim_by(env, lead_id, ts, REP2)  # claimable again, by anyone
    assert env.lead(lead_id).owner_id == REP2
    assert action_ids(env.fake.messages(CHANNEL)[0]) == OWNER_ACTIONS


def test_another_rep_may_not_release_but_a_manager_may(env: Env) -> None:
    lead_id, ts = env.posted()
    claim_by(env, lead_id, ts, REP1)
    assert env.press_answered(Action.RELEASE, lead_id, ts, REP2, "stranger") == (
        [env.services.t("error.not_allowed")])
    assert env.lead(lead_id).owner_id == REP1

    assert env.press(Action.RELEASE, lead_id, ts, MANAGER, "manager").status == 200
    eventually(lambda: env.lead(lead_id).status == LeadStatus.POSTED)
    (event,) = env.events(lead_id, "release")
    assert (event.actor, event.data["previous_owner"]) == (MANAGER, REP1)


def test_releasing_an_unclaimed_lead_is_refused(env: Env) -> None:
    lead_id, ts = env.posted()
    assert env.press_answered(Action.RELEASE, lead_id, ts, MANAGER, "early") == [
        env.services.t("error.illegal_transition", status="posted")
    ]
    assert env.events(lead_id, "release") == []


# ------------------------------------------------------------------------------ race


def press_at_once(env: Env, lead_id: int, ts: str, name: str) -> list[int]:
    """Every racer presses Claim at the same moment, each with its own signed request."""
    barrier = Barrier(len(RACERS))
    statuses: list[int] = []

    def press(user: str, i: int) -> None:
        barrier.wait()
        statuses.append(env.press(Action.CLAIM, lead_id, ts, user, f"{name}{i}").status)

    threads = [Thread(target=press, args=(user, i)) for i, user in enumerate(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_ten_reps_pressing_at_once_make_exactly_one_owner(race_env: Env) -> None:
    env, t = race_env, race_env.services.t
    started = time.monotonic()
    for round_ in range(ROUNDS):
        lead_id, ts = env.posted(f"race-{round_}")
        posts_before = len(env.fake.calls_to("chat.postMessage"))
        updates_before = len(env.fake.calls_to("chat.update"))
        statuses = press_at_once(env, lead_id, ts, f"r{round_}-")
        assert statuses == [200] * len(RACERS)
        eventually(lambda round_=round_: len(env.answers(f"r{round_}-")) == len(RACERS) - 1)
        env.drain()

        lead = env.lead(lead_id)
        winner = lead.owner_id
        assert winner in RACERS and lead.status == LeadStatus.CLAIMED
        assert len(env.events(lead_id, "claim")) == 1
        assert sorted(env.answers(f"r{round_}-")) == [
            t("claim.taken", owner=f"<@{winner}>")
        ] * (len(RACERS) - 1)
        new_posts = env.fake.calls_to("chat.postMessage")[posts_before:]
        assert [c.args["channel"] for c in new_posts if c.args["channel"] != CHANNEL] == [winner]
        assert len(env.fake.calls_to("chat.update")) - updates_before == 1
        assert len(env.fake.thread(CHANNEL, ts)) == 1
    assert time.monotonic() - started < 60


def test_the_open_lead_cap_holds_when_one_rep_claims_many_leads_at_once(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    from bot.errors import OpenLeadLimit
    from bot.lifecycle import Surface
    from bot.workflow import ClaimOutcome, claim

    services = make_services(fake_slack, db, with_reps(policy, max_open=3), clock)
    worker = make_worker(services, clock, fake_slack)
    leads = [queue(services, f"many-{i}") for i in range(10)]
    while worker.run_once():
        pass
    barrier = Barrier(len(leads))
    won: list[int] = []
    refused: list[int] = []

    def press(lead_id: int) -> None:
        barrier.wait()
        try:
            if claim(services, lead_id, REP1, surface=Surface.BUTTON).outcome == ClaimOutcome.WON:
                won.append(lead_id)
        except OpenLeadLimit:
            refused.append(lead_id)

    threads = [Thread(target=press, args=(lead_id,)) for lead_id in leads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(won), len(refused)) == (3, 7)
    with services.unit_of_work() as uow:
        owned = uow.session.scalar(select(func.count()).select_from(Lead).where(
            Lead.owner_id == REP1))
    assert owned == 3


def test_a_refusal_on_the_app_home_is_told_by_dm(env: Env) -> None:
    """A click on the Home tab has no response_url: the refusal comes as a DM instead."""
    lead_id, ts = env.posted()
    claim_by(env, lead_id, ts, REP1)
    answer = env.slack.block_action(Action.CONVERT.value, str(lead_id), user_id=REP2,
                                    container_type="view", view={"type": "home"})
    assert answer.status == 200
    eventually(lambda: bool(_drained_dms(env, REP2)))
    assert _drained_dms(env, REP2)[-1]["text"] == env.services.t("error.not_allowed")


def _drained_dms(env: Env, user: str) -> list[dict[str, Any]]:
    env.drain()
    return env.fake.dms(user)
