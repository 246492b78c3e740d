"""End to end: the real server, signed requests over HTTP, the fake Slack Web API."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.policy import Policy
from bot.services import Services
from handlers.server import BotServer
from storage import migrate
from storage.db import make_engine
from tests.harness import FakeSlack, SlackRequests, http_get, http_post
from tests.harness.bot_env import make_services
from tests.harness.bot_process import BotProcess, bot_environment
from tests.harness.databases import Database
from tests.harness.policies import EXAMPLE_POLICY
from tests.harness.settings import BOT_TOKEN, SIGNING_SECRET


def test_url_verification_and_a_slash_command_get_200(
    slack: SlackRequests, fake_slack: FakeSlack
) -> None:
    answer = slack.url_verification("abc123")
    assert answer.status == 200
    assert answer.json()["challenge"] == "abc123"

    response_url = fake_slack.response_url("status")
    answer = slack.slash_command("/sla-status", "", response_url=response_url)
    assert answer.status == 200
    (reply,) = fake_slack.wait_for("response_url")
    assert reply.args["response_type"] == "ephemeral"
    shown = str(reply.args["blocks"])
    assert "月間 MQL 目標: *100* 件" in shown  # the example policy speaks Japanese
    assert "2営業時間" in shown


@pytest.mark.parametrize(
    "tampering",
    ["unsigned", "tampered body", "wrong secret", "301 s old", "301 s ahead"],
)
def test_badly_signed_requests_get_401_and_run_nothing(
    slack: SlackRequests, fake_slack: FakeSlack, tampering: str
) -> None:
    now = int(time.time())
    body, content_type = slack_command_body(fake_slack)
    kwargs: dict[str, object] = {
        "unsigned": {"unsigned": True},
        "tampered body": {"tamper": True},
        "wrong secret": {"secret": "not-the-secret"},
        "301 s old": {"timestamp": now - 301},
        "301 s ahead": {"timestamp": now + 301},
    }[tampering]
    answer = slack.send(body, content_type, **kwargs)  # type: ignore[arg-type]
    assert answer.status == 401
    # The same request correctly signed is accepted, so the 401 is the signature's doing.
    assert slack.send(body, content_type).status == 200
    assert len(fake_slack.wait_for("response_url")) == 1


def slack_command_body(fake_slack: FakeSlack) -> tuple[str, str]:
    from urllib.parse import urlencode

    form = {
        "command": "/sla-status",
        "text": "",
        "user_id": "U0000REP1",
        "user_name": "rep1",
        "channel_id": "C0000SALES",
        "team_id": "T0001",
        "team_domain": "example",
        "response_url": fake_slack.response_url("signed"),
        "trigger_id": "trig-1",
        "api_app_id": "A0001",
        "token": "legacy",
    }
    return urlencode(form), "application/x-www-form-urlencoded"


def test_healthz_reports_the_database(bot: BotServer, tmp_path: Path) -> None:
    answer = http_get(f"{bot.url}/healthz")
    assert answer.status == 200
    assert answer.json() == {
        "status": "ok",
        "database": "ok",
        "outbox": {"pending": 0, "failed": 0, "recent_failures": []},
    }


def test_healthz_is_503_when_the_database_is_unreachable(
    fake_slack: FakeSlack, policy: Policy, clock: ManualClock, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/missing-dir/nothing.db"
    broken = Database("sqlite", url, make_engine(url))
    services = make_services(fake_slack, broken, policy, clock)
    with BotServer(
        services, host="127.0.0.1", port=0, start_scheduler=False, start_worker=False
    ) as server:
        answer = http_get(f"{server.url}/healthz")
    assert answer.status == 503
    assert answer.json()["database"] == "unreachable"


def test_unknown_paths_and_oversized_bodies_get_clear_errors(
    bot: BotServer, slack: SlackRequests
) -> None:
    assert http_get(f"{bot.url}/nope").status == 404
    assert http_get(f"{bot.url}/slack/events").status == 405
    huge = "x" * (1024 * 1024 + 1)
    answer = slack.send(huge, "application/x-www-form-urlencoded")
    assert answer.status == 413
    assert answer.json()["error"] == "body_too_large"


def test_stop_finishes_listeners_still_running_after_ack(
    services: Services, fake_slack: FakeSlack
) -> None:
    server = BotServer(
        services, host="127.0.0.1", port=0, start_scheduler=False, start_worker=False
    ).start()
    slack = SlackRequests(f"{server.url}/slack/events", SIGNING_SECRET)
    fake_slack.fail("response_url", delay=1.0)  # the listener is busy talking to Slack
    assert slack.slash_command("/sla-status", response_url=fake_slack.response_url()).status == 200
    assert fake_slack.calls_to("response_url") == []
    server.stop()
    assert len(fake_slack.calls_to("response_url")) == 1, "stop() returned before the listener"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_sla_bot_run_starts_migrates_serves_and_stops_on_sigterm(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    env = bot_environment(fake_slack.base_url, f"sqlite:///{tmp_path}/bot.db", EXAMPLE_POLICY,
                          bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
    bot = BotProcess(env, cwd=tmp_path, output=subprocess.PIPE)
    try:
        assert bot.wait_serving(30), "the bot did not answer /healthz"
        requests = SlackRequests(f"{bot.url}/slack/events", SIGNING_SECRET)
        assert requests.url_verification("ping").json()["challenge"] == "ping"
    finally:
        output = bot.stop(20)
    assert bot.process.returncode == 0, output
    assert "stopped" in output
    engine = make_engine(f"sqlite:///{tmp_path}/bot.db")
    assert migrate.current_revision(engine) == migrate.head_revision(), "run did not migrate"
    engine.dispose()


def test_webhook_path_for_unknown_methods_is_not_a_500(bot: BotServer) -> None:
    answer = http_post(f"{bot.url}/healthz", b"{}", {"Content-Type": "application/json"})
    assert answer.status == 405


def test_twenty_kept_alive_clients_all_keep_their_connections(bot: BotServer) -> None:
    """cheroot closed every answer beyond 10 idle kept-alive connections by default, so one
    request in four from 20 steady clients (Slack, an MA tool's burst) paid a new connection."""
    import http.client

    from handlers.http_server import ClientLimits

    clients = 20
    assert clients < ClientLimits().peer_connections
    connections = [http.client.HTTPConnection("127.0.0.1", bot.port, timeout=10)
                   for _ in range(clients)]
    try:
        for _round in range(2):  # the first round leaves all of them idle in the server
            for connection in connections:
                connection.request("GET", "/healthz")
                answer = connection.getresponse()
                answer.read()
                assert answer.status == 200
                assert answer.getheader("Connection") != "close"
        assert all(connection.sock is not None for connection in connections)
    finally:
        for connection in connections:
            connection.close()
