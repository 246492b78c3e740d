"""SPEC 9 across real processes: two `sla-bot run` on one database; an approval made while
they run switches both within a sweep, without a restart, and a restart with the old policy
file keeps the approved agreement."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import Engine

from bot.agreement.proposals import propose
from bot.clock import SystemClock
from bot.policy import load_policy
from bot.services import build_services
from storage import migrate
from storage.db import make_engine
from tests.harness import FakeSlack
from tests.harness.agreements import (
    MARKETING_APPROVER,
    SALES_APPROVER,
    approve,
    in_effect_rows,
    versions,
)
from tests.harness.bot_process import BotProcess, bot_environment
from tests.harness.databases import PG_URL, postgresql_schema
from tests.harness.policies import configured_policy
from tests.harness.settings import BOT_TOKEN, SIGNING_SECRET, make_settings
from tests.harness.waiting import eventually

SWEEP_SECONDS = 1
SWITCHED = "agreement v2 in effect in this process"


@dataclass
class SharedDatabase:
    url: str  # what the bot processes are given
    engine: Engine


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SharedDatabase]:
    """One database for several processes; on PostgreSQL a schema of its own, named in the
    URL (the processes build their own engines from it)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        yield SharedDatabase(url, engine)
        engine.dispose()
        return
    with postgresql_schema() as schema:
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            yield SharedDatabase(url, engine)
        finally:
            engine.dispose()


class Bot(BotProcess):
    """One `sla-bot run` process, its output kept in a file the test reads."""

    def __init__(self, name: str, env: dict[str, str], tmp_path: Path) -> None:
        self.log_path = tmp_path / f"{name}.log"
        self._log: IO[str] = self.log_path.open("w", encoding="utf-8")
        super().__init__(env, cwd=tmp_path, output=self._log)

    @property
    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def started(self) -> None:
        """Serving within 30 s, or the test fails with what it logged."""
        eventually(self.serving, 30, every=0.05, context=logs_of(self))

    def stop(self, timeout: float = 20) -> str:
        written = super().stop(timeout)
        self._log.close()
        return written


def logs_of(*bots: Bot) -> Callable[[], str]:
    """What the bot processes logged: the explanation when they do not get there in time."""
    return lambda: "\n".join(f"--- {b.log_path.name}\n{b.output}" for b in bots)


def test_two_running_bots_switch_to_an_approved_agreement_and_a_restart_keeps_it(
    tmp_path: Path, fake_slack: FakeSlack, shared_db: SharedDatabase
) -> None:
    base = configured_policy(tmp_path).read_text(encoding="utf-8")
    assert "sweep_interval_seconds = 30" in base
    policy_text = base.replace("sweep_interval_seconds = 30",
                               f"sweep_interval_seconds = {SWEEP_SECONDS}") + (
        f'\n[governance]\nmarketing_approvers = ["{MARKETING_APPROVER}"]\n'
        f'sales_approvers = ["{SALES_APPROVER}"]\n')
    old_file, new_file = tmp_path / "sla.toml", tmp_path / "proposal.toml"
    old_file.write_text(policy_text, encoding="utf-8")
    new_file.write_text(policy_text.replace("first_contact_business_hours = 2",
                                            "first_contact_business_hours = 1", 1),
                        encoding="utf-8")
    env = bot_environment(fake_slack.base_url, shared_db.url, old_file, bot_token=BOT_TOKEN,
                          signing_secret=SIGNING_SECRET)
    services = build_services(make_settings(fake_slack, shared_db.url), load_policy(old_file),
                              SystemClock(), engine=shared_db.engine)
    bots = [Bot("a", env, tmp_path), Bot("b", env, tmp_path)]
    try:
        for bot in bots:
            bot.started()
        assert versions(services) == [(1, "active")]

        # both sides approve a proposal while the bots run
        propose(services, load_policy(new_file), proposer=SALES_APPROVER)
        now = services.clock.now()
        approve(services, 2, "marketing", MARKETING_APPROVER, now)
        approve(services, 2, "sales", SALES_APPROVER, now, effective_at=now)
        # one sweep interval, with room for a loaded machine; a bot that never switches (or
        # only on restart) fails here
        eventually(lambda: all(SWITCHED in b.output for b in bots), 10 * SWEEP_SECONDS,
                   every=0.05, context=logs_of(*bots))
        assert versions(services) == [(1, "superseded"), (2, "active")]
        assert sum("approved by both sides and now active" in b.output for b in bots) == 1
        assert len(in_effect_rows(services)) == 2  # once, to both channels
        def in_effect_posts() -> list[Any]:
            return [p for p in fake_slack.calls_to("chat.postMessage")
                    if "SLA合意書 第2版が発効しました" in p.args["text"]]

        eventually(lambda: len(in_effect_posts()) >= 2, 10, every=0.05, context=logs_of(*bots))
        assert len(in_effect_posts()) == 2  # once, to each channel

        # bot a restarts with the old file: it keeps v2, and the file becomes a proposal
        bots[0].stop()
        bots[0] = Bot("a-restarted", env, tmp_path)
        bots[0].started()
        assert ("differs from v2 in force and is not applied: recorded as proposal v3"
                in bots[0].output)
        assert "in effect in this process" not in bots[0].output  # it started on v2
    finally:
        for bot in bots:
            bot.stop()
    for bot in bots:
        assert bot.process.returncode == 0, bot.output
