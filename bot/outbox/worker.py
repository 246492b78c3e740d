"""The outbox worker: delivers what the database says is owed to Slack, exactly once.

Every Slack message the bot owes is an ``OutboxMessage`` row committed together with the change
that caused it. This worker claims due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several processes never take the same row; SQLite serializes writers), sends them without
holding a transaction, and records the outcome: sent, retried with backoff, failed, or skipped
when it became moot.

What a row owes depends on its kind (``storage.outbox_kind.OutboxKind``); the worker looks the
kind up in a route table (``bot.outbox.routes.SENDERS``) whose ``Sender`` prepares the call
from current state, makes it, and says whether an earlier attempt can be found again. The
worker itself has no branch per kind.

``chat.postMessage`` has no idempotency key, so each post carries message ``metadata`` with the
outbox key. When an earlier attempt's outcome is unknown (the process died, the answer was lost,
the call timed out) the worker first looks for that key in the channel's recent history and
adopts the message it finds instead of posting a second one (``bot.outbox.slack``).

File uploads (kind ``file``, e.g. the weekly digest's chart) use Slack's three-step API; each
created file id is remembered on the row before it is shared, and after an attempt whose
outcome is unknown the worker looks for any of those ids in the channel's recent history and
adopts the share it finds instead of uploading again (``bot.outbox.files``).

Outbound webhooks (kind ``webhook``, see ``bot.outbound_webhook``) and HubSpot's CRM fetches
ride the same rows, claims, leases and backoff, but are not Slack calls: they are sent after
Slack's rows in a pass, retried for a time window rather than a number of attempts, and never
looked up in history; a webhook is never paced as a channel. Webhook receivers dedupe on the
delivery id instead, since a crash between the POST and its commit sends again (at least
once) (``bot.outbox.off_slack``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient

from bot.outbound_webhook import check_config
from bot.outbox.routes import SENDERS
from bot.outbox.sender import (
    Call,
    Job,
    Later,
    Permanent,
    Retry,
    Sender,
    Skip,
    Skipped,
    Transport,
)
from bot.outbox.slack import EVENT_TYPE, find_posted, with_metadata
from bot.services import Services
from bot.settings import Settings
from bot.user_agent import slack_client
from storage.models import OutboxMessage, OutboxStatus
from storage.unit_of_work import UnitOfWorkFactory

__all__ = ["EVENT_TYPE", "MAX_ATTEMPTS", "OutboxHealth", "OutboxWorker", "outbox_health",
           "worker_client"]

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
CHANNEL_INTERVAL = timedelta(seconds=1)  # Slack allows about one message per second per channel
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 300.0
MAX_ATTEMPTS = 12
#: after an attempt whose outcome is unknown, wait at least this long before looking for it in
#: the channel: a post that timed out on our side may still be completing on Slack's
UNCERTAIN_RECHECK_S = 30.0
#: a webhook receiver may be down for a maintenance window: keep retrying (at the backoff cap)
#: this long after the outcome was queued before giving up, rather than ``MAX_ATTEMPTS``
WEBHOOK_RETRY_FOR = timedelta(hours=24)


def worker_client(settings: Settings) -> WebClient:
    """A client without the SDK's automatic retries: a blind retry could post twice."""
    return slack_client(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
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
        self.client = client or worker_client(services.settings)
        self._transport = Transport(services, self.client)
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
        jobs = sorted(self._claim(limit, busy), key=lambda job: _off_slack(job.kind))
        blocked: dict[str, datetime] = {}
        for job in jobs:
            until = blocked.get(job.channel)
            if until is not None:
                self._release(job, until)
                continue
            if SENDERS[job.kind].paced:
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
            found = uow.outbox.any_due_on(channels, now)
            uow.rollback()
        return found

    def _wait_for_a_slot(self) -> None:
        now = self.services.clock.now()
        slots = [slot for slot in self._next_slot.values() if slot > now]
        if slots:
            self.sleep((min(slots) - now).total_seconds())

    # ------------------------------------------------------------------ claiming

    def _claim(self, limit: int, busy: set[str] | None = None) -> list[Job]:
        now = self.services.clock.now()
        claimed: list[int] = []
        with self.services.unit_of_work() as uow:
            rows = uow.outbox.due(now, limit, busy or ())
            newest = {key: row.id for row in rows if (key := _coalesce_key(row)) is not None}
            for row in rows:
                key = _coalesce_key(row)
                if key is not None and newest[key] != row.id:
                    self._finish(uow, row, OutboxStatus.SKIPPED,
                                 error=SENDERS[row.kind].superseded)
                    continue
                if row.status == OutboxStatus.SENDING:
                    row.needs_check = True  # its worker stopped mid-send: Slack may have it
                row.status = OutboxStatus.SENDING
                row.locked_by = self.worker_id
                row.locked_until = now + self.lease
                claimed.append(row.id)
            uow.commit()
        jobs: list[Job] = []
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
            row = uow.outbox.get(row_id)
            if row is None or row.locked_by != self.worker_id:
                return
            job = Job(id=row.id, key=row.idempotency_key, kind=row.kind,
                      channel=str(row.channel or ""), needs_check=row.needs_check,
                      attempts=row.attempts, method="", args={})
        # nothing was sent: an unknown earlier attempt keeps its needs_check on the row
        self._reschedule(job, Retry(f"cannot prepare: {name}"))

    def _prepare(self, row_id: int) -> Job | None:
        """Build the call from current state (a lead may have changed since enqueue)."""
        now = self.services.clock.now()
        with self.services.unit_of_work() as uow:
            row = uow.outbox.get(row_id)
            if row is None or row.locked_by != self.worker_id:
                return None
            sender = SENDERS.get(row.kind)
            if sender is None:  # written before its kind was refused at enqueue
                self._finish(uow, row, OutboxStatus.FAILED, error="unknown kind")
                uow.commit()
                return None
            prepared = sender.prepare(self.services, uow, row, now)
            if isinstance(prepared, Skip):
                self._finish(uow, row, OutboxStatus.SKIPPED, error=prepared.reason)
                uow.commit()
                return None
            if isinstance(prepared, Later):
                row.status = OutboxStatus.PENDING
                row.not_before = prepared.not_before
                row.locked_by = row.locked_until = None
                uow.commit()
                return None
            assert isinstance(prepared, Call)
            args = with_metadata(prepared.method, prepared.args, row.idempotency_key)
            return Job(
                id=row.id,
                key=row.idempotency_key,
                kind=row.kind,
                channel=str(args.get("channel") or row.channel or ""),
                needs_check=row.needs_check,
                attempts=row.attempts,
                method=prepared.method,
                args=args,
            )

    # ------------------------------------------------------------------ delivering

    def _deliver(self, job: Job) -> datetime | None:
        """Send one job and record the outcome; returns an instant the channel is blocked until."""
        sender = SENDERS[job.kind]
        try:
            found = (find_posted(self._transport, job)
                     if job.needs_check and sender.findable(job) else None)
            response = found or sender.send(self._transport, job)
        except Retry as retry:
            return self._reschedule(job, retry)
        except Permanent as failure:
            self._fail(job, str(failure))
            return None
        except Skipped as moot:
            self._end(job, OutboxStatus.SKIPPED, str(moot))
            return None
        except Exception as exc:  # a bug or bad data must not abort the pass or loop the row
            name = type(exc).__name__  # never the message: it may quote personal data
            log.error("outbox %s (%s): unexpected %s", job.id, job.kind, name)
            # a post may have reached Slack before the error: look before posting again
            return self._reschedule(job, Retry(f"unexpected {name}",
                                               uncertain=sender.findable(job)))
        self._succeed(job, sender, response, sent=found is None)
        return None

    # ------------------------------------------------------------------ recording

    def _succeed(self, job: Job, sender: Sender, response: dict[str, Any], *,
                 sent: bool) -> None:
        now = self.services.clock.now()
        channel = str(response.get("channel") or job.channel)
        ts = response.get("ts")
        with self.services.unit_of_work() as uow:
            row = uow.outbox.get(job.id)
            if row is None or row.status == OutboxStatus.SKIPPED:  # ended moot meanwhile
                return
            row.attempts += 1 if sent else 0  # an adopted earlier post is not a new attempt
            row.result_channel, row.result_ts = channel, str(ts) if ts else None
            self._finish(uow, row, OutboxStatus.SENT)
            if sender.on_sent is not None:
                sender.on_sent(self.services, uow, row, channel, ts, now)
            uow.commit()

    def _reschedule(self, job: Job, retry: Retry) -> datetime | None:
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
            row = uow.outbox.get(job.id)
            if row is None:
                return None
            row.attempts = attempts
            row.last_error = retry.reason
            row.needs_check = row.needs_check or retry.uncertain
            if _off_slack(job.kind):
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

    def _end(self, job: Job, status: OutboxStatus, error: str) -> None:
        """The attempt counts and the row ends: failed, or skipped when it found nothing left
        to do."""
        with self.services.unit_of_work() as uow:
            row = uow.outbox.get(job.id)
            if row is not None:
                row.attempts += 1
                self._finish(uow, row, status, error=error)
                uow.commit()

    def _fail(self, job: Job, error: str) -> None:
        self._end(job, OutboxStatus.FAILED, error)
        log.error("outbox %s (%s to %s) failed permanently: %s", job.id, job.kind, job.channel,
                  error)

    def _release(self, job: Job, not_before: datetime | None) -> None:
        """Put a claimed row back; ``not_before`` None keeps its place in the queue."""
        with self.services.unit_of_work() as uow:
            row = uow.outbox.get(job.id)
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


def _off_slack(kind: str) -> bool:
    """Rows that call no Slack API (a webhook receiver, HubSpot's CRM API): after Slack's in a
    pass, retried for ``WEBHOOK_RETRY_FOR`` rather than ``MAX_ATTEMPTS``."""
    sender = SENDERS.get(kind)
    return sender is not None and sender.off_slack


def _coalesce_key(row: OutboxMessage) -> tuple[str, str] | None:
    """Rows claimed together with the same key need one send (e.g. one person's Home)."""
    sender = SENDERS.get(row.kind)
    if sender is None or sender.coalesce is None:
        return None
    return row.kind, sender.coalesce(row)


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
        counts = uow.outbox.counts_by_status(
            [OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.FAILED])
        failed_rows = uow.outbox.latest_failed(recent)
        failures = [
            {"id": r.id, "kind": r.kind, "channel": r.channel, "lead_id": r.lead_id,
             "error": r.last_error}
            for r in failed_rows
        ]
    pending = counts.get(OutboxStatus.PENDING, 0) + counts.get(OutboxStatus.SENDING, 0)
    return OutboxHealth(pending, counts.get(OutboxStatus.FAILED, 0), failures)
