"""Signed requests to the running bot, shaped like the ones Slack sends.

Why: the bot must be driven through its real HTTP endpoint, including Bolt's signature
verification, body parsing and listener matching — by the test suite and by ``sla-bot demo``
alike — so these helpers sign exactly like Slack (``v0=HMAC-SHA256(secret, "v0:{ts}:{body}")``)
and reproduce Slack's payload shapes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec
from urllib.parse import parse_qsl, urlencode

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

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
#: Default response_url when none is given: the discard port on localhost refuses at once, so a
#: test that forgot to pass ``fake.response_url()`` fails fast instead of reaching the internet.
UNROUTED_RESPONSE_URL = "http://127.0.0.1:9/response-url-not-configured"

# A proxy-free opener: requests to 127.0.0.1 must never go through an HTTP(S)_PROXY.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def slack_signature_headers(
    body: str | bytes,
    signing_secret: str,
    timestamp: int | None = None,
    content_type: str | None = None,
) -> dict[str, str]:
    """The headers Slack adds to every request; Content-Type is guessed from the body if omitted."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    ts = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(
        signing_secret.encode("utf-8"), f"v0:{ts}:{text}".encode(), hashlib.sha256
    ).hexdigest()
    if content_type is None:
        content_type = JSON if text.lstrip().startswith("{") else FORM
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": f"v0={digest}",
    }


@dataclass
class HttpResponse:
    """A plain HTTP response; header keys are lower-cased for predictable lookups."""

    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def _open(request: urllib.request.Request, timeout: float) -> HttpResponse:
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            headers = {k.lower(): v for k, v in resp.headers.items()}
            return HttpResponse(resp.status, headers, resp.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as e:  # 4xx/5xx are answers, not failures, for a test
        headers = {k.lower(): v for k, v in e.headers.items()}
        return HttpResponse(e.code, headers, e.read().decode("utf-8", "replace"))


def http_post(
    url: str, body: str | bytes, headers: dict[str, str], timeout: float = 10
) -> HttpResponse:
    """POST and return the response whatever its status (connection errors still raise)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return _open(urllib.request.Request(url, data=data, headers=headers, method="POST"), timeout)


def http_get(url: str, timeout: float = 10) -> HttpResponse:
    """GET and return the response whatever its status (connection errors still raise)."""
    return _open(urllib.request.Request(url, method="GET"), timeout)


def _bolt_can_parse(body: str) -> bool:
    """Mirror Bolt's body parsing: it parses before verifying, so a tampered body must parse."""
    try:
        if body.startswith("{"):
            json.loads(body)
        elif "payload" in body:
            payload = dict(parse_qsl(body, keep_blank_values=True)).get("payload")
            if payload is not None:
                json.loads(payload)
    except ValueError:
        return False
    return True


def _mutate(char: str) -> str:
    if char.isdigit():
        return "2" if char == "1" else "1"  # never "0": no leading-zero JSON numbers
    if char.islower():
        return "b" if char == "a" else "a"
    return "B" if char == "A" else "A"


def tamper_body(body: str) -> str:
    """Change exactly one ASCII letter/digit, keeping the body parseable for Bolt.

    Why: a tampered body that no longer parses would make Bolt fail before it checks the
    signature, and the test would no longer prove that signature verification rejects it.
    """
    for i in range(len(body) - 1, -1, -1):
        char = body[i]
        if char.isascii() and char.isalnum():
            candidate = body[:i] + _mutate(char) + body[i + 1 :]
            if _bolt_can_parse(candidate):
                return candidate
    raise ValueError("no byte in the body can be changed without breaking its syntax")


# ---------------------------------------------------------------------- view state values

StateEntry = tuple[str, str, dict[str, Any]]


def _option(value: str, text: str | None = None) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text or value, "emoji": True}, "value": value}


def plain_text_input(block_id: str, action_id: str, value: str | None) -> StateEntry:
    return block_id, action_id, {"type": "plain_text_input", "value": value}


