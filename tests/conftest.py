"""Fixtures shared by the whole suite: databases, clock, fake Slack, a running bot.

The helpers behind them live in ``tests/harness/``; tests import those, and ask for these
fixtures by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.policy import Policy, load_policy
from bot.services import Services
from handlers.server import BotServer
from storage import migrate
from tests.harness import FakeSlack, SlackRequests
from tests.harness.adapters import HUBSPOT_TOKEN, BotFactory, vendor_services
from tests.harness.bot_env import Env, make_services, start, start_bot
from tests.harness.bot_process import PROXY_VARIABLES
from tests.harness.databases import Database, postgresql_database, sqlite_database
from tests.harness.fake_hubspot import FakeHubSpot
from tests.harness.held_roles import MANAGERS_GROUP
from tests.harness.outbound import Receiver
from tests.harness.people import MANAGER
from tests.harness.policies import EXAMPLE_POLICY
from tests.harness.settings import SIGNING_SECRET


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database of each kind (PostgreSQL skipped without TEST_DATABASE_URL)."""
    if request.param == "sqlite":
        yield from sqlite_database(tmp_path)
    else:
        yield from postgresql_database()


@pytest.fixture
def db(empty_db: Database) -> Database:
    """A database of each kind, migrated to the latest schema."""
    migrate.upgrade(empty_db.engine)
    return empty_db


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database, for tests that are not about storage."""
    for database in sqlite_database(tmp_path):
        migrate.upgrade(database.engine)
        yield database


@pytest.fixture
def clock() -> ManualClock:
    # A Tuesday morning in Tokyo: 2026-11-24 10:00 JST.
    return ManualClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))


@pytest.fixture
def policy() -> Policy:
    return load_policy(EXAMPLE_POLICY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per skip reason with its count, instead of one line per skipped test.

    Without ``TEST_DATABASE_URL`` every PostgreSQL variant skips for the same reason; listing
    each of them buried the failures.
    """
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        terminalreporter.section("skipped, by reason")
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
            terminalreporter.line(f"{count:5d}  {reason}")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk honours HTTP(S)_PROXY even for 127.0.0.1 (it ignores NO_PROXY)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """The fake Slack Web API on 127.0.0.1; fails the test if the fake itself crashed."""
    with FakeSlack() as fake:
        yield fake
    assert fake.errors == [], "the fake itself crashed:\n" + "\n".join(fake.errors)


@pytest.fixture
def services(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> Services:
    return make_services(fake_slack, sqlite_db, policy, clock)


@pytest.fixture
def bot(services: Services) -> Iterator[BotServer]:
    server = start_bot(services)
    yield server
    server.stop()


@pytest.fixture
def db_bot(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> Iterator[BotServer]:
    """The running bot on each database kind (PostgreSQL needs TEST_DATABASE_URL)."""
    server = start_bot(make_services(fake_slack, db, policy, clock))
    yield server
    server.stop()


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """For CLI tests: a clean working directory, a valid environment, a SQLite file."""
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_APP_TOKEN", "SLA_CONFIG", "PORT", "MIGRATE_ON_START", "SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-token-value")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-value")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    return tmp_path


@pytest.fixture
def slack(bot: BotServer) -> SlackRequests:
    """Signed requests to the running bot, as Slack would send them."""
    return SlackRequests(f"{bot.url}/slack/events", SIGNING_SECRET)


@pytest.fixture
def env(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> Iterator[Env]:
    """The running bot with the example policy, signed presses and the worker run by hand."""
    with start(fake_slack, sqlite_db, policy, clock) as running:
        yield running


@pytest.fixture
def any_env(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> Iterator[Env]:
    """The bot on each kind of database."""
    with start(fake_slack, db, policy, clock) as running:
        yield running


@pytest.fixture
def group_env(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> Iterator[Env]:
    """The bot on each kind of database, its managers a Slack user group."""
    roles = policy.roles.model_copy(update={"managers": MANAGERS_GROUP})
    fake_slack.set_usergroup(MANAGERS_GROUP, [MANAGER])
    with start(fake_slack, db, policy.model_copy(update={"roles": roles}), clock) as running:
        yield running


@pytest.fixture
def make_bot(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> Iterator[BotFactory]:
    """Start the real bot on each database kind, with adapter secrets (overridable)."""
    servers: list[BotServer] = []

    def start_vendor_bot(policy_override: Policy | None = None, **settings: Any) -> BotServer:
        services = vendor_services(fake_slack, db, policy_override or policy, clock, **settings)
        server = start_bot(services)
        servers.append(server)
        return server

    yield start_vendor_bot
    for server in servers:
        server.stop()


@pytest.fixture
def crm() -> Iterator[FakeHubSpot]:
    """HubSpot's CRM API stand-in on 127.0.0.1; fails the test if the fake itself failed."""
    fake = FakeHubSpot(HUBSPOT_TOKEN).start()
    yield fake
    fake.stop()
    assert fake.errors == []


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The MA tool's endpoint for the outbound webhook, on 127.0.0.1."""
    with Receiver() as server:
        yield server
