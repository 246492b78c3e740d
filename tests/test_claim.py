"""Claim and Release, end to end: signed button presses to the running bot, the real outbox
worker run by hand, the fake Slack showing what people would see.

The race is the point: however many reps press Claim at once, on SQLite and PostgreSQL, one
of them owns the lead, gets one DM, and everyone else is told who has it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from threading import Barrier, Thread
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.ids import Action
from bot.outbox import OutboxWorker
from bot.policy import Policy
from bot.services import Services
from handlers.server import BotServer
from storage.models import Lead, LeadEvent, LeadStatus, OutboxMessage
from tests.conftest import SIGNING_SECRET, Database, make_services, make_worker
from tests.harness import FakeSlack, SlackRequests
from tests.harness.slack_requests import HttpResponse
from tests.test_outbox import CHANNEL, queue

REP1, REP2, MANAGER, MARKETER = "U0000REP1", "U0000REP2", "U0000MGR1", "U0000MKT1"
RACERS = [f"U0000RACE{i}" for i in range(10)]
ROUNDS = 50


#: the buttons of an owned lead, in the order the message shows them
OWNER_ACTIONS = [a.value for a in (Action.LOG_TOUCH, Action.CONVERT, Action.RECYCLE,
                                   Action.RELEASE, Action.REASSIGN, Action.DETAILS)]

def with_roles(policy: Policy, *, reps: list[str] | None = None,
               max_open: int | None = None) -> Policy:
    """The example policy with more reps or an open-lead cap."""
    roles = policy.roles.model_copy(update={"reps": tuple(reps or policy.roles.reps)})
    agreement = policy.agreement.model_copy(update={"max_open_leads_per_rep": max_open})
    return policy.model_copy(update={"roles": roles, "agreement": agreement})


@dataclass
class Env:
    services: Services
    bot: BotServer
    slack: SlackRequests
    fake: FakeSlack
    clock: ManualClock
    worker: OutboxWorker

    def drain(self) -> None:
        """Run the outbox worker until nothing is due (its pacing moves the clock)."""
        for _ in range(100):
            if self.worker.run_once() == 0:
                return
        raise AssertionError("the outbox never drained")

    def posted(self, external_id: str = "hubspot-20391") -> tuple[int, str]:
        """A lead handed off to the channel: its id and message ts."""
        lead_id = queue(self.services, external_id)
        self.drain()
        lead = self.lead(lead_id)
        assert lead.status == LeadStatus.POSTED and lead.message_ts
        return lead_id, lead.message_ts

    def press(self, action: Action, lead_id: int, ts: str, user: str, name: str) -> HttpResponse:
        response_url = self.fake.response_url(name, channel=CHANNEL, message_ts=ts, user=user)
        return self.slack.block_action(
            action.value, str(lead_id), user_id=user, channel_id=CHANNEL, message_ts=ts,
            response_url=response_url,
        )

    def lead(self, lead_id: int) -> Lead:
        with self.services.unit_of_work() as uow:
            lead = uow.leads.get(lead_id)
            assert lead is not None
            uow.session.expunge(lead)
            return lead

    def events(self, lead_id: int, kind: str) -> list[LeadEvent]:
        with self.services.unit_of_work() as uow:
            rows = uow.session.scalars(
                select(LeadEvent).where(LeadEvent.lead_id == lead_id, LeadEvent.kind == kind)
            ).all()
            uow.session.expunge_all()
            return list(rows)

    def outbox_count(self, lead_id: int) -> int:
        with self.services.unit_of_work() as uow:
            return uow.session.scalar(
                select(func.count()).select_from(OutboxMessage)
                .where(OutboxMessage.lead_id == lead_id)
            ) or 0

    def answers(self, name: str) -> list[str]:
        """Texts posted to the response URLs whose name starts with ``name``."""
        return [c.args.get("text", "") for c in self.fake.calls_to("response_url")
                if str(c.args.get("_name", "")).startswith(name)]


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Listeners run after ``ack()``: wait for their effect instead of sleeping blindly."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def start(fake: FakeSlack, database: Database, policy: Policy, clock: ManualClock) -> Env:
    services = make_services(fake, database, policy, clock)
    server = BotServer(services, host="127.0.0.1", port=0, start_scheduler=False,
                       start_worker=False).start()
    slack = SlackRequests(f"{server.url}/slack/events", SIGNING_SECRET)
    return Env(services, server, slack, fake, clock, make_worker(services, clock, fake))


@pytest.fixture
def env(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> Iterator[Env]:
    running = start(fake_slack, sqlite_db, policy, clock)
    yield running
    running.bot.stop()


@pytest.fixture
def race_env(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> Iterator[Env]:
    """A bot per database kind whose policy has ten reps."""
    running = start(fake_slack, db, with_roles(policy, reps=RACERS), clock)
    yield running
    running.bot.stop()


def shown(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def action_ids(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions"
            for e in b["elements"]]


def claim_by(env: Env, lead_id: int, ts: str, user: str) -> None:
    """A winning press, waited for until its outbox rows exist, then delivered."""
    before = env.outbox_count(lead_id)
    assert env.press(Action.CLAIM, lead_id, ts, user, f"claim-{user}").status == 200
    eventually(lambda: env.outbox_count(lead_id) >= before + 3)
    env.drain()


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
    assert env.press(Action.CLAIM, lead_id, ts, REP2, "late").status == 200
    eventually(lambda: len(env.answers("late")) == 1)
    assert env.answers("late") == [env.services.t("claim.taken", owner=f"<@{REP1}>")]
    assert env.fake.ephemerals[-1]["user"] == REP2
    assert env.lead(lead_id).owner_id == REP1


def test_a_non_rep_is_refused_and_nothing_changes(env: Env) -> None:
    lead_id, ts = env.posted()
    rows = env.outbox_count(lead_id)
    assert env.press(Action.CLAIM, lead_id, ts, MARKETER, "marketer").status == 200
    eventually(lambda: len(env.answers("marketer")) == 1)
    assert env.answers("marketer") == [env.services.t("error.not_a_rep")]
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
    capped = start(fake_slack, sqlite_db, with_roles(policy, max_open=1), clock)
    try:
        first, first_ts = capped.posted("cap-1")
        second, second_ts = capped.posted("cap-2")
        claim_by(capped, first, first_ts, REP1)
        assert capped.press(Action.CLAIM, second, second_ts, REP1, "over").status == 200
        eventually(lambda: len(capped.answers("over")) == 1)
        assert capped.answers("over") == [
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
    assert env.press(Action.RELEASE, lead_id, ts, REP2, "stranger").status == 200
    eventually(lambda: len(env.answers("stranger")) == 1)
    assert env.answers("stranger") == [env.services.t("error.not_allowed")]
    assert env.lead(lead_id).owner_id == REP1

    assert env.press(Action.RELEASE, lead_id, ts, MANAGER, "manager").status == 200
    eventually(lambda: env.lead(lead_id).status == LeadStatus.POSTED)
    (event,) = env.events(lead_id, "release")
    assert (event.actor, event.data["previous_owner"]) == (MANAGER, REP1)


def test_releasing_an_unclaimed_lead_is_refused(env: Env) -> None:
    lead_id, ts = env.posted()
    assert env.press(Action.RELEASE, lead_id, ts, MANAGER, "early").status == 200
    eventually(lambda: len(env.answers("early")) == 1)
    assert env.answers("early") == [
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

    services = make_services(fake_slack, db, with_roles(policy, max_open=3), clock)
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
