"""Snoozing a reminder from its DM: the owner hears again later, never after the deadline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.ids import Action
from bot.lifecycle import Surface
from bot.policy import Policy
from bot.reminders.sweep import sweep_notices
from bot.workflow import claim
from tests.harness import FakeSlack
from tests.harness.bot_env import Env, start
from tests.harness.databases import Database
from tests.harness.people import MANAGER, REP1, REP2
from tests.harness.waiting import eventually

TEN_JST = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def at_jst(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour - 9, minute, tzinfo=UTC)


@pytest.fixture
def env(fake_slack: FakeSlack, sqlite_db: Database, policy: Policy) -> Iterator[Env]:
    # Remind 90 minutes before the first-contact deadline, so there is room to snooze.
    early = policy.model_copy(update={
        "reminders": policy.reminders.model_copy(update={"first_contact_before_minutes": (90,)})
    })
    running = start(fake_slack, sqlite_db, early, ManualClock(TEN_JST))
    yield running
    running.bot.stop()


def snooze_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"] if e["action_id"] == Action.SNOOZE]


def press_snooze(env: Env, button: dict[str, Any], user: str, name: str) -> list[str]:
    url = env.fake.response_url(name, channel=env.fake.dm_channel(user), user=user)
    answer = env.slack.block_action(Action.SNOOZE.value, button["value"], user_id=user,
                                    channel_id=env.fake.dm_channel(user), response_url=url)
    assert answer.status == 200
    eventually(lambda: bool(env.answers(name)))
    return env.answers(name)


def reminded(env: Env) -> dict[str, Any]:
    sweep_notices(env.services)
    env.drain()
    return env.fake.dms(REP1)[-1]


def test_the_owner_snoozes_and_is_reminded_again(env: Env) -> None:
    lead_id, _ = env.posted()
    claim(env.services, lead_id, REP1, surface=Surface.BUTTON)
    env.drain()
    env.clock.set(at_jst(10, 30))
    reminder = reminded(env)
    buttons = snooze_buttons(reminder)
    assert [b["value"] for b in buttons] == [f"{lead_id}:first_contact:30",
                                            f"{lead_id}:first_contact:60"]
    (answer,) = press_snooze(env, buttons[0], REP1, "snooze")
    assert "11:00" in answer
    count = len(env.fake.dms(REP1))
    env.clock.set(at_jst(10, 59))
    reminded(env)
    assert len(env.fake.dms(REP1)) == count
    env.clock.set(at_jst(11, 0))
    again = reminded(env)
    assert len(env.fake.dms(REP1)) == count + 1 and "12:00" in again["text"]


def test_a_snooze_cannot_pass_the_deadline_nor_be_pressed_by_someone_else(env: Env) -> None:
    lead_id, _ = env.posted()
    claim(env.services, lead_id, REP1, surface=Surface.BUTTON)
    env.drain()
    env.clock.set(at_jst(10, 30))
    buttons = snooze_buttons(reminded(env))
    (refusal,) = press_snooze(env, buttons[0], REP2, "other")
    assert refusal == env.services.t("error.not_allowed")
    env.clock.set(at_jst(11, 15))  # 45 minutes left: an hour's snooze would pass the deadline
    (too_late,) = press_snooze(env, buttons[1], REP1, "late")
    assert "12:00" in too_late and too_late != env.services.t("notice.snoozed", at="12:15")
    (by_manager,) = press_snooze(env, buttons[0], MANAGER, "manager")
    assert "11:45" in by_manager


def test_a_forged_snooze_value_is_refused(env: Env) -> None:
    lead_id, _ = env.posted()
    claim(env.services, lead_id, REP1, surface=Surface.BUTTON)
    (answer,) = press_snooze(env, {"value": f"{lead_id}:first_contact:600"}, REP1, "forged")
    assert answer == env.services.t("error.not_found")