def number_input(block_id: str, action_id: str, value: str | None) -> StateEntry:
    return block_id, action_id, {"type": "number_input", "value": value}


def static_select(
    block_id: str, action_id: str, value: str | None, text: str | None = None
) -> StateEntry:
    selected = _option(value, text) if value is not None else None
    return block_id, action_id, {"type": "static_select", "selected_option": selected}


def radio_buttons(
    block_id: str, action_id: str, value: str | None, text: str | None = None
) -> StateEntry:
    selected = _option(value, text) if value is not None else None
    return block_id, action_id, {"type": "radio_buttons", "selected_option": selected}


def checkboxes(block_id: str, action_id: str, values: list[str]) -> StateEntry:
    options = [_option(v) for v in values]
    return block_id, action_id, {"type": "checkboxes", "selected_options": options}


def users_select(block_id: str, action_id: str, user_id: str | None) -> StateEntry:
    return block_id, action_id, {"type": "users_select", "selected_user": user_id}


def multi_users_select(block_id: str, action_id: str, user_ids: list[str]) -> StateEntry:
    return block_id, action_id, {"type": "multi_users_select", "selected_users": list(user_ids)}


def datepicker(block_id: str, action_id: str, date: str | None) -> StateEntry:
    return block_id, action_id, {"type": "datepicker", "selected_date": date}


def state_values(*entries: StateEntry) -> dict[str, dict[str, dict[str, Any]]]:
    """Build ``view.state.values`` ({block_id: {action_id: element_state}}) from entries.

    ``state_values(plain_text_input("company", "company", "Acme"), users_select("o", "o", "U1"))``
    """
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for block_id, action_id, element in entries:
        values.setdefault(block_id, {})[action_id] = element
    return values


# ---------------------------------------------------------------------- requests

P = ParamSpec("P")


