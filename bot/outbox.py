"""The outbox worker: delivers what the database says is owed to Slack, exactly once.

Every Slack message the bot owes is an ``OutboxMessage`` row committed together with the change
that caused it. This worker claims due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several processes never take the same row; SQLite serializes writers), sends them without
holding a transaction, and records the outcome.

``chat.postMessage`` has no idempotency key, so each post carries message ``metadata`` with the
outbox key. When an earlier attempt's outcome is unknown (the process died, the answer was lost,
the call timed out) the worker first looks for that key in the channel's recent history and
adopts the message it finds instead of posting a second one.

Outbound webhooks (kind ``webhook``, see ``bot.outbound``) ride the same rows, claims, leases and
backoff, but are not Slack calls: they are POSTed to the policy's URL, never paced as a channel
and never looked up in history. Their receivers dedupe on the delivery id instead, since a crash
between the POST and its commit sends again (at least once).

File uploads (kind ``file``, e.g. the weekly digest's chart) use Slack's current three-step
API: ``files.getUploadURLExternal`` creates a private file, the bytes are POSTed to its
``upload_url``, and ``files.completeUploadExternal`` shares it in the channel. Only the last
step is visible to people, so redoing a failed attempt from the start is harmless until a
``complete`` may have succeeded. Each created file id is remembered on the row before it is
shared; after an attempt whose outcome is unknown the worker looks for any of those ids in the
channel's recent history and adopts the share it finds instead of uploading again.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import func, or_, select

from bot.adapters.hubspot_deals import run as run_deal_fetch
from bot.adapters.hubspot_fetch import Moot
from bot.adapters.hubspot_fetch import run as run_fetch
from bot.agreement.proposals import (
    WAIT_FOR_POST,
    PostGone,
    PostNotSentYet,
    proposal_call,
)
from bot.home import SUPERSEDED, home_publish_args
from bot.lifecycle import Action, Surface, apply
from bot.notices import still_owed
from bot.outbound import (
    LANE,
    DeliveryRefused,
    DeliveryRetry,
    check_config,
    deliver,
)
from bot.services import Services
from bot.timings import stamp
from bot.user_agent import USER_AGENT, slack_client
from bot.views.handoff import handoff_message
from storage.models import Lead, LeadStatus, OutboxMessage, OutboxStatus
from storage.outbox_kind import OutboxKind
from storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

EVENT_TYPE = "sla_outbox"
UPLOAD_METHOD = "files.completeUploadExternal"
LEASE = timedelta(seconds=60)
CHANNEL_INTERVAL = timedelta(seconds=1)  # Slack allows about one message per second per channel
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 300.0
MAX_ATTEMPTS = 12
HISTORY_PAGES = 3
#: after an attempt whose outcome is unknown, wait at least this long before looking for it in
#: the channel: a post that timed out on our side may still be completing on Slack's
UNCERTAIN_RECHECK_S = 30.0
#: a webhook receiver may be down for a maintenance window: keep retrying (at the backoff cap)
#: this long after the outcome was queued before giving up, rather than ``MAX_ATTEMPTS``
WEBHOOK_RETRY_FOR = timedelta(hours=24)
#: rows that call no Slack API (a webhook receiver, HubSpot's CRM API): after Slack's in a pass,
#: retried for ``WEBHOOK_RETRY_FOR`` rather than ``MAX_ATTEMPTS``
OFF_SLACK_KINDS = frozenset({
    OutboxKind.WEBHOOK, OutboxKind.HUBSPOT_FETCH, OutboxKind.HUBSPOT_DEAL_FETCH})
#: HubSpot's thin events: what the worker runs to fetch and store each kind
FETCHERS: dict[str, Callable[[Services, dict[str, Any]], dict[str, Any]]] = {
    OutboxKind.HUBSPOT_FETCH: run_fetch, OutboxKind.HUBSPOT_DEAL_FETCH: run_deal_fetch}
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed",
    "account_inactive", "token_revoked", "token_expired", "no_permission", "missing_scope",
    "restricted_action", "msg_too_long", "invalid_blocks", "invalid_metadata_format",
    "user_not_found", "cannot_dm_bot", "ekm_access_denied", "team_access_not_granted",
})


class _Retry(Exception):
    def __init__(
        self,
        reason: str,
        after_s: float | None = None,
        uncertain: bool = False,
        hold_lane: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_s = after_s
        self.uncertain = uncertain  # the call may have reached Slack
        #: the destination as a whole is unreachable: hold back the rest of its lane until this
        #: row's retry, instead of waiting out a timeout for each of them
        self.hold_lane = hold_lane


class _Permanent(Exception):
    pass


@dataclass
class _Job:
    id: int
    key: str
    kind: str
    channel: str
    needs_check: bool
    attempts: int
    method: str
    args: dict[str, Any]


def worker_client(services: Services) -> WebClient:
    """A client without the SDK's automatic retries: a blind retry could post twice."""
    return slack_client(
        token=services.settings.slack_bot_token,
        base_url=services.settings.slack_api_url,
        timeout=10,
        retry_handlers=[],
    )


