"""The fake Slack Web API: the product's sandbox stand-in (one copy, used by tests and demo)."""

from bot.sandbox.fake_slack import Call, FakeSlack

__all__ = ["Call", "FakeSlack"]
