"""The real bot wired to the fake Slack: its services, its outbox worker, the bot serving HTTP,
and ``Env`` — all of them together, with signed button presses, for end-to-end tests."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.ids import Action, Command
from bot.outbox.worker import OutboxWorker
from bot.policy import Policy
from bot.services import Services, build_services
from bot.user_agent import slack_client
from handlers.server import BotServer
from storage.models import Lead, LeadEvent, LeadStatus, OutboxMessage
from tests.harness import FakeSlack, HttpResponse, SlackRequests
from tests.harness.databases import Database
from tests.harness.leads import lead_row, queue
from tests.harness.people import CHANNEL, REP1
from tests.harness.racing import race
from tests.harness.settings import BOT_TOKEN, SIGNING_SECRET, make_settings
from tests.harness.waiting import eventually

#: the buttons of an owned lead, in the order the message shows them
OWNER_ACTIONS = [a.value for a in (Action.LOG_TOUCH, Action.CONVERT, Action.RECYCLE,
                                   Action.RELEASE, Action.REASSIGN, Action.DETAILS)]


def make_services(
    fake_slack: FakeSlack, database: Database, policy: Policy, clock: ManualClock
) -> Services:
    settings = make_settings(fake_slack, database.url)
    slack = slack_client(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5)
    return build_services(settings, policy, clock, engine=database.engine, slack=slack)


def make_worker(
    services: Services, clock: ManualClock, fake: FakeSlack, timeout: float = 5
) -> OutboxWorker:
    """The real outbox worker; its pacing waits move the injected clock instead of sleeping."""
    client = slack_client(token=BOT_TOKEN, base_url=fake.base_url, timeout=timeout,
                       retry_handlers=[])
    return OutboxWorker(
        services,
        client=client,
        sleep=lambda seconds: clock.advance(timedelta(seconds=seconds)),
        rng=random.Random(7),
    )


def drain_together(workers: list[OutboxWorker], batch: int = 3) -> list[BaseException]:
    """Each worker in its own thread, released at once (a barrier) to take ``batch`` rows at a
    time until none is left, as replicas would: what they raised (empty when none did)."""

    def drain(worker: OutboxWorker) -> None:
        while worker.run_once(limit=batch):
            pass

    return race([partial(drain, worker) for worker in workers]).errors


def start_bot(services: Services) -> BotServer:
    """The real bot serving HTTP on 127.0.0.1 (a free port).

    Scheduler and outbox worker are off: tests run them by hand with the injected clock.
    """
    server = BotServer(
        services,
        host="127.0.0.1",
        port=0,
        start_scheduler=False,
        start_worker=False,
    )
    return server.start()


@dataclass
class Env:
    services: Services
    bot: BotServer
    slack: SlackRequests
    fake: FakeSlack
    clock: ManualClock
    worker: OutboxWorker

    def __enter__(self) -> Env:
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop the bot (it was started by ``start``)."""
        self.bot.stop()

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

    def command(self, command: Command, user: str, text: str = "") -> dict[str, Any]:
        """Send the slash ``command`` with ``text`` as ``user``: the one answer its response
        URL got (each call has a response URL of its own)."""
        name = f"{command.value}-{user}-{len(self.fake.calls_to('response_url'))}"
        url = self.fake.response_url(name, user=user)
        response = self.slack.slash_command(command.value, text, user_id=user, response_url=url)
        assert response.status == 200

        def answered() -> list[dict[str, Any]]:
            return [c.args for c in self.fake.calls_to("response_url")
                    if c.args.get("_name") == name]

        eventually(lambda: len(answered()) == 1)
        (answer,) = answered()
        return answer

    def press_answered(self, action: Action, lead_id: int, ts: str, user: str,
                       name: str) -> list[str]:
        """Press ``action`` as ``user`` and wait for the one answer to its response URL (the
        listener answers after the ack): the texts it got."""
        assert self.press(action, lead_id, ts, user, name).status == 200
        eventually(lambda: len(self.answers(name)) == 1)
        return self.answers(name)

    def lead(self, lead_id: int) -> Lead:
        return lead_row(self.services, lead_id)

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


def start(fake: FakeSlack, database: Database, policy: Policy, clock: ManualClock) -> Env:
    """The bot serving HTTP with ``policy``; the caller stops ``env.bot`` (or leaves a
    ``with`` block on ``env``)."""
    services = make_services(fake, database, policy, clock)
    server = start_bot(services)
    slack = SlackRequests(f"{server.url}/slack/events", SIGNING_SECRET)
    return Env(services, server, slack, fake, clock, make_worker(services, clock, fake))


def claim_by(env: Env, lead_id: int, ts: str, user: str) -> None:
    """A winning press, waited for until its outbox rows exist, then delivered."""
    before = env.outbox_count(lead_id)
    assert env.press(Action.CLAIM, lead_id, ts, user, f"claim-{user}").status == 200
    eventually(lambda: env.outbox_count(lead_id) >= before + 3)
    env.drain()


def claimed(env: Env, external_id: str = "hubspot-20391", rep: str = REP1) -> tuple[int, str]:
    """A lead handed off and claimed by ``rep``: its id and message ts."""
    lead_id, ts = env.posted(external_id)
    claim_by(env, lead_id, ts, rep)
    return lead_id, ts


def errors_of(response: HttpResponse) -> dict[str, str]:
    """The errors a modal submission was answered with (it stays open)."""
    assert response.status == 200
    body = response.json()
    assert body["response_action"] == "errors"
    return body["errors"]
