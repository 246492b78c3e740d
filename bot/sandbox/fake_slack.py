"""A stand-in for the Slack Web API served over real HTTP on 127.0.0.1.

Why a real HTTP server instead of mocking ``WebClient``: the bot's own ``WebClient`` (and Bolt's
``respond()``/``say()``) then exercise their real serialisation, retry handlers, timeouts and
error mapping, so a test sees exactly what production code would see, and assertions are made on
Slack-side state (channel history, DMs, modals, App Home) — i.e. on what a Slack user would see.

It lives in the product, not only in the test suite, because ``sla-bot demo`` runs the real bot
against it: one stand-in, so what the demo shows is what the tests check.
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import itertools
import json
import math
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.manifest import ManifestError, bot_scopes
from bot.sandbox.loopback import HOST, LoopbackServer

__all__ = ["Call", "FakeSlack"]

#: Arguments the SDK (or a hand-written client) may send as JSON-encoded strings inside a form body.
JSON_ARG_KEYS = frozenset(
    {
        "blocks",
        "attachments",
        "view",
        "metadata",
        "files",
        "profile",
        "user_ids",
        "users",
        "channel_ids",
        "unfurls",
        "outputs",
        "options",
        "elements",
    }
)


_INVALID_JSON: dict[str, Any] = {"ok": False, "error": "invalid_json"}


@dataclass
class Call:
    """One request the fake received, as a test (or the demo's transcript) reads it."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]  # request headers, keys lower-cased (urllib sends "Content-type" etc.)
    response: dict[str, Any] | None  # None when the connection was dropped
    status: int = 200  # HTTP status the fake answered with
    at: float = field(default_factory=time.monotonic)  # when the fake answered (monotonic)


@dataclass
class _Script:
    """A scripted misbehaviour for the next ``remaining`` calls of ``method``."""

    method: str
    status: int
    error: str | None
    retry_after: int | None
    delay: float
    drop: bool
    after_effect: bool
    remaining: int

    @property
    def fails(self) -> bool:
        """A delay-only script still does the work and answers normally (just late)."""
        return self.drop or self.status != 200 or self.error is not None


@dataclass
class _Answer:
    """What to send back for one request."""

    status: int
    data: dict[str, Any] | None  # recorded on the Call; None = connection dropped
    raw: bytes | None = None  # body override (non-JSON answers such as response_url's "ok")
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.data).encode("utf-8")


@dataclass
class _Pending:
    """A request whose answer is produced after ``delay`` seconds."""

    delay: float
    complete: Callable[[], _Answer]


class _SlackError(Exception):
    """Raised inside a method implementation to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _flag(value: Any) -> bool:
    """Slack accepts true/1/"true"/"1" for booleans; the SDK sends "1"/"0" in forms."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in {"1", "true", "yes"}


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _ts_key(ts: Any) -> Decimal:
    """Compare Slack timestamps exactly; floats lose the microseconds at this magnitude."""
    try:
        return Decimal(str(ts))
    except InvalidOperation:
        return Decimal(0)


def _decode_json_args(args: dict[str, Any]) -> dict[str, Any]:
    for key in JSON_ARG_KEYS & args.keys():
        value = args[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            # if it is not valid JSON, leave it as sent: the test sees what the bot really sent
            with contextlib.suppress(json.JSONDecodeError):
                args[key] = json.loads(value)
    return args


def _parse_args(query: str, raw: bytes, content_type: str) -> dict[str, Any]:
    """Merge query-string and body args, whichever encoding the client chose."""
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    mime = content_type.split(";", 1)[0].strip().lower()
    if raw:
        if mime == "application/json" or (not mime and raw.lstrip()[:1] == b"{"):
            body = json.loads(raw.decode("utf-8"))
            if isinstance(body, dict):
                args.update(body)
        elif mime == "multipart/form-data":
            args.update(_parse_multipart(raw, content_type))
        else:
            args.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    return _decode_json_args(args)


def _parse_multipart(raw: bytes, content_type: str) -> dict[str, Any]:
    header = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + raw)
    out: dict[str, Any] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            out[name] = {"filename": filename, "size": len(payload)}
        else:
            out[name] = payload.decode("utf-8")
    return out


