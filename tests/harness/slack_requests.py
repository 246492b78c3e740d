"""Signed Slack requests: the product's sandbox helpers (one copy, used by tests and demo)."""

from bot.sandbox.slack_requests import (
    HttpResponse,
    SlackRequests,
    StateEntry,
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

__all__ = [
    "HttpResponse",
    "SlackRequests",
    "StateEntry",
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