def _sends(
    builder: Callable[Concatenate[SlackRequests, P], tuple[str, str]],
) -> Callable[Concatenate[SlackRequests, P], HttpResponse]:
    """Turn a pure ``build_x`` into ``x`` that also signs and sends, keeping its signature."""

    def send(self: SlackRequests, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        return self.send(*builder(self, *args, **kwargs))

    send.__name__ = builder.__name__.removeprefix("build_")
    send.__doc__ = f"Build like ``{builder.__name__}`` and send it signed; returns the response."
    return send


class SlackRequests:
    """Builds and sends signed requests to the running app like Slack would.

    ``build_*`` methods are pure and return ``(body, content_type)``; the same-named methods
    without the prefix build, sign and send, returning the app's ``HttpResponse``.
    """

    def __init__(
        self,
        events_url: str,
        signing_secret: str,
        team_id: str = "T0001",
        api_app_id: str = "A0001",
        *,
        bot_user_id: str = "U_BOT",
        response_url: str | None = None,
        team_domain: str = "fake-team",
        verification_token: str = "legacy-verification-token",
    ) -> None:
        self.events_url = events_url
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.bot_user_id = bot_user_id
        self.default_response_url = response_url or UNROUTED_RESPONSE_URL
        self.team_domain = team_domain
        self.verification_token = verification_token

    # -------------------------------------------------------------- sending

    def send(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        tamper: bool = False,
        unsigned: bool = False,
        extra_headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        """Sign (unless ``unsigned``) and POST; ``tamper`` alters one byte after signing."""
        if unsigned:
            headers = {"Content-Type": content_type}
        else:
            headers = slack_signature_headers(
                body, secret or self.signing_secret, timestamp, content_type=content_type
            )
        if tamper:
            body = tamper_body(body)
        headers.update(extra_headers or {})
        return http_post(self.events_url, body, headers)

    # -------------------------------------------------------------- shared shapes

    def _user(self, user_id: str) -> dict[str, Any]:
        return {
            "id": user_id,
            "username": user_id.lower(),
            "name": user_id.lower(),
            "team_id": self.team_id,
        }

    def _team(self) -> dict[str, Any]:
        return {"id": self.team_id, "domain": self.team_domain}

    @staticmethod
    def _now_ts() -> str:
        return f"{time.time():.6f}"

    def _view(
        self,
        callback_id: str,
        *,
        view_id: str,
        private_metadata: str = "",
        values: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": view_id,
            "team_id": self.team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": values or {}},
            "hash": "1700000000.fakehash",
            "title": {"type": "plain_text", "text": "Modal", "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.api_app_id,
            "external_id": "",
            "app_installed_team_id": self.team_id,
            "bot_id": "B_BOT",
        }
        view.update(extra or {})
        return view

    @staticmethod
    def _form(fields: dict[str, Any]) -> tuple[str, str]:
        return urlencode({k: v for k, v in fields.items() if v is not None}), FORM

    @staticmethod
    def _interactive(payload: dict[str, Any]) -> tuple[str, str]:
        return urlencode({"payload": json.dumps(payload)}), FORM

    # -------------------------------------------------------------- builders (pure)

    def build_url_verification(self, challenge: str = "chal") -> tuple[str, str]:
        body = {
            "token": self.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        }
        return json.dumps(body), JSON

    def build_slash_command(
        self,
        command: str,
        text: str = "",
        *,
        user_id: str = "U_REP1",
        channel_id: str = "C_SALES",
        channel_name: str | None = None,
        response_url: str | None = None,
        trigger_id: str = "trig-1",
        **kw: Any,
    ) -> tuple[str, str]:
        fields: dict[str, Any] = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name or channel_id.lower(),
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url or self.default_response_url,
            "trigger_id": trigger_id,
        }
        fields.update(kw)
        return self._form(fields)

    def build_block_action(
        self,
        action_id: str,
        value: str = "",
        *,
        user_id: str = "U_REP1",
        channel_id: str = "C_SALES",
        message_ts: str | None = None,
        message: dict[str, Any] | None = None,
        block_id: str = "b",
        trigger_id: str = "trig-1",
        response_url: str | None = None,
        container_type: str = "message",
        view: dict[str, Any] | None = None,
        action: dict[str, Any] | None = None,
        **kw: Any,
    ) -> tuple[str, str]:
        """``action`` overrides/extends the action element (e.g. a static_select's
        ``selected_option``); ``container_type`` is "message" or "view"."""
        element: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id,
            "text": {"type": "plain_text", "text": action_id, "emoji": True},
            "type": "button",
            "action_ts": self._now_ts(),
        }
        if value:
            element["value"] = value  # Slack omits "value" for buttons without one
        element.update(action or {})
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": trigger_id,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "actions": [element],
        }
        if container_type == "message":
            msg = dict(message or {})
            ts = message_ts or msg.get("ts") or "1700000000.000100"
            msg.setdefault("type", "message")
            msg.setdefault("ts", ts)
            msg.setdefault("user", self.bot_user_id)
            msg.setdefault("bot_id", "B_BOT")
            msg.setdefault("text", "")
            msg.setdefault("blocks", [])
            payload["container"] = {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_id,
                "is_ephemeral": False,
            }
            payload["channel"] = {"id": channel_id, "name": channel_id.lower()}
            payload["message"] = msg
            payload["state"] = {"values": {}}
            payload["response_url"] = response_url or self.default_response_url
        elif container_type == "view":
            given = dict(view or {})
            full = self._view(
                given.get("callback_id", ""),
                view_id=given.get("id", "V1"),
                private_metadata=given.get("private_metadata", ""),
                extra=given,
            )
            payload["container"] = {"type": "view", "view_id": full["id"]}
            payload["view"] = full
        else:
            raise ValueError(f"unsupported container_type {container_type!r}")
        payload.update(kw)
        return self._interactive(payload)

    def build_view_submission(
        self,
        callback_id: str,
        values: dict[str, Any],
        *,
        user_id: str = "U_REP1",
        private_metadata: str = "",
        view_id: str = "V1",
        trigger_id: str = "trig-2",
        view: dict[str, Any] | None = None,
        **kw: Any,
    ) -> tuple[str, str]:
        """``values`` is Slack's ``state.values`` shape — see ``state_values()``."""
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": trigger_id,
            "view": self._view(
                callback_id,
                view_id=view_id,
                private_metadata=private_metadata,
                values=values,
                extra=view,
            ),
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        payload.update(kw)
        return self._interactive(payload)

    def build_view_closed(
        self,
        callback_id: str,
        *,
        user_id: str = "U_REP1",
        private_metadata: str = "",
        view_id: str = "V1",
        is_cleared: bool = False,
        **kw: Any,
    ) -> tuple[str, str]:
        payload: dict[str, Any] = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "view": self._view(callback_id, view_id=view_id, private_metadata=private_metadata),
            "is_cleared": is_cleared,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        payload.update(kw)
        return self._interactive(payload)

    def build_shortcut(
        self,
        callback_id: str,
        *,
        user_id: str = "U_MKT1",
        trigger_id: str = "trig-3",
        kind: str = "shortcut",
        channel_id: str = "C_SALES",
        message: dict[str, Any] | None = None,
        message_ts: str | None = None,
        response_url: str | None = None,
        **kw: Any,
    ) -> tuple[str, str]:
        """``kind`` is "shortcut" (global) or "message_action" (message shortcut)."""
        payload: dict[str, Any] = {
            "type": kind,
            "token": self.verification_token,
            "action_ts": self._now_ts(),
            "team": self._team(),
            "user": self._user(user_id),
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": trigger_id,
        }
        if kind == "message_action":
            msg = dict(message or {})
            ts = message_ts or msg.get("ts") or "1700000000.000100"
            msg.setdefault("type", "message")
            msg.setdefault("ts", ts)
            msg.setdefault("text", "")
            payload.update(
                channel={"id": channel_id, "name": channel_id.lower()},
                message_ts=ts,
                message=msg,
                response_url=response_url or self.default_response_url,
            )
        elif kind != "shortcut":
            raise ValueError(f"unsupported shortcut kind {kind!r}")
        payload.update(kw)
        return self._interactive(payload)

    def build_block_suggestion(
        self,
        action_id: str,
        value: str = "",
        *,
        user_id: str = "U_REP1",
        block_id: str = "b",
        view_id: str = "V1",
        callback_id: str = "",
        **kw: Any,
    ) -> tuple[str, str]:
        """An external_select options request typed into a modal."""
        payload: dict[str, Any] = {
            "type": "block_suggestion",
            "user": self._user(user_id),
            "container": {"type": "view", "view_id": view_id},
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": self._view(callback_id, view_id=view_id),
        }
        payload.update(kw)
        return self._interactive(payload)

    def build_event(
        self, event: dict[str, Any], *, event_id: str = "Ev1", event_time: int | None = None
    ) -> tuple[str, str]:
        now = int(time.time()) if event_time is None else event_time
        inner = dict(event)
        inner.setdefault("event_ts", self._now_ts())
        body = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-fake-{event_id}",
        }
        return json.dumps(body), JSON

    # -------------------------------------------------------------- build + send

    url_verification = _sends(build_url_verification)
    slash_command = _sends(build_slash_command)
    block_action = _sends(build_block_action)
    view_submission = _sends(build_view_submission)
    view_closed = _sends(build_view_closed)
    shortcut = _sends(build_shortcut)
    block_suggestion = _sends(build_block_suggestion)

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str = "Ev1",
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> HttpResponse:
        """``retry_num`` makes it look like Slack's redelivery of an un-acked event."""
        extra: dict[str, str] = {}
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self.send(*self.build_event(event, event_id=event_id), extra_headers=extra)
