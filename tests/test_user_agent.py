"""Outbound requests name the product and its version, never Python, the OS or its kernel.

slack_sdk's default ``User-Agent`` is ``Python/3.11.7 slackclient/3.48.0 Linux/<kernel>``; the
bot's own clients, built the way ``sla-bot run`` builds them, are checked against the fake
Slack, which records every request's headers. (The outbound webhook and the HubSpot fetch are
checked against their stand-ins in ``test_outbound.py`` and ``test_adapters_hubspot.py``.)
"""

from __future__ import annotations

import platform
import re
from datetime import timedelta
from importlib.metadata import version

from bot.clock import ManualClock
from bot.outbox.worker import OutboxWorker
from bot.policy import Policy
from bot.services import build_services
from bot.user_agent import USER_AGENT
from tests.harness import FakeSlack, SlackRequests
from tests.harness.bot_env import start_bot
from tests.harness.databases import Database
from tests.harness.digest_world import World, jst
from tests.harness.leads import queue
from tests.harness.settings import make_settings


def test_the_user_agent_is_the_product_and_its_version() -> None:
    assert f"sla-bot/{version('sla-handoff-bot')}" == USER_AGENT
    assert re.fullmatch(r"sla-bot/\d+\.\d+\.\d+", USER_AGENT)


def test_every_request_to_slack_names_only_the_product(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> None:
    # Built as ``sla-bot run`` builds them: the services' client and the worker's own.
    services = build_services(make_settings(fake_slack, sqlite_db.url), policy, clock,
                              engine=sqlite_db.engine)
    worker = OutboxWorker(services, sleep=lambda s: clock.advance(timedelta(seconds=s)))
    bot = start_bot(services)
    try:
        slack = SlackRequests(f"{bot.url}/slack/events", "test-signing-secret")
        # A listener answering through the response URL (Bolt's ``respond``)...
        assert slack.slash_command("/sla-status", "",
                                   response_url=fake_slack.response_url("ua")).status == 200
        fake_slack.wait_for("response_url")
        # ...one through the client Bolt builds for each request (a modal opened)...
        assert slack.slash_command("/mql", "", user_id="U0000MKT1", trigger_id="trig-ua",
                                   response_url=fake_slack.response_url("mql")).status == 200
        fake_slack.wait_for("views.open")
        # ...the outbox worker posting a handoff, and the services' client (after Bolt built
        # its per-request clients from it).
        queue(services)
        assert worker.run_once() >= 1
        services.slack.auth_test()
    finally:
        bot.stop()

    methods = {call.method for call in fake_slack.calls}
    assert {"response_url", "views.open", "chat.postMessage", "auth.test"} <= methods
    agents = [(call.method, call.headers.get("user-agent")) for call in fake_slack.calls]
    assert {agent for _method, agent in agents} == {USER_AGENT}, agents
    assert not any(platform.release() in str(agent) for _method, agent in agents)


def test_a_chart_upload_names_only_the_product(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy
) -> None:
    """The digest's chart bytes go to the upload URL Slack hands out, outside the SDK."""
    clock = ManualClock(jst(11, 24, 10))
    services = build_services(make_settings(fake_slack, sqlite_db.url), policy, clock,
                              engine=sqlite_db.engine)
    world = World(services, clock, fake_slack)
    world.busy_week()
    world.sweep_at(jst(11, 30, 9))
    (upload,) = fake_slack.calls_to("files.upload_url")
    assert upload.headers.get("user-agent") == USER_AGENT
