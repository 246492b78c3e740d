"""``sla-bot doctor``: the installation checked against Slack itself, item by item.

``check-config`` can only say the configuration is well-formed; whether the token still
works, the app got every scope of ``manifest.yml``, the bot is in its channels and the ids in
``[roles]`` are people only Slack knows. Each check asks it once and yields a ``Check``: what
was found and, when it is wrong, what to do — as catalog keys and parameters, so the view
renders them in the policy's language. Nothing here prints, and no token leaves this module.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.manifest import MANIFEST_PATH, ManifestError, bot_scopes
from bot.placeholders import ENV_PLACEHOLDERS
from bot.policy import Policy
from bot.settings import Settings

__all__ = ["TIMEOUT_SECONDS", "Check", "Text", "doctor_client", "run_checks"]

#: per request: a Slack that does not answer is reported, not waited for
TIMEOUT_SECONDS = 5
#: answers meaning the bot token itself is unusable: every later call would fail the same way
TOKEN_ERRORS = frozenset(
    {"invalid_auth", "token_revoked", "token_expired", "account_inactive", "not_authed",
     "not_allowed_token_type", "team_access_not_granted"}
)
#: what Slack answers for a user group id that does not name a group of this workspace
NO_GROUP_ERRORS = frozenset({"no_such_subteam", "invalid_usergroup", "subteam_not_found"})
ROLE_KEYS = ("reps", "managers", "marketers")


@dataclass(frozen=True)
class Text:
    """A catalog key (under ``doctor.``) and its parameters."""

    key: str
    params: Mapping[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One line of the checklist: ``detail`` says what was found, ``fix`` what to do."""

    name: str  # token, scopes, channel, usergroup, user, socket_mode, slack
    ok: bool
    detail: Text
    fix: Text | None = None


class _Unreachable(Exception):
    """Slack did not answer (connection refused, DNS, timeout, not JSON)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def doctor_client(settings: Settings) -> WebClient:
    """The bot token's client for the checks: no retries and a short timeout, so a Slack that
    is down fails the first check at once instead of after minutes of backoff."""
    return WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                     timeout=TIMEOUT_SECONDS, retry_handlers=[])


def _call(method: Any, **kwargs: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The answer's body (``ok`` true or false) and headers (lower-cased keys)."""
    try:
        response = method(**kwargs)
    except SlackApiError as exc:
        response = exc.response
        # Slack down or overloaded (5xx, 429), or an HTML error page from a proxy
        if response.status_code >= 500 or response.status_code == 429 or not isinstance(
            response.data, dict
        ):
            raise _Unreachable(f"HTTP {response.status_code}") from None
    except (SlackClientError, OSError, ValueError) as exc:
        raise _Unreachable(_reason(exc)) from None
    headers = {str(k).lower(): str(v) for k, v in (response.headers or {}).items()}
    return dict(response.data), headers  # type: ignore[arg-type]


def _reason(exc: BaseException) -> str:
    """Why a request failed, without the request (its URL could carry a token as a query)."""
    cause = getattr(exc, "reason", None)
    text = str(cause if cause is not None else exc) or type(exc).__name__
    return text[:120]


def run_checks(settings: Settings, policy: Policy, client: WebClient) -> list[Check]:
    """Every check, in the order an operator fixes them; stops after a token that does not
    work (or a Slack that does not answer), since nothing else can be checked then."""
    checks: list[Check] = []
    if settings.slack_bot_token == ENV_PLACEHOLDERS["SLACK_BOT_TOKEN"]:
        # .env copied from .env.example: Slack would only say invalid_auth, after a round trip
        return [Check("token", False, Text("token_placeholder"), Text("token_placeholder_fix"))]
    try:
        token = _check_token(client, settings)
        checks.append(token.check)
        if not token.check.ok:
            return checks
        checks.append(_check_scopes(token.scopes))
        checks += _check_channels(client, policy, token.bot_name)
        checks += _check_usergroups(client, policy)
        checks += _check_users(client, policy)
        if settings.slack_app_token:
            checks.append(_check_socket_mode(client, settings.slack_app_token))
    except _Unreachable as exc:
        checks.append(Check("slack", False,
                            Text("unreachable", {"url": settings.slack_api_url,
                                                 "reason": exc.reason}),
                            Text("unreachable_fix")))
    return checks


@dataclass(frozen=True)
class _Token:
    check: Check
    scopes: str | None = None  # the x-oauth-scopes header; None when Slack sent none
    bot_name: str = ""


def _check_token(client: WebClient, settings: Settings) -> _Token:
    data, headers = _call(client.auth_test)
    if not data.get("ok"):
        error = str(data.get("error"))
        fix = Text("token_fix") if error in TOKEN_ERRORS else None
        return _Token(Check("token", False, Text("token_refused", {"error": error}), fix))
    bot = str(data.get("user") or data.get("user_id") or "")
    check = Check("token", True, Text("token_ok", {"bot": bot, "team": str(data.get("team"))}))
    return _Token(check, headers.get("x-oauth-scopes"), bot)


