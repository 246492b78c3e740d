"""File uploads for the outbox worker (kind ``file``, e.g. the weekly digest's chart).

Slack's current three-step API: ``files.getUploadURLExternal`` creates a private file, the
bytes are POSTed to its ``upload_url``, and ``files.completeUploadExternal`` shares it in the
channel. Only the last step is visible to people, so redoing a failed attempt from the start is
harmless until a ``complete`` may have succeeded. Each created file id is remembered on the row
before it is shared, so a later check (``bot.outbox.slack.find_posted``) can recognise the
share whichever attempt made it.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.outbox.sender import Job, Permanent, Retry, Transport
from bot.outbox.slack import classify
from bot.user_agent import USER_AGENT

__all__ = ["UPLOAD_METHOD", "has_shared", "upload_file"]

UPLOAD_METHOD = "files.completeUploadExternal"


def has_shared(job: Job) -> bool:
    """Only an attempt that created a file can have shared it."""
    return bool(job.args.get("file_ids"))


def upload_file(transport: Transport, job: Job) -> dict[str, Any]:
    """Create the file, upload its bytes, then share it: only the share is seen by people.

    A failure before ``complete`` leaves at most an unshared private file (Slack discards
    those), so it is retried from scratch; a ``complete`` whose outcome is unknown marks the
    row for a history check before any new attempt.
    """
    client = transport.client
    content = base64.b64decode(str(job.args.get("content_b64", "")))
    filename = str(job.args.get("filename") or "file.png")
    try:
        created = client.files_getUploadURLExternal(filename=filename, length=len(content))
    except SlackApiError as exc:
        raise _known_not_shared(classify(exc)) from None
    except (SlackClientError, OSError, TimeoutError) as exc:
        raise Retry(f"files.getUploadURLExternal: {type(exc).__name__}") from None
    file_id, upload_url = str(created.get("file_id")), str(created.get("upload_url"))
    _remember_file(transport, job, file_id)
    _post_bytes(upload_url, content, timeout=client.timeout)
    share: dict[str, Any] = {
        "files": [{"id": file_id, "title": str(job.args.get("title") or filename)}],
        "channel_id": job.channel,
    }
    for optional in ("initial_comment", "thread_ts"):
        if job.args.get(optional):
            share[optional] = str(job.args[optional])
    try:
        response = client.files_completeUploadExternal(**share)
    except SlackApiError as exc:
        raise classify(exc) from None
    except (SlackClientError, OSError, TimeoutError) as exc:
        raise Retry(f"{UPLOAD_METHOD}: {type(exc).__name__}", uncertain=True) from None
    data = dict(response.data) if isinstance(response.data, dict) else {}
    return {**data, "channel": job.channel}


def _known_not_shared(error: Exception) -> Exception:
    """Before ``complete`` nothing reached the channel: never an uncertain outcome."""
    if isinstance(error, Retry):
        error.uncertain = False
    return error


def _post_bytes(url: str, content: bytes, *, timeout: int) -> None:
    if not url.startswith(("https://", "http://")):
        raise Permanent("files.getUploadURLExternal returned no upload URL")
    request = urllib.request.Request(
        url, data=content, method="POST",
        headers={"Content-Type": "application/octet-stream", "User-Agent": USER_AGENT},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise Retry(f"upload: http {exc.code}") from None
        raise Permanent(f"upload: http {exc.code}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise Retry(f"upload: {type(exc).__name__}") from None


def _remember_file(transport: Transport, job: Job, file_id: str) -> None:
    """Record a created file on the row before it can be shared, so a later check can
    recognise the share in the channel whichever attempt made it."""
    ids = [str(i) for i in job.args.get("file_ids") or []] + [file_id]
    job.args["file_ids"] = ids
    with transport.services.unit_of_work() as uow:
        row = uow.outbox.get(job.id)
        if row is not None:
            row.payload = {**row.payload, "file_ids": ids}
            uow.commit()
