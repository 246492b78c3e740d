"""Slack Web API calls for the outbox worker: a call made once, Slack's errors classified, and
an earlier attempt looked up in the channel's history.

``chat.postMessage`` has no idempotency key, so each post carries message ``metadata`` with the
outbox key (``with_metadata``); a shared file is recognised by the file ids remembered on its
row (``bot.outbox.files``).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.outbox.sender import Job, Permanent, Retry, Transport

__all__ = [
    "EVENT_TYPE",
    "PERMANENT_ERRORS",
    "call_api",
    "classify",
    "find_posted",
    "is_post",
    "with_metadata",
]

# the worker's log: every line about a row in one place
log = logging.getLogger("bot.outbox.worker")

EVENT_TYPE = "sla_outbox"
HISTORY_PAGES = 3
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed",
    "account_inactive", "token_revoked", "token_expired", "no_permission", "missing_scope",
    "restricted_action", "msg_too_long", "invalid_blocks", "invalid_metadata_format",
    "user_not_found", "cannot_dm_bot", "ekm_access_denied", "team_access_not_granted",
})


def with_metadata(method: str, args: dict[str, Any], key: str) -> dict[str, Any]:
    """A post carries its outbox key, so a later attempt can find it (``find_posted``)."""
    if method == "chat.postMessage":
        args["metadata"] = {"event_type": EVENT_TYPE, "event_payload": {"key": key}}
    return args


def is_post(job: Job) -> bool:
    """Only a post can be found again in a channel's history (by its metadata)."""
    return job.method == "chat.postMessage"


def call_api(transport: Transport, job: Job) -> dict[str, Any]:
    """Make the job's Slack call once; a lost answer is an uncertain retry."""
    try:
        response = transport.client.api_call(job.method, json=job.args)
        return dict(response.data) if isinstance(response.data, dict) else {}
    except SlackApiError as exc:
        raise classify(exc) from None
    except (SlackClientError, OSError, TimeoutError) as exc:
        raise Retry(f"connection: {type(exc).__name__}", uncertain=True) from None


def classify(exc: SlackApiError) -> Exception:
    """Slack's error as the worker's: a retry (when, and whether it may have landed) or a
    permanent failure."""
    status = exc.response.status_code
    error = str(exc.response.get("error", "")) if exc.response is not None else ""
    if status == 429:
        retry_after = exc.response.headers.get("Retry-After") or exc.response.headers.get(
            "retry-after"
        )
        try:
            after = float(retry_after) if retry_after is not None else 1.0
        except ValueError:
            after = 1.0
        return Retry("ratelimited", after_s=after)
    if status >= 500:
        return Retry(f"http {status}", uncertain=True)
    if error in PERMANENT_ERRORS:
        return Permanent(error)
    return Retry(error or f"http {status}", uncertain=error in {"", "request_timeout"})


def find_posted(transport: Transport, job: Job) -> dict[str, Any] | None:
    """Look for an earlier attempt of this job in the channel's recent history: a file it
    shared, or a post carrying its key."""
    client = transport.client
    file_ids = {str(i) for i in job.args.get("file_ids") or []}
    cursor: str | None = None
    channel = _conversation(transport, job.channel)
    for _ in range(HISTORY_PAGES):
        try:
            response = client.conversations_history(
                channel=channel, limit=200, include_all_metadata=True, cursor=cursor
            )
        except SlackApiError as exc:
            raise classify(exc) from None
        except (SlackClientError, OSError, TimeoutError) as exc:
            raise Retry(f"history: {type(exc).__name__}", uncertain=True) from None
        for message in response.get("messages", []):
            shared = {str(f.get("id")) for f in message.get("files") or []
                      if isinstance(f, dict)}
            if file_ids & shared:
                log.info("outbox %s: the file was shared by an earlier attempt (%s); "
                         "adopting it", job.id, message.get("ts"))
                return {"ok": True, "channel": job.channel, "ts": message.get("ts")}
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == EVENT_TYPE
                and (metadata.get("event_payload") or {}).get("key") == job.key
            ):
                log.info("outbox %s: found an earlier post %s; adopting it", job.id,
                         message.get("ts"))
                return {"ok": True, "channel": job.channel, "ts": message.get("ts")}
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    return None


def _conversation(transport: Transport, channel: str) -> str:
    """A DM posted to a user id lives in a conversation of its own: find its id."""
    if not channel.startswith(("U", "W")):
        return channel
    try:
        response = transport.client.conversations_open(users=channel)
    except SlackApiError as exc:
        raise classify(exc) from None
    except (SlackClientError, OSError, TimeoutError) as exc:
        raise Retry(f"conversations.open: {type(exc).__name__}", uncertain=True) from None
    return str((response.get("channel") or {}).get("id") or channel)