def _check_scopes(granted_header: str | None) -> Check:
    try:
        wanted = bot_scopes()
    except ManifestError:
        return Check("scopes", False, Text("manifest_missing", {"path": str(MANIFEST_PATH)}),
                     Text("manifest_missing_fix"))
    if granted_header is None:
        return Check("scopes", False, Text("scopes_unknown"), Text("scopes_unknown_fix"))
    granted = {s.strip() for s in granted_header.split(",") if s.strip()}
    missing = [scope for scope in wanted if scope not in granted]
    if missing:
        return Check("scopes", False,
                     Text("scopes_missing", {"count": len(missing),
                                             "scopes": ", ".join(missing)}),
                     Text("scopes_fix"))
    return Check("scopes", True, Text("scopes_ok", {"count": len(wanted)}))


def _refused(name: str, data: dict[str, Any], subject: Mapping[str, str | int]) -> Check:
    """An answer no specific check expected: the scope it lacks, or Slack's error code."""
    error = str(data.get("error"))
    if error == "missing_scope":
        return Check(name, False, Text("missing_scope", {**subject,
                                                         "scope": str(data.get("needed"))}),
                     Text("scopes_fix"))
    return Check(name, False, Text("refused", {**subject, "error": error}))


def _check_channels(client: WebClient, policy: Policy, bot: str) -> Iterator[Check]:
    uses: dict[str, list[str]] = {}
    channels = policy.channels
    for use, channel_id in (("handoff", channels.handoff),
                            ("marketing_feedback", channels.marketing_feedback),
                            ("digest", channels.digest_channel)):
        uses.setdefault(channel_id, []).append(use)
    for channel_id, names in uses.items():
        subject = {"id": channel_id, "roles": ", ".join(names)}
        data, _ = _call(client.conversations_info, channel=channel_id)
        if not data.get("ok"):
            if data.get("error") == "channel_not_found":
                yield Check("channel", False, Text("channel_not_found", subject),
                            Text("channel_not_found_fix", {"bot": bot}))
            else:
                yield _refused("channel", data, subject)
            continue
        info = data.get("channel") or {}
        named = {**subject, "name": str(info.get("name") or channel_id)}
        if info.get("is_archived"):
            yield Check("channel", False, Text("channel_archived", named),
                        Text("channel_archived_fix"))
        elif not info.get("is_member"):
            yield Check("channel", False, Text("channel_not_member", named),
                        Text("channel_not_member_fix", {**named, "bot": bot}))
        else:
            yield Check("channel", True, Text("channel_ok", named))


def _people(policy: Policy) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """User ids and user-group ids of the policy, each with the roles that name it."""
    users: dict[str, list[str]] = {}
    groups: dict[str, list[str]] = {}
    roles = policy.roles
    for role in ROLE_KEYS:
        people = getattr(roles, role)
        if isinstance(people, str):
            groups.setdefault(people, []).append(role)
        else:
            for user_id in people:
                users.setdefault(user_id, []).append(role)
    for user_id in roles.away:
        users.setdefault(user_id, []).append("away")
    for user_id in policy.auto_assign.weights:
        users.setdefault(user_id, []).append("auto_assign.weights")
    return users, groups


def _check_usergroups(client: WebClient, policy: Policy) -> Iterator[Check]:
    for group_id, roles in _people(policy)[1].items():
        subject = {"id": group_id, "roles": ", ".join(roles)}
        data, _ = _call(client.usergroups_users_list, usergroup=group_id)
        if not data.get("ok"):
            if data.get("error") in NO_GROUP_ERRORS:
                yield Check("usergroup", False, Text("group_not_found", subject),
                            Text("group_not_found_fix"))
            else:
                yield _refused("usergroup", data, subject)
        elif not data.get("users"):
            yield Check("usergroup", False, Text("group_empty", subject), Text("group_empty_fix"))
        else:
            yield Check("usergroup", True,
                        Text("group_ok", {**subject, "count": len(data["users"])}))


def _check_users(client: WebClient, policy: Policy) -> Iterator[Check]:
    for user_id, roles in _people(policy)[0].items():
        subject = {"id": user_id, "roles": ", ".join(roles)}
        data, _ = _call(client.users_info, user=user_id)
        if not data.get("ok"):
            if data.get("error") in {"user_not_found", "users_not_found"}:
                yield Check("user", False, Text("user_not_found", subject),
                            Text("user_not_found_fix"))
            else:
                yield _refused("user", data, subject)
            continue
        user = data.get("user") or {}
        named = {**subject, "name": str(user.get("name") or user_id)}
        if user.get("deleted"):
            yield Check("user", False, Text("user_deleted", named), Text("user_deleted_fix"))
        elif user.get("is_bot") or user_id == "USLACKBOT":
            yield Check("user", False, Text("user_is_bot", named), Text("user_is_bot_fix"))
        else:
            yield Check("user", True, Text("user_ok", named))


def _check_socket_mode(client: WebClient, app_token: str) -> Check:
    """``apps.connections.open`` with the app-level token: what Socket Mode does first."""
    data, _ = _call(client.apps_connections_open, app_token=app_token)
    if data.get("ok") and data.get("url"):
        return Check("socket_mode", True, Text("socket_ok"))
    return Check("socket_mode", False, Text("socket_refused", {"error": str(data.get("error"))}),
                 Text("socket_fix"))
