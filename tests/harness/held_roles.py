"""A window between a submission's role check and the write's own check: managers as a Slack
user group whose second lookup the fake Slack holds, so a test can change the lead meanwhile."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import select

from bot.roles import Directory
from bot.services import Services
from storage.models import OutboxMessage
from tests.harness.bot_env import Env
from tests.harness.people import MANAGER

MANAGERS_GROUP = "S0MANAGERS"


def refusal_keys(env: Env) -> list[str]:
    with env.services.unit_of_work() as uow:
        return list(uow.session.scalars(
            select(OutboxMessage.idempotency_key)
            .where(OutboxMessage.idempotency_key.like("refused:%"))
        ))


def hold_the_second_role_lookup(env: Env, seconds: float = 3.0) -> int:
    """Make the service's own role check (after the submission's check) wait on Slack.

    Managers are a user group looked up on every check (no cache), so the submission's
    check is answered at once and the write's check is held by the fake Slack: a window
    between the two in which the test changes the lead. Returns the lookups so far.
    """
    env.fake.set_usergroup(MANAGERS_GROUP, [MANAGER])
    env.services.directory = Directory(env.services.policy, env.services.slack, env.clock,
                                       cache_for=timedelta(0))
    before = len(env.fake.calls_to("usergroups.users.list"))
    env.fake.fail("usergroups.users.list", delay=0.0)  # the check: answered normally
    env.fake.fail("usergroups.users.list", delay=seconds)  # the write: held
    return before


def another_process(env: Env) -> Services:
    """The same bot's services as another process has them: its own role directory (the held
    lookup's per-group lock is this process's), the same database and Slack."""
    return dataclasses.replace(env.services)