class OutboxWorker:
    def __init__(
        self,
        services: Services,
        *,
        client: WebClient | None = None,
        worker_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        lease: timedelta = LEASE,
        channel_interval: timedelta = CHANNEL_INTERVAL,
    ) -> None:
        check_config(services.settings, services.policy)  # never send a webhook unsigned
        self.services = services
        self.client = client or worker_client(services)
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:8]}"
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.lease = lease
        self.channel_interval = channel_interval
        self._next_slot: dict[str, datetime] = {}

    # ------------------------------------------------------------------ the loop

    def run_forever(self, stop: threading.Event, poll_interval: float = 1.0) -> None:
        """Deliver until ``stop`` is set; wake early when this process queued something."""
        while not stop.is_set():
            try:
                handled = self.run_once()
            except Exception:
                log.exception("outbox pass failed; retrying")
                handled = 0
            if handled == 0:
                self.services.outbox_ready.wait(poll_interval)
                self.services.outbox_ready.clear()

    def run_once(self, limit: int = 20) -> int:
        """Claim what is due and deliver it; returns how many rows were handled.

        Pacing never blocks other channels: rows of a channel whose next slot is still ahead are
        not claimed (or, claimed in this pass behind another row of the same channel, are put
        back untouched, so each channel keeps its order). Only when paced rows are all that is
        left does the worker wait for the first slot.
        """
        busy = self._busy_channels()
        # Slack first: a slow or unreachable webhook receiver must not delay a handoff claimed
        # in the same pass (sorting is stable, so each lane keeps its order)
        jobs = sorted(self._claim(limit, busy), key=lambda job: job.kind in OFF_SLACK_KINDS)
        blocked: dict[str, datetime] = {}
        for job in jobs:
            until = blocked.get(job.channel)
            if until is not None:
                self._release(job, until)
                continue
            if job.kind != OutboxKind.WEBHOOK:  # a receiver is not a Slack channel
                if job.channel in self._busy_channels():
                    self._release(job, None)
                    continue
                self._take_slot(job.channel)
            try:
                outcome = self._deliver(job)
            except Exception as exc:  # recording the outcome failed: the lease brings it back
                log.error("outbox %s (%s): recording the outcome failed: %s", job.id, job.kind,
                          type(exc).__name__)
                continue
            if outcome is not None:
                blocked[job.channel] = outcome
        if not jobs and busy and self._pending_on(busy):
            self._wait_for_a_slot()
            return 1
        return len(jobs)

    def _busy_channels(self) -> set[str]:
        now = self.services.clock.now()
        return {channel for channel, slot in self._next_slot.items() if slot > now}

    def _take_slot(self, channel: str) -> None:
        """Keep to about one message per second per channel, so 429s stay rare."""
        self._next_slot[channel] = self.services.clock.now() + self.channel_interval

    def _pending_on(self, channels: set[str]) -> bool:
        now = self.services.clock.now()
        with self.services.unit_of_work() as uow:
            found = uow.session.scalar(
                select(OutboxMessage.id).where(
                    OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
                    OutboxMessage.not_before <= now,
                    OutboxMessage.channel.in_(sorted(channels)),
                ).limit(1)
            )
            uow.rollback()
        return found is not None

    def _wait_for_a_slot(self) -> None:
        now = self.services.clock.now()
        slots = [slot for slot in self._next_slot.values() if slot > now]
        if slots:
            self.sleep((min(slots) - now).total_seconds())

    # ------------------------------------------------------------------ claiming

    def _claim(self, limit: int, busy: set[str] | None = None) -> list[_Job]:
        now = self.services.clock.now()
        claimed: list[int] = []
        with self.services.unit_of_work() as uow:
            query = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
                    OutboxMessage.not_before <= now,
                    or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= now),
                    or_(OutboxMessage.channel.is_(None),
                        OutboxMessage.channel.not_in(sorted(busy or ()))),
                )
                .order_by(OutboxMessage.not_before, OutboxMessage.id)
                .limit(limit)
            )
            if uow.session.bind is not None and uow.session.bind.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(uow.session.scalars(query))
            # one render covers a person's Home refreshes claimed together (see _skip_superseded)
            last_home = {_home_user(row): row.id for row in rows if row.kind == OutboxKind.HOME}
            for row in rows:
                if row.kind == OutboxKind.HOME and last_home[_home_user(row)] != row.id:
                    self._finish(uow, row, OutboxStatus.SKIPPED, error=SUPERSEDED)
                    continue
                if row.status == OutboxStatus.SENDING:
                    row.needs_check = True  # its worker stopped mid-send: Slack may have it
                row.status = OutboxStatus.SENDING
                row.locked_by = self.worker_id
                row.locked_until = now + self.lease
                claimed.append(row.id)
            uow.commit()
        jobs: list[_Job] = []
        for row_id in claimed:
            try:
                job = self._prepare(row_id)
            except Exception as exc:  # this row's data cannot be rendered: it fails alone
                self._unpreparable(row_id, exc)
                continue
            if job is not None:
                jobs.append(job)
        return jobs

    def _unpreparable(self, row_id: int, exc: Exception) -> None:
        """A row whose message cannot be built (a bug, or data no view can render, such as a
        lead dated in the year 9999) is retried with backoff like any failed attempt and ends
        ``failed`` after ``MAX_ATTEMPTS``, shown by ``/healthz`` and ``check-config``; the
        rest of the pass goes on. Never the message: it may quote personal data."""
        name = type(exc).__name__
        log.error("outbox %s: cannot prepare it: %s", row_id, name)
        with self.services.unit_of_work() as uow:
            row = uow.session.get(OutboxMessage, row_id)
            if row is None or row.locked_by != self.worker_id:
                return
            job = _Job(id=row.id, key=row.idempotency_key, kind=row.kind,
                       channel=str(row.channel or ""), needs_check=row.needs_check,
                       attempts=row.attempts, method="", args={})
        # nothing was sent: an unknown earlier attempt keeps its needs_check on the row
        self._reschedule(job, _Retry(f"cannot prepare: {name}"))

    def _prepare(self, row_id: int) -> _Job | None:
        """Build the Slack call from current state (a lead may have changed since enqueue)."""
        now = self.services.clock.now()
        with self.services.unit_of_work() as uow:
            row = uow.session.get(OutboxMessage, row_id)
            if row is None or row.locked_by != self.worker_id:
                return None
            if row.kind == OutboxKind.HANDOFF:
                lead = uow.leads.get(row.lead_id) if row.lead_id else None
                if lead is None or lead.status != LeadStatus.QUEUED:
                    self._finish(uow, row, OutboxStatus.SKIPPED, error="lead no longer queued")
                    uow.commit()
                    return None
                payload = handoff_message(lead, self.services.policy, now, self.services.t)
                method, args = "chat.postMessage", {"channel": row.channel, **payload}
            elif row.kind == OutboxKind.HOME:
                user_id = _home_user(row)
                method, args = "views.publish", home_publish_args(self.services, uow, user_id)
            elif row.kind == OutboxKind.WEBHOOK:
                config = self.services.policy.outbound_webhook
                if config is None:  # the operator turned the webhook off since it was queued
                    self._finish(uow, row, OutboxStatus.SKIPPED, error="webhook not configured")
                    uow.commit()
                    return None
                method = "POST"
                args = {"url": config.url, "timeout": config.timeout_seconds,
                        "body": str(row.payload.get("body", ""))}
            elif row.kind == OutboxKind.FILE:
                method, args = UPLOAD_METHOD, {"channel": row.channel, **row.payload}
            elif row.kind in FETCHERS:  # a thin HubSpot event: read its contact or deal
                method, args = "GET", dict(row.payload)
            elif row.kind == OutboxKind.AGREEMENT_PROPOSAL:  # rendered as the proposal is now
                try:
                    method, args = proposal_call(self.services, uow, row)
                except PostNotSentYet:  # an update or reply waits for its post's ts
                    row.status = OutboxStatus.PENDING
                    row.not_before = now + WAIT_FOR_POST
                    row.locked_by = row.locked_until = None
                    uow.commit()
                    return None
                except PostGone as gone:
                    self._finish(uow, row, OutboxStatus.SKIPPED, error=str(gone))
                    uow.commit()
                    return None
            else:
                notice = row.payload.get("notice")
                if isinstance(notice, dict) and not still_owed(
                    self.services, uow, int(notice.get("lead_id", 0)), str(notice.get("key"))
                ):  # e.g. the touch was logged after the reminder was queued
                    self._finish(uow, row, OutboxStatus.SKIPPED, error="reminder became moot")
                    uow.commit()
                    return None
                method = str(row.payload.get("method", "chat.postMessage"))
                args = dict(row.payload.get("args", {}))
            if method == "chat.postMessage":
                args["metadata"] = {
                    "event_type": EVENT_TYPE,
                    "event_payload": {"key": row.idempotency_key},
                }
            return _Job(
                id=row.id,
                key=row.idempotency_key,
                kind=row.kind,
                channel=str(args.get("channel") or row.channel or ""),
                needs_check=row.needs_check,
                attempts=row.attempts,
                method=method,
                args=args,
            )

    # ------------------------------------------------------------------ delivering

    def _deliver(self, job: _Job) -> datetime | None:
        """Send one job and record the outcome; returns an instant the channel is blocked until."""
        try:
            found = self._find_posted(job) if job.needs_check and self._checkable(job) else None
            response = found or self._call(job)
        except _Retry as retry:
            return self._reschedule(job, retry)
        except _Permanent as failure:
            self._fail(job, str(failure))
            return None
        except Exception as exc:  # a bug or bad data must not abort the pass or loop the row
            name = type(exc).__name__  # never the message: it may quote personal data
            log.error("outbox %s (%s): unexpected %s", job.id, job.kind, name)
            # a post may have reached Slack before the error: look before posting again
            return self._reschedule(job, _Retry(f"unexpected {name}",
                                                uncertain=self._checkable(job)))
        self._succeed(job, response, sent=found is None)
        return None

    @staticmethod
    def _checkable(job: _Job) -> bool:
        """Only a post or a shared file can be found again in a channel's history."""
        if job.kind == OutboxKind.FILE:
            return bool(job.args.get("file_ids"))
        return job.kind != OutboxKind.WEBHOOK and job.method == "chat.postMessage"

    def _call(self, job: _Job) -> dict[str, Any]:
        if job.kind == OutboxKind.WEBHOOK:
            return self._post_webhook(job)
        if job.kind == OutboxKind.FILE:
            return self._upload_file(job)
        if job.kind in FETCHERS:
            return self._fetch(job)
        try:
            response = self.client.api_call(job.method, json=job.args)
            return dict(response.data) if isinstance(response.data, dict) else {}
        except SlackApiError as exc:
            raise self._classify(exc) from None
        except (SlackClientError, OSError, TimeoutError) as exc:
            raise _Retry(f"connection: {type(exc).__name__}", uncertain=True) from None

    def _classify(self, exc: SlackApiError) -> Exception:
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
            return _Retry("ratelimited", after_s=after)
        if status >= 500:
            return _Retry(f"http {status}", uncertain=True)
        if error in PERMANENT_ERRORS:
            return _Permanent(error)
        return _Retry(error or f"http {status}", uncertain=error in {"", "request_timeout"})

    def _post_webhook(self, job: _Job) -> dict[str, Any]:
        """POST a signed delivery; failures map onto the worker's retry and failure paths."""
        secret = self.services.settings.outbound_webhook_secret
        if not secret:  # guarded at start; a row is never sent unsigned
            raise _Permanent("OUTBOUND_WEBHOOK_SECRET not set")
        try:
            status = deliver(
                str(job.args["url"]),
                str(job.args["body"]).encode("utf-8"),
                delivery_id=job.key,
                secret=secret,
                now=self.services.clock.now(),
                timeout=float(job.args["timeout"]),
            )
        except DeliveryRetry as retry:
            # a receiver dedupes on the delivery id, so no "uncertain" re-check delay is owed
            raise _Retry(retry.reason, after_s=retry.after_s, hold_lane=retry.unreachable) from None
        except DeliveryRefused as refused:
            raise _Permanent(str(refused)) from None
        return {"ok": True, "channel": LANE, "status": status}

    def _fetch(self, job: _Job) -> dict[str, Any]:
        """Fetch a thin HubSpot event's contact or deal and store what it says
        (``bot.adapters.hubspot_fetch``, ``hubspot_deals``); a 429 holds back the lane until
        HubSpot's ``Retry-After``."""
        try:
            return FETCHERS[job.kind](self.services, job.args)
        except DeliveryRetry as retry:
            raise _Retry(retry.reason, after_s=retry.after_s,
                         hold_lane=retry.unreachable or retry.after_s is not None) from None
        except Moot as gone:  # deleted, merged, no lead: moot, like a lead no longer queued
            with self.services.unit_of_work() as uow:
                row = uow.session.get(OutboxMessage, job.id)
                if row is not None:
                    row.attempts += 1
                    self._finish(uow, row, OutboxStatus.SKIPPED, error=str(gone))
                    uow.commit()
            return {"ok": True, "channel": LANE, "status": "skipped"}
        except DeliveryRefused as refused:
            raise _Permanent(str(refused)) from None
        except Exception as exc:  # a bug or bad data must not abort the pass or loop the row
            name = type(exc).__name__  # never the message: it may quote personal data
            log.error("outbox %s (%s): unexpected %s", job.id, job.kind, name)
            raise _Retry(f"unexpected {name}") from None

    def _upload_file(self, job: _Job) -> dict[str, Any]:
        """Create the file, upload its bytes, then share it: only the share is seen by people.

        A failure before ``complete`` leaves at most an unshared private file (Slack discards
        those), so it is retried from scratch; a ``complete`` whose outcome is unknown marks the
        row for a history check (``_find_posted``) before any new attempt.
        """
        content = base64.b64decode(str(job.args.get("content_b64", "")))
        filename = str(job.args.get("filename") or "file.png")
        try:
            created = self.client.files_getUploadURLExternal(filename=filename,
                                                             length=len(content))
        except SlackApiError as exc:
            raise self._known_not_shared(self._classify(exc)) from None
        except (SlackClientError, OSError, TimeoutError) as exc:
            raise _Retry(f"files.getUploadURLExternal: {type(exc).__name__}") from None
        file_id, upload_url = str(created.get("file_id")), str(created.get("upload_url"))
        self._remember_file(job, file_id)
        self._post_bytes(upload_url, content)
        share: dict[str, Any] = {
            "files": [{"id": file_id, "title": str(job.args.get("title") or filename)}],
            "channel_id": job.channel,
        }
        for optional in ("initial_comment", "thread_ts"):
            if job.args.get(optional):
                share[optional] = str(job.args[optional])
        try:
            response = self.client.files_completeUploadExternal(**share)
        except SlackApiError as exc:
            raise self._classify(exc) from None
        except (SlackClientError, OSError, TimeoutError) as exc:
            raise _Retry(f"{UPLOAD_METHOD}: {type(exc).__name__}", uncertain=True) from None
        data = dict(response.data) if isinstance(response.data, dict) else {}
        return {**data, "channel": job.channel}

    @staticmethod
    def _known_not_shared(error: Exception) -> Exception:
        """Before ``complete`` nothing reached the channel: never an uncertain outcome."""
        if isinstance(error, _Retry):
            error.uncertain = False
        return error

    def _post_bytes(self, url: str, content: bytes) -> None:
        if not url.startswith(("https://", "http://")):
            raise _Permanent("files.getUploadURLExternal returned no upload URL")
        request = urllib.request.Request(
            url, data=content, method="POST",
            headers={"Content-Type": "application/octet-stream", "User-Agent": USER_AGENT},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.client.timeout) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise _Retry(f"upload: http {exc.code}") from None
            raise _Permanent(f"upload: http {exc.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise _Retry(f"upload: {type(exc).__name__}") from None

    def _remember_file(self, job: _Job, file_id: str) -> None:
        """Record a created file on the row before it can be shared, so a later check can
        recognise the share in the channel whichever attempt made it."""
        ids = [str(i) for i in job.args.get("file_ids") or []] + [file_id]
        job.args["file_ids"] = ids
        with self.services.unit_of_work() as uow:
            row = uow.session.get(OutboxMessage, job.id)
            if row is not None:
                row.payload = {**row.payload, "file_ids": ids}
                uow.commit()

    def _find_posted(self, job: _Job) -> dict[str, Any] | None:
        """Look for an earlier attempt of this job in the channel's recent history."""
        file_ids = {str(i) for i in job.args.get("file_ids") or []}
        cursor: str | None = None
        channel = self._conversation(job.channel)
        for _ in range(HISTORY_PAGES):
            try:
                response = self.client.conversations_history(
                    channel=channel, limit=200, include_all_metadata=True, cursor=cursor
                )
            except SlackApiError as exc:
                raise self._classify(exc) from None
            except (SlackClientError, OSError, TimeoutError) as exc:
                raise _Retry(f"history: {type(exc).__name__}", uncertain=True) from None
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

    def _conversation(self, channel: str) -> str:
        """A DM posted to a user id lives in a conversation of its own: find its id."""
        if not channel.startswith(("U", "W")):
            return channel
        try:
            response = self.client.conversations_open(users=channel)
        except SlackApiError as exc:
            raise self._classify(exc) from None
        except (SlackClientError, OSError, TimeoutError) as exc:
            raise _Retry(f"conversations.open: {type(exc).__name__}", uncertain=True) from None
        return str((response.get("channel") or {}).get("id") or channel)

    # ------------------------------------------------------------------ recording

    def _succeed(self, job: _Job, response: dict[str, Any], *, sent: bool) -> None:
        now = self.services.clock.now()
        channel = str(response.get("channel") or job.channel)
        ts = response.get("ts")
        with self.services.unit_of_work() as uow:
            row = uow.session.get(OutboxMessage, job.id)
            if row is None or row.status == OutboxStatus.SKIPPED:  # ended moot by _fetch
                return
            row.attempts += 1 if sent else 0  # an adopted earlier post is not a new attempt
            row.result_channel, row.result_ts = channel, str(ts) if ts else None
            self._finish(uow, row, OutboxStatus.SENT)
            if job.kind == OutboxKind.HANDOFF and row.lead_id is not None:
                lead = uow.leads.get_for_update(row.lead_id)
                if lead is not None and lead.status == LeadStatus.QUEUED:
                    # the agreement version it is handed off under, read in the same transaction
                    lead.agreement_version = uow.agreements.active_number()
                    self._mark_posted(lead, channel, str(ts), now)
            uow.commit()

    def _mark_posted(self, lead: Lead, channel: str, ts: str, now: datetime) -> None:
        lead.channel_id, lead.message_ts, lead.posted_at = channel, ts, now
        stamp(lead, self.services.policy)  # its first-contact deadline, for the reports
        # A late hand-off is recorded (at its true instant) and told by the reminder sweep.
        apply(lead, Action.POST, at=now, surface=Surface.OUTBOX, data={"ts": ts})

    def _reschedule(self, job: _Job, retry: _Retry) -> datetime | None:
        now = self.services.clock.now()
        attempts = job.attempts + 1
        if retry.after_s is not None:
            delay = retry.after_s
        else:
            delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempts - 1))
            delay *= self.rng.uniform(0.5, 1.0)  # jitter: processes do not retry in lockstep
            if retry.uncertain:
                delay = max(delay, UNCERTAIN_RECHECK_S)
        not_before = now + timedelta(seconds=delay)
        with self.services.unit_of_work() as uow:
            row = uow.session.get(OutboxMessage, job.id)
            if row is None:
                return None
            row.attempts = attempts
            row.last_error = retry.reason
            row.needs_check = row.needs_check or retry.uncertain
            if job.kind in OFF_SLACK_KINDS:
                give_up = now - row.created_at >= WEBHOOK_RETRY_FOR
            else:
                give_up = attempts >= MAX_ATTEMPTS
            if give_up and not retry.after_s:
                self._finish(uow, row, OutboxStatus.FAILED, error=f"gave up: {retry.reason}")
                log.error("outbox %s (%s) failed after %s attempts: %s", job.id, job.kind,
                          attempts, retry.reason)
            else:
                row.status = OutboxStatus.PENDING
                row.not_before = not_before
                row.locked_by = row.locked_until = None
                log.warning("outbox %s (%s) retry in %.1fs: %s", job.id, job.kind, delay,
                            retry.reason)
            uow.commit()
        return not_before if retry.after_s is not None or retry.hold_lane else None

    def _fail(self, job: _Job, error: str) -> None:
        with self.services.unit_of_work() as uow:
            row = uow.session.get(OutboxMessage, job.id)
            if row is not None:
                row.attempts += 1
                self._finish(uow, row, OutboxStatus.FAILED, error=error)
                uow.commit()
        log.error("outbox %s (%s to %s) failed permanently: %s", job.id, job.kind, job.channel,
                  error)

    def _release(self, job: _Job, not_before: datetime | None) -> None:
        """Put a claimed row back; ``not_before`` None keeps its place in the queue."""
        with self.services.unit_of_work() as uow:
            row = uow.session.get(OutboxMessage, job.id)
            if row is not None and row.locked_by == self.worker_id:
                row.status = OutboxStatus.PENDING
                if not_before is not None:
                    row.not_before = max(row.not_before, not_before)
                row.locked_by = row.locked_until = None
                uow.commit()

    def _finish(
        self, uow: Any, row: OutboxMessage, status: OutboxStatus, error: str | None = None
    ) -> None:
        row.status = status
        row.locked_by = row.locked_until = None
        row.needs_check = False
        if error is not None:
            row.last_error = error
        if status == OutboxStatus.SENT:
            row.sent_at = self.services.clock.now()


def _home_user(row: OutboxMessage) -> str:
    """Whose Home a ``home`` row refreshes."""
    return str(row.payload.get("user_id") or row.channel)


@dataclass(frozen=True)
class OutboxHealth:
    pending: int
    failed: int
    failures: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"pending": self.pending, "failed": self.failed, "recent_failures": self.failures}


def outbox_health(unit_of_work: UnitOfWorkFactory, recent: int = 5) -> OutboxHealth:
    """Counts and the latest permanent failures (no personal data: kind, channel, error)."""
    with unit_of_work() as uow:
        counts = dict(
            uow.session.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.status.in_([
                    OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.FAILED
                ]))
                .group_by(OutboxMessage.status)
            ).all()
        )
        failed_rows = uow.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.FAILED)
            .order_by(OutboxMessage.id.desc())
            .limit(recent)
        ).all()
        failures = [
            {"id": r.id, "kind": r.kind, "channel": r.channel, "lead_id": r.lead_id,
             "error": r.last_error}
            for r in failed_rows
        ]
    pending = counts.get(OutboxStatus.PENDING, 0) + counts.get(OutboxStatus.SENDING, 0)
    return OutboxHealth(pending, counts.get(OutboxStatus.FAILED, 0), failures)
