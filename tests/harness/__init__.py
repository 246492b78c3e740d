"""Test harness: a fake Slack Web API plus signed Slack requests against the real Bolt app.

The fake Slack and the signed requests are the product's sandbox (``bot.sandbox``: one copy, used
by the tests and the demo); their modules' ``__all__`` is what is re-exported here.
"""

from bot.sandbox import fake_slack, slack_requests
from bot.sandbox.fake_slack import *  # noqa: F403
from bot.sandbox.slack_requests import *  # noqa: F403
from tests.harness.wsgi_server import WsgiServer

__all__ = [*fake_slack.__all__, *slack_requests.__all__, "WsgiServer"]