class _Handler(BaseHTTPRequestHandler):
    """Routes every request into the owning FakeSlack."""

    fake: ClassVar[FakeSlack]

    def log_message(self, format: str, *args: Any) -> None:
        """Keep pytest output clean; calls are recorded on the fake instead."""

    def do_POST(self) -> None:
        self.fake._handle(self)

    def do_GET(self) -> None:
        self.fake._handle(self)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and hung up is expected here, not an error worth printing."""


class FakeSlack(LoopbackServer):
    """An in-process Slack Web API with enough state to assert on what users would see.

    Every request is recorded in ``calls``; methods mutate state (channel history, DMs, views,
    App Home, files) and answer with Slack-shaped JSON. ``fail()`` scripts misbehaviour.
    """

    def __init__(
        self,
        *,
        team_id: str = "T0001",
        bot_user_id: str = "U_BOT",
        bot_id: str = "B_BOT",
        app_id: str = "A0001",
        first_ts: str = "1700000000.000100",
        on_call: Callable[[Call], None] | None = None,
        known_users_only: bool = False,
        known_channels_only: bool = False,
    ) -> None:
        """``on_call`` sees every recorded call as it is answered (under the fake's lock: keep it
        short), e.g. to stamp it with a simulated clock.

        By default any user or channel id exists (a person; a public channel the bot is in), so
        tests need not declare everyone. ``known_users_only`` / ``known_channels_only`` make
        undeclared ids ``user_not_found`` / ``channel_not_found`` like a real workspace.
        """
        super().__init__()
        self.team_id = team_id
        self.known_users_only = known_users_only
        self.known_channels_only = known_channels_only
        self.on_call = on_call
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        sec, _, frac = first_ts.partition(".")
        self._ts_micro = int(sec) * 1_000_000 + int((frac + "000000")[:6]) - 100
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        # recorded traffic
        self.calls: list[Call] = []
        self.errors: list[str] = []  # tracebacks of bugs inside the fake itself
        # Slack-side state
        self._scripts: list[_Script] = []
        self._limits: dict[str, tuple[float, float]] = {}
        self._arrivals: list[str] = []  # methods in the order requests arrived
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._channels: dict[str, dict[str, Any]] = {}
        self._response_urls: dict[str, dict[str, str | None]] = {}
        self._revoked: set[str] = set()
        self._scopes: tuple[str, ...] | None = None  # None: the manifest's bot scopes
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.getPresence": self._users_get_presence,
            "users.profile.get": self._users_profile_get,
            "users.lookupByEmail": self._users_lookup_by_email,
            "usergroups.users.list": self._usergroups_users_list,
            "reactions.add": self._reactions_add,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }

    # ------------------------------------------------------------------ lifecycle

    def _bind(self) -> _Server:
        handler = type("FakeSlackHandler", (_Handler,), {"fake": self})
        return _Server((HOST, 0), handler)

    def start(self) -> Self:
        """Serve on a free port of 127.0.0.1 (again after a ``stop()``: delays sleep again)."""
        self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        """Stop serving; also wakes handlers sleeping in a scripted ``delay``."""
        self._stopping.set()
        super().stop()

    def url(self, path: str = "/") -> str:
        """An absolute URL on the fake (e.g. for upload URLs and response URLs)."""
        return self._origin() + path

    @property
    def base_url(self) -> str:
        """Pass to ``slack_sdk.WebClient(base_url=...)``."""
        return self.url("/api/")

    # ------------------------------------------------------------------ test-facing API

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until ``count`` calls to ``method`` were recorded.

        Needed because Bolt acks first and runs listeners in a worker thread
        (``process_before_response=False``), so the HTTP response can precede the API calls.
        """
        with self._changed:
            done = self._changed.wait_for(lambda: len(self.calls_to(method)) >= count, timeout)
            if not done:
                seen = [c.method for c in self.calls]
                raise AssertionError(
                    f"expected {count} call(s) to {method} within {timeout}s; calls: {seen}"
                )
            return self.calls_to(method)

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
        drop: bool = False,
        after_effect: bool = False,
        times: int = 1,
    ) -> None:
        """Script the next ``times`` calls of ``method`` (``"*"`` = any) to misbehave.

        ``retry_after`` without an explicit status implies HTTP 429. ``delay`` holds the whole
        request: the effect and the recorded Call happen when the fake answers, even if the
        client has timed out by then (use ``wait_for`` to see it). Scripts are claimed on
        arrival, in the order they were added. ``method`` may also be ``"response_url"`` or
        ``"files.upload_url"``.
        """
        if retry_after is not None and status == 200:
            status = 429
        with self._lock:
            self._scripts.append(
                _Script(method, status, error, retry_after, delay, drop, after_effect, times)
            )

    def reset(self) -> None:
        """Forget calls, scripts and state (timestamps keep increasing to avoid reuse)."""
        with self._lock:
            self.calls.clear()
            self.errors.clear()
            self._scripts.clear()
            self._arrivals.clear()
            self._limits.clear()
            self._buckets.clear()
            self._messages.clear()
            self.ephemerals.clear()
            self.views.clear()
            self.home_views.clear()
            self.files.clear()
            self._users.clear()
            self._usergroups.clear()
            self._channels.clear()
            self._response_urls.clear()
            self._revoked.clear()
            self._scopes = None

    def response_url(
        self,
        name: str = "default",
        *,
        channel: str | None = None,
        message_ts: str | None = None,
        user: str | None = None,
    ) -> str:
        """A response URL on the fake.

        Posts are recorded as ``Call("response_url", body + {"_name": name})``. Binding
        ``channel``/``message_ts``/``user`` lets the fake apply the visible effect like Slack:
        ``replace_original``/``delete_original`` change that message, ``response_type=in_channel``
        posts to the channel, anything else becomes an ephemeral for ``user``.
        """
        with self._lock:
            self._response_urls[name] = {"channel": channel, "message_ts": message_ts, "user": user}
        return self.url(f"/response_url/{name}")

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Channel history (top level, incl. thread parents and broadcasts), oldest first."""
        with self._lock:
            ch = self._resolve_channel(channel)
            return [m for m in self._messages.get(ch, []) if self._is_top_level(m)]

    def wait_for_arrival(self, method: str, count: int = 1, timeout: float = 5.0) -> None:
        """Block until ``count`` requests to ``method`` have *arrived* (answered or not yet).

        With a scripted ``delay`` this is the moment Slack "is working on it": a test can act
        in the window between the request and its answer.
        """
        with self._changed:
            done = self._changed.wait_for(lambda: self._arrivals.count(method) >= count, timeout)
        if not done:
            raise AssertionError(f"expected {count} request(s) to {method} within {timeout}s")

    def wait_for_messages(
        self, channel: str, count: int, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Block until ``channel`` holds at least ``count`` top-level messages."""
        with self._changed:
            done = self._changed.wait_for(lambda: len(self.messages(channel)) >= count, timeout)
        messages = self.messages(channel)
        if not done:
            raise AssertionError(f"expected {count} message(s) in {channel}, got {len(messages)}")
        return messages

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Replies in the thread rooted at ``ts`` (without the parent), oldest first."""
        with self._lock:
            ch = self._resolve_channel(channel)
            return [
                m for m in self._messages.get(ch, []) if m.get("thread_ts") == ts and m["ts"] != ts
            ]

    def dm_channel(self, user_id: str) -> str:
        return "D" + user_id

    def dms(self, user_id: str) -> list[dict[str, Any]]:
        return self.messages(self.dm_channel(user_id))

    def post_as_user(
        self, channel: str, user_id: str, text: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """A message a person writes (e.g. a marketer's reply in a lead's thread), as Slack
        stores it before it sends the ``message`` event; returns it as the Web API shows it."""
        with self._changed:
            message = self._store_message(
                self._resolve_channel(channel),
                {"user": user_id, "bot_id": None, "app_id": None, "text": text},
                thread_ts,
            )
            self._changed.notify_all()
            return self._public(message)

    def response_url_target(self, name: str) -> dict[str, str | None]:
        """Where a response URL made by ``response_url(name)`` shows its answers."""
        with self._lock:
            return dict(self._response_urls.get(name, {}))

    def set_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        tz: str = "Asia/Tokyo",
        presence: str = "active",
        status_text: str = "",
        status_emoji: str = "",
        is_bot: bool = False,
        real_name: str | None = None,
        email: str | None = None,
        deleted: bool = False,
    ) -> None:
        with self._lock:
            self._users[user_id] = {
                "name": name or user_id.lower(),
                "real_name": real_name or name or user_id,
                "tz": tz,
                "presence": presence,
                "status_text": status_text,
                "status_emoji": status_emoji,
                "is_bot": is_bot,
                "email": email,
                "deleted": deleted,
            }

    def revoke_token(self, token: str) -> None:
        """Every later call with ``token`` (bot or app-level) answers ``token_revoked``."""
        with self._lock:
            self._revoked.add(token)

    def set_scopes(self, scopes: Iterable[str] | None) -> None:
        """The bot scopes the workspace granted, reported in the ``x-oauth-scopes`` header of
        every answer to a bot token; ``None`` (the default) grants the manifest's."""
        with self._lock:
            self._scopes = None if scopes is None else tuple(scopes)

    def granted_scopes(self) -> tuple[str, ...]:
        with self._lock:
            if self._scopes is not None:
                return self._scopes
        try:
            return bot_scopes()
        except ManifestError:  # an install without the checkout: the demo needs no scopes
            return ()

    def set_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        with self._lock:
            self._usergroups[group_id] = list(user_ids)

    def set_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        is_private: bool = False,
        is_member: bool = True,
        is_archived: bool = False,
    ) -> None:
        """Declare a channel; unknown channels are accepted as public ones the bot is in.

        ``is_member=False`` makes posting fail with ``not_in_channel`` until
        ``conversations.join``; ``is_archived=True`` makes posting fail with ``is_archived``.
        """
        with self._lock:
            self._channels[channel_id] = {
                "name": name or channel_id.lower(),
                "is_private": is_private,
                "is_member": is_member,
                "is_archived": is_archived,
            }

    # ------------------------------------------------------------------ HTTP plumbing

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        length = _int(handler.headers.get("Content-Length"), 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            pending = self._dispatch(split.path, split.query, raw, headers)
            if pending.delay > 0:
                self._stopping.wait(pending.delay)  # stop() cuts the wait short
            answer = pending.complete()
        except Exception:
            detail = traceback.format_exc()
            with self._lock:
                self.errors.append(detail)
            answer = _Answer(
                500, {"ok": False, "error": "fake_slack_internal_error", "detail": detail}
            )
        if answer.data is None and answer.raw is None:
            handler.close_connection = True  # drop: close without a status line
            return
        body = answer.body()
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            handler.send_header("Content-Length", str(len(body)))
            for key, value in answer.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout) before we answered

    def _dispatch(self, path: str, query: str, raw: bytes, headers: dict[str, str]) -> _Pending:
        content_type = headers.get("content-type", "")
        if path.startswith("/api/"):
            method = unquote(path[len("/api/") :])
            try:
                args = _parse_args(query, raw, content_type)
            except ValueError:
                bad = {"_raw": raw.decode("utf-8", "replace")}
                return self._run(method, bad, headers, lambda: _Answer(200, dict(_INVALID_JSON)))
            return self._run(method, args, headers, lambda: self._api(method, args, headers))
        if path.startswith("/response_url/"):
            name = unquote(path[len("/response_url/") :])
            try:
                args = _parse_args(query, raw, content_type or "application/json")
            except ValueError:
                args = {"_raw": raw.decode("utf-8", "replace")}
            args["_name"] = name
            return self._run("response_url", args, headers, lambda: self._post_response_url(args))
        if path.startswith("/upload/"):
            file_id = unquote(path[len("/upload/") :])
            args = {"file_id": file_id, "size": len(raw)}
            return self._run("files.upload_url", args, headers, lambda: self._upload(file_id, raw))
        not_found = _Answer(
            404, {"ok": False, "error": "not_found"}, raw=b"Not Found", content_type="text/plain"
        )
        return _Pending(0.0, lambda: not_found)

    def _run(
        self,
        method: str,
        args: dict[str, Any],
        headers: dict[str, str],
        effect: Callable[[], _Answer],
    ) -> _Pending:
        """Claim a script on arrival; the effect and the recorded Call happen when answering.

        So with ``delay`` nothing is visible (no state change, no Call) until the fake answers,
        and a Call is always recorded before its response is written to the client.
        """
        with self._changed:
            script = self._take_script(method)
            if script is None:
                script = self._rate_limited(method, args)
            self._arrivals.append(method)
            self._changed.notify_all()

        def complete() -> _Answer:
            with self._changed:
                if script is None or not script.fails:
                    answer = effect()
                else:
                    if script.after_effect:
                        effect()
                    answer = self._scripted_failure(script)
                call = Call(method, args, headers, answer.data, answer.status)
                self.calls.append(call)
                if self.on_call is not None:
                    self.on_call(call)
                self._changed.notify_all()
                return answer

        return _Pending(script.delay if script is not None else 0.0, complete)

    def rate_limit(self, method: str, per_second: float = 1.0, burst: int = 3) -> None:
        """Enforce Slack-like limits on ``method``: a token bucket per channel.

        Beyond the bucket the fake answers 429 with ``Retry-After`` (whole seconds, as Slack
        does), so a sender that ignores it is visible in ``calls``.
        """
        with self._lock:
            self._limits[method] = (per_second, float(burst))

    def _rate_limited(self, method: str, args: dict[str, Any]) -> _Script | None:
        limit = self._limits.get(method)
        if limit is None:
            return None
        per_second, burst = limit
        key = (method, str(args.get("channel", "")))
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - last) * per_second)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return None
        self._buckets[key] = (tokens, now)
        wait = max(1, math.ceil((1 - tokens) / per_second))
        return _Script(method, 429, None, wait, 0.0, False, False, 1)

    def _take_script(self, method: str) -> _Script | None:
        for script in self._scripts:
            if script.remaining > 0 and script.method in (method, "*"):
                script.remaining -= 1
                if script.remaining == 0:
                    self._scripts.remove(script)
                return script
        return None

    @staticmethod
    def _scripted_failure(script: _Script) -> _Answer:
        if script.drop:
            return _Answer(0, None)
        headers: dict[str, str] = {}
        if script.status == 429:
            data = {"ok": False, "error": script.error or "ratelimited"}
            if script.retry_after is not None:
                headers["Retry-After"] = str(script.retry_after)
        elif script.status != 200:
            data = {"ok": False, "error": script.error or "fatal_error"}
        else:
            data = {"ok": False, "error": script.error}
        return _Answer(script.status, data, headers=headers)

    def _api(self, method: str, args: dict[str, Any], headers: dict[str, str]) -> _Answer:
        auth = headers.get("authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else str(args.get("token", ""))
        if not token:
            return _Answer(200, {"ok": False, "error": "not_authed"})
        if token in self._revoked:
            return _Answer(200, {"ok": False, "error": "token_revoked"})
        # An app-level token (xapp-) only opens Socket Mode; bot tokens cannot.
        app_level = token.startswith("xapp-")
        if not app_level and not token.startswith("xox"):
            return _Answer(200, {"ok": False, "error": "invalid_auth"})
        if app_level != (method == "apps.connections.open"):
            return _Answer(200, {"ok": False, "error": "not_allowed_token_type"})
        impl = self._methods.get(method)
        if impl is None:
            return _Answer(200, {"ok": False, "error": "unknown_method"})
        try:
            data = impl(args)
        except _SlackError as e:
            data = {"ok": False, "error": e.error}
        scopes = "connections:write" if app_level else ",".join(self.granted_scopes())
        return _Answer(200, data, headers={"X-Slack-Req-Id": f"fake-{next(self._ids)}",
                                           "x-oauth-scopes": scopes})

    # ------------------------------------------------------------------ helpers

    def _next_ts(self) -> str:
        self._ts_micro += 100
        return f"{self._ts_micro // 1_000_000}.{self._ts_micro % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):07d}"

    def _resolve_channel(self, channel: Any) -> str:
        """User ids post to the user's DM like Slack does; ``#name`` resolves declared channels."""
        if not channel or not isinstance(channel, str):
            raise _SlackError("channel_not_found")
        if channel[0] in "UW":
            return self.dm_channel(channel)
        if channel.startswith("#"):
            for cid, info in self._channels.items():
                if info["name"] == channel[1:]:
                    return cid
            raise _SlackError("channel_not_found")
        if (self.known_channels_only and channel not in self._channels
                and channel[0] in "CG" and not channel.startswith("G_")):
            raise _SlackError("channel_not_found")
        return channel

    def _check_can_post(self, channel: str) -> None:
        info = self._channels.get(channel)
        if info is None:
            return
        if info["is_archived"]:
            raise _SlackError("is_archived")
        if not info["is_member"]:
            raise _SlackError("not_in_channel")

    @staticmethod
    def _is_top_level(message: dict[str, Any]) -> bool:
        thread_ts = message.get("thread_ts")
        return thread_ts is None or thread_ts == message["ts"] or bool(message.get("_broadcast"))

    def _find(self, channel: str, ts: Any) -> dict[str, Any]:
        for message in self._messages.get(channel, []):
            if message["ts"] == ts:
                return message
        raise _SlackError("message_not_found")

    @staticmethod
    def _public(message: dict[str, Any], *, include_metadata: bool = True) -> dict[str, Any]:
        """The message as the Web API shows it (absent fields omitted, metadata opt-in)."""
        out = {
            k: v
            for k, v in message.items()
            if v is not None and k != "channel" and not k.startswith("_")
        }
        if not out.get("attachments"):
            out.pop("attachments", None)
        if not include_metadata:
            out.pop("metadata", None)
        return out

    @staticmethod
    def _has_content(args: dict[str, Any]) -> bool:
        return bool(args.get("text") or args.get("blocks") or args.get("attachments"))

    @staticmethod
    def _valid_metadata(metadata: Any) -> dict[str, Any] | None:
        if metadata in (None, "", {}):
            return None
        if (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("event_type"), str)
            or not isinstance(metadata.get("event_payload", {}), dict)
        ):
            raise _SlackError("invalid_metadata_format")
        return {
            "event_type": metadata["event_type"],
            "event_payload": metadata.get("event_payload", {}),
        }

    def _store_message(
        self,
        channel: str,
        fields: dict[str, Any],
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> dict[str, Any]:
        root: dict[str, Any] | None = None
        if thread_ts:
            try:
                root = self._find(channel, thread_ts)
            except _SlackError:
                raise _SlackError("thread_not_found") from None
            thread_ts = root.get("thread_ts") or root["ts"]  # replying to a reply joins its thread
            if root["ts"] != thread_ts:
                root = self._find(channel, thread_ts)
        message: dict[str, Any] = {
            "type": "message",
            "ts": self._next_ts(),
            "channel": channel,
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": "",
            "blocks": [],
            "attachments": [],
            "metadata": None,
            "thread_ts": thread_ts or None,
        }
        message.update(fields)
        if broadcast and thread_ts:
            message["subtype"] = "thread_broadcast"
            message["_broadcast"] = True
        if root is not None:
            root["thread_ts"] = root["ts"]
            root["reply_count"] = root.get("reply_count", 0) + 1
            root["latest_reply"] = message["ts"]
            users = root.setdefault("reply_users", [])
            if message["user"] not in users:
                users.append(message["user"])
        self._messages.setdefault(channel, []).append(message)
        return message

    def _page(
        self, items: list[dict[str, Any]], args: dict[str, Any], include_metadata: bool
    ) -> dict[str, Any]:
        limit = max(1, min(_int(args.get("limit"), 100), 999))
        cursor = str(args.get("cursor") or "")
        offset = _int(base64.b64decode(cursor).decode().partition(":")[2], 0) if cursor else 0
        page = items[offset : offset + limit]
        has_more = offset + limit < len(items)
        out: dict[str, Any] = {
            "ok": True,
            "messages": [self._public(m, include_metadata=include_metadata) for m in page],
            "has_more": has_more,
        }
        if has_more:
            next_cursor = base64.b64encode(f"offset:{offset + limit}".encode()).decode()
            out["response_metadata"] = {"next_cursor": next_cursor}
        return out

    @staticmethod
    def _in_range(ts: str, args: dict[str, Any]) -> bool:
        inclusive = _flag(args.get("inclusive"))
        key = _ts_key(ts)
        oldest = _ts_key(args.get("oldest") or 0)
        latest_arg = args.get("latest")
        if (key < oldest) or (key == oldest and not inclusive):
            return False
        if latest_arg:
            latest = _ts_key(latest_arg)
            if key > latest or (key == latest and not inclusive):
                return False
        return True

    def _channel_info(self, channel: str) -> dict[str, Any]:
        if channel.startswith("D"):
            return {
                "id": channel,
                "is_im": True,
                "user": channel[1:],
                "is_open": True,
                "created": 1700000000,
                "is_org_shared": False,
            }
        info = self._channels.get(channel) or {
            "name": channel.lower(),
            "is_private": False,
            "is_member": True,
            "is_archived": False,
        }
        return {
            "id": channel,
            "name": info["name"],
            "is_channel": not info["is_private"],
            "is_group": info["is_private"],
            "is_im": False,
            "is_private": info["is_private"],
            "is_archived": info["is_archived"],
            "is_member": info["is_member"],
            "created": 1700000000,
            "context_team_id": self.team_id,
        }

    def _user(self, user_id: str) -> dict[str, Any]:
        spec = self._users.get(user_id)
        if spec is None:
            is_bot = user_id == self.bot_user_id
            spec = {
                "name": "sla-bot" if is_bot else user_id.lower(),
                "real_name": "SLA Bot" if is_bot else user_id,
                "tz": "Asia/Tokyo",
                "presence": "active",
                "status_text": "",
                "status_emoji": "",
                "is_bot": is_bot,
                "email": None,
                "deleted": False,
            }
        return spec

    def _user_object(self, user_id: str) -> dict[str, Any]:
        spec = self._user(user_id)
        try:
            now = datetime.now(ZoneInfo(spec["tz"]))
            offset = now.utcoffset()
            tz_offset = int(offset.total_seconds()) if offset is not None else 0
            tz_label = now.tzname() or spec["tz"]
        except (ZoneInfoNotFoundError, ValueError):
            tz_offset, tz_label = 0, spec["tz"]
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": spec["name"],
            "deleted": spec["deleted"],
            "real_name": spec["real_name"],
            "tz": spec["tz"],
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "is_bot": spec["is_bot"],
            "is_admin": False,
            "is_app_user": False,
            "updated": 1700000000,
            "profile": self._profile(user_id),
        }

    def _profile(self, user_id: str) -> dict[str, Any]:
        spec = self._user(user_id)
        profile = {
            "real_name": spec["real_name"],
            "display_name": spec["name"],
            "status_text": spec["status_text"],
            "status_emoji": spec["status_emoji"],
            "team": self.team_id,
        }
        if spec["email"]:
            profile["email"] = spec["email"]
        return profile

    def _new_view(
        self, spec: Any, *, view_id: str | None = None, old: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if not isinstance(spec, dict) or "type" not in spec:
            raise _SlackError("invalid_arguments")
        vid = view_id or self._next_id("V")
        view: dict[str, Any] = {
            "id": vid,
            "team_id": self.team_id,
            "type": spec["type"],
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            "hash": f"{next(self._ids)}.fakehash",
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
            "previous_view_id": old.get("previous_view_id") if old else None,
            "root_view_id": old.get("root_view_id", vid) if old else vid,
            "app_id": self.app_id,
            "external_id": "",
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        view.update({k: v for k, v in spec.items() if k not in ("id", "hash", "state")})
        self.views[vid] = view
        return view

    # ------------------------------------------------------------------ methods

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-team.slack.com/",
            "team": "Fake Team",
            "user": "sla-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """A Socket Mode URL; the fake serves no WebSocket there (nothing in the bot needs it
        without a Socket Mode client under test)."""
        return {"ok": True, "url": f"wss://127.0.0.1:{self.port}/link/?ticket=fake-"
                                   f"{next(self._ids)}&app_id={self.app_id}"}

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        self._check_can_post(channel)
        if not self._has_content(args):
            raise _SlackError("no_text")
        fields = {
            "text": args.get("text") or "",
            "blocks": args.get("blocks") or [],
            "attachments": args.get("attachments") or [],
            "metadata": self._valid_metadata(args.get("metadata")),
        }
        if args.get("username"):
            fields["username"] = args["username"]
        message = self._store_message(
            channel, fields, args.get("thread_ts") or None, _flag(args.get("reply_broadcast"))
        )
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "message": self._public(message),
        }

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        message = self._find(channel, args.get("ts"))
        if not self._has_content(args) and "blocks" not in args and "attachments" not in args:
            raise _SlackError("no_text")
        # Like Slack: omitted blocks/attachments/metadata are retained, [] removes them.
        for key in ("text", "blocks", "attachments"):
            if key in args:
                message[key] = args[key] if args[key] is not None else message[key]
        if "metadata" in args:
            message["metadata"] = self._valid_metadata(args["metadata"])
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": self._public(message),
        }

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        message = self._find(channel, args.get("ts"))
        self._messages[channel].remove(message)
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        if not args.get("user"):
            raise _SlackError("user_not_found")
        if not self._has_content(args):
            raise _SlackError("no_text")
        ts = self._next_ts()
        self.ephemerals.append(
            {
                "channel": channel,
                "user": args["user"],
                "text": args.get("text") or "",
                "blocks": args.get("blocks") or [],
                "attachments": args.get("attachments") or [],
                "thread_ts": args.get("thread_ts") or None,
                "message_ts": ts,
            }
        )
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        message = self._find(channel, args.get("message_ts"))
        link = f"https://fake-team.slack.com/archives/{channel}/p{message['ts'].replace('.', '')}"
        if message.get("thread_ts") and message["thread_ts"] != message["ts"]:
            link += f"?thread_ts={message['thread_ts']}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            return {
                "ok": True,
                "channel": self._channel_info(self._resolve_channel(args["channel"])),
            }
        users = args.get("users") or ""
        user_ids = users if isinstance(users, list) else [u for u in str(users).split(",") if u]
        if not user_ids:
            raise _SlackError("users_list_not_supplied")
        if len(user_ids) == 1:
            channel_id = self.dm_channel(user_ids[0])
        else:
            channel_id = "G_" + "_".join(sorted(user_ids))
        out: dict[str, Any] = {"ok": True, "channel": {"id": channel_id}}
        if _flag(args.get("return_im")):
            out["channel"] = self._channel_info(channel_id)
        return out

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        items = [
            m
            for m in reversed(self._messages.get(channel, []))
            if self._is_top_level(m) and self._in_range(m["ts"], args)
        ]
        return self._page(items, args, _flag(args.get("include_all_metadata")))

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        ts = args.get("ts")
        try:
            root = self._find(channel, ts)
        except _SlackError:
            raise _SlackError("thread_not_found") from None
        root_ts = root.get("thread_ts") or root["ts"]
        thread = [
            m
            for m in self._messages.get(channel, [])
            if (m["ts"] == root_ts or m.get("thread_ts") == root_ts)
            and self._in_range(m["ts"], args)
        ]
        return self._page(thread, args, _flag(args.get("include_all_metadata")))

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "channel": self._channel_info(self._resolve_channel(args.get("channel"))),
        }

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        if channel.startswith("D"):
            raise _SlackError("method_not_supported_for_channel_type")
        info = self._channels.get(channel)
        if info is not None:
            if info["is_archived"]:
                raise _SlackError("is_archived")
            info["is_member"] = True
        return {"ok": True, "channel": self._channel_info(channel)}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id") and not args.get("interactivity_pointer"):
            raise _SlackError("invalid_arguments")
        return {"ok": True, "view": self._new_view(args.get("view"))}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._views_open(args)

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        old: dict[str, Any] | None = None
        if args.get("view_id"):
            old = self.views.get(args["view_id"])
        elif args.get("external_id"):
            old = next(
                (v for v in self.views.values() if v["external_id"] == args["external_id"]), None
            )
        else:
            raise _SlackError("invalid_arguments")
        if old is None:
            raise _SlackError("not_found")
        if args.get("hash") and args["hash"] != old["hash"]:
            raise _SlackError("hash_conflict")
        view = self._new_view(args.get("view"), view_id=old["id"], old=old)
        for user_id, home in self.home_views.items():
            if home["id"] == view["id"]:
                self.home_views[user_id] = view
        return {"ok": True, "view": view}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = args.get("user_id")
        if not user_id:
            raise _SlackError("invalid_arguments")
        old = self.home_views.get(user_id)
        if old is not None and args.get("hash") and args["hash"] != old["hash"]:
            raise _SlackError("hash_conflict")
        view = self._new_view(args.get("view"), view_id=old["id"] if old else None, old=old)
        self.home_views[user_id] = view
        return {"ok": True, "view": view}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = args.get("user")
        if not user_id or (self.known_users_only and user_id not in self._users
                           and user_id != self.bot_user_id):
            raise _SlackError("user_not_found")
        return {"ok": True, "user": self._user_object(user_id)}

    def _users_get_presence(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "presence": self._user(args.get("user") or self.bot_user_id)["presence"],
        }

    def _users_profile_get(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "profile": self._profile(args.get("user") or self.bot_user_id)}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").lower()
        for user_id, spec in self._users.items():
            if spec["email"] and spec["email"].lower() == email:
                return {"ok": True, "user": self._user_object(user_id)}
        raise _SlackError("users_not_found")

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        users = self._usergroups.get(str(args.get("usergroup")))
        if users is None:
            raise _SlackError("no_such_subteam")
        return {"ok": True, "users": list(users)}

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        name = args.get("name")
        if not name:
            raise _SlackError("invalid_name")
        message = self._find(channel, args.get("timestamp"))
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if self.bot_user_id in reaction["users"]:
                    raise _SlackError("already_reacted")
                reaction["users"].append(self.bot_user_id)
                reaction["count"] += 1
                break
        else:
            reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        return {"ok": True}

    def _files_get_upload_url_external(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or args.get("length") in (None, ""):
            raise _SlackError("invalid_arguments")
        file_id = self._next_id("F")
        self.files[file_id] = {
            "id": file_id,
            "name": args["filename"],
            "title": args["filename"],
            "length": _int(args["length"], 0),
            "size": None,
            "content": None,
            "completed": False,
            "channel": None,
            "initial_comment": None,
            "thread_ts": None,
        }
        return {"ok": True, "upload_url": self.url(f"/upload/{file_id}"), "file_id": file_id}

    def _upload(self, file_id: str, raw: bytes) -> _Answer:
        entry = self.files.get(file_id)
        if entry is None:
            return _Answer(
                404,
                {"ok": False, "error": "not_found"},
                raw=b"Not Found",
                content_type="text/plain",
            )
        entry["content"] = raw
        entry["size"] = len(raw)
        return _Answer(
            200, {"ok": True}, raw=f"OK - {len(raw)}".encode(), content_type="text/plain"
        )

    @staticmethod
    def _public_file(entry: dict[str, Any]) -> dict[str, Any]:
        return {k: entry[k] for k in ("id", "name", "title", "size")}

    def _files_complete_upload_external(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if not isinstance(files, list) or not files:
            raise _SlackError("invalid_arguments")
        entries = []
        for item in files:
            entry = self.files.get(item.get("id", "") if isinstance(item, dict) else "")
            if entry is None:
                raise _SlackError("file_not_found")
            entries.append((entry, item))
        channel_arg = args.get("channel_id") or (str(args.get("channels") or "").split(",")[0])
        channel = self._resolve_channel(channel_arg) if channel_arg else None
        if channel is not None:
            self._check_can_post(channel)
        for entry, item in entries:
            entry.update(
                title=item.get("title") or entry["title"],
                completed=True,
                channel=channel,
                initial_comment=args.get("initial_comment") or None,
                thread_ts=args.get("thread_ts") or None,
            )
        if channel is not None:
            self._store_message(
                channel,
                {
                    "text": args.get("initial_comment") or "",
                    "files": [self._public_file(e) for e, _ in entries],
                    "upload": True,
                },
                args.get("thread_ts") or None,
            )
        return {"ok": True, "files": [self._public_file(e) for e, _ in entries]}

    def _post_response_url(self, args: dict[str, Any]) -> _Answer:
        bound = self._response_urls.get(args["_name"], {})
        channel, ts, user = bound.get("channel"), bound.get("message_ts"), bound.get("user")
        ok = _Answer(200, {"ok": True}, raw=b"ok", content_type="text/plain")
        fields = {
            "text": args.get("text") or "",
            "blocks": args.get("blocks") or [],
            "attachments": args.get("attachments") or [],
        }
        try:
            if _flag(args.get("delete_original")) and channel and ts:
                self._messages[channel].remove(self._find(channel, ts))
            elif _flag(args.get("replace_original")) and channel and ts:
                self._find(channel, ts).update(fields)
            elif args.get("response_type") == "in_channel" and channel:
                self._store_message(channel, fields, args.get("thread_ts") or None)
            else:
                self.ephemerals.append(
                    {
                        **fields,
                        "channel": channel,
                        "user": user,
                        "thread_ts": None,
                        "message_ts": self._next_ts(),
                        "_name": args["_name"],
                    }
                )
        except _SlackError as e:
            return _Answer(
                404,
                {"ok": False, "error": e.error},
                raw=e.error.encode(),
                content_type="text/plain",
            )
        return ok
