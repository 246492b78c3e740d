"""Test harness: a fake Slack Web API plus signed Slack requests against the real Bolt app."""

from tests.harness.fake_slack import Call, FakeSlack
from tests.harness.slack_requests import (
    HttpResponse,
    SlackRequests,
    checkboxes,
    datepicker,
    http_get,
    http_post,
    multi_users_select,
    number_input,
    plain_text_input,
    radio_buttons,
    slack_signature_headers,
    state_values,
    static_select,
    tamper_body,
    users_select,
)
from tests.harness.wsgi_server import WsgiServer

__all__ = [
    "Call",
    "FakeSlack",
    "HttpResponse",
    "SlackRequests",
    "WsgiServer",
    "checkboxes",
    "datepicker",
    "http_get",
    "http_post",
    "multi_users_select",
    "number_input",
    "plain_text_input",
    "radio_buttons",
    "slack_signature_headers",
    "state_values",
    "static_select",
    "tamper_body",
    "users_select",
]
