"""The bot's settings as every test runs it: the secrets the signed requests use, the fake Slack
as its Web API."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from tests.harness import FakeSlack

ROOT = Path(__file__).resolve().parent.parent.parent
SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
INTAKE_TOKEN = "test-intake-token"


def make_settings(fake_slack: FakeSlack, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "intake_token": INTAKE_TOKEN,
        "database_url": database_url,
        "slack_api_url": fake_slack.base_url,
        "port": 0,
        "host": "127.0.0.1",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
