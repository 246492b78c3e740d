"""Fixtures shared by the whole suite: databases, clock, fake Slack, a running bot.

Databases are real: a SQLite file per test, and — when ``TEST_DATABASE_URL`` is set — a
PostgreSQL schema per test (dropped afterwards), so tests are isolated yet several connections
can race each other like bot processes do.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, text

from bot.clock import ManualClock
from bot.outbox import OutboxWorker
from bot.policy import Policy, load_policy
from bot.services import Services, build_services
from bot.settings import Settings
from bot.user_agent import slack_client
from handlers.server import BotServer
from storage import migrate
from storage.db import make_engine

if TYPE_CHECKING:
    from tests.harness import FakeSlack, SlackRequests

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_POLICY = ROOT / "sla.example.toml"
SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()


def configured_policy(directory: Path) -> Path:
    """``sla.example.toml`` with its example channel and member ids replaced, as an operator
    would have it: ``check-config`` refuses the examples' placeholder ids."""
    from bot.placeholders import CHANNEL_PLACEHOLDERS, MEMBER_PLACEHOLDERS

    text = EXAMPLE_POLICY.read_text(encoding="utf-8")
    for index, value in enumerate(sorted(CHANNEL_PLACEHOLDERS | MEMBER_PLACEHOLDERS)):
        text = text.replace(value, f"{value[0]}REAL{index:04d}")
    path = directory / "configured.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Database:
    kind: str
    url: str
    engine: Engine


def _sqlite(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'test.db'}"
    engine = make_engine(url)
    yield Database("sqlite", url, engine)
    engine.dispose()


def _postgresql() -> Iterator[Database]:
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield Database("postgresql", PG_URL, engine)
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database of each kind (PostgreSQL skipped without TEST_DATABASE_URL)."""
    if request.param == "sqlite":
        yield from _sqlite(tmp_path)
    else:
        yield from _postgresql()


@pytest.fixture
def db(empty_db: Database) -> Database:
    """A database of each kind, migrated to the latest schema."""
    migrate.upgrade(empty_db.engine)
    return empty_db


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database, for tests that are not about storage."""
    for database in _sqlite(tmp_path):
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
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """The fake Slack Web API on 127.0.0.1; fails the test if the fake itself crashed."""
    from tests.harness import FakeSlack

    fake = FakeSlack().start()
    try:
        yield fake
    finally:
        fake.stop()
    assert fake.errors == [], "the fake itself crashed:\n" + "\n".join(fake.errors)


def make_settings(fake_slack: FakeSlack, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "intake_token": "test-intake-token",
        "database_url": database_url,
        "slack_api_url": fake_slack.base_url,
        "port": 0,
        "host": "127.0.0.1",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


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


@pytest.fixture
def services(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> Services:
    return make_services(fake_slack, sqlite_db, policy, clock)


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


@pytest.fixture
def bot(services: Services) -> Iterator[BotServer]:
    server = start_bot(services)
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
    from tests.harness import SlackRequests

    return SlackRequests(f"{bot.url}/slack/events", SIGNING_SECRET)
