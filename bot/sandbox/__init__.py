"""A Slack workspace on loopback: the stand-in Web API, signed requests as Slack sends them,
and the ``sla-bot demo`` that plays a scripted day, week and month of the real bot against them."""

from bot.sandbox.fake_slack import Call, FakeSlack
from bot.sandbox.slack_requests import HttpResponse, SlackRequests, http_get, http_post

__all__ = ["Call", "FakeSlack", "HttpResponse", "SlackRequests", "http_get", "http_post"]
