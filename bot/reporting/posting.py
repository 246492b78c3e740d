"""Posting a scheduled report (the weekly digest, the monthly review pack) exactly once.

Both reports share one shape, kept here so they cannot drift apart: a report of a period is
due at a moment after the period ends; every scheduler sweep asks for the *latest* due period
and queues its report unless the period's outbox key is taken already. The key IS the
exactly-once guarantee: two processes sweeping at once both build the report, one insert wins,
the other finds the key taken and drops its copy; a manual post from the CLI uses the same key.
The message is one outbox row under the key; its chart, if any, a ``file`` row keyed
``<key>:chart`` in the same transaction (see ``bot.outbox.worker``).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.policy import Policy
from bot.reporting.periods import Period
from bot.services import Services
from bot.terminal_text import plain
from storage.outbox_kind import OutboxKind
from storage.unit_of_work import UnitOfWorkFactory

__all__ = ["Chart", "ReportPost", "Schedule", "chart_note", "is_queued", "queue_post",
           "schedule_step"]

#: a sweep this long after the due moment still counts as on time in the log
_ON_TIME = timedelta(minutes=2)


@dataclass(frozen=True)
class Chart:
    """A report's chart as the file it is uploaded as."""

    filename: str
    png: bytes
    comment: str  # the upload's initial comment


@dataclass(frozen=True)
class ReportPost:
    """What one report posts: the message under ``key``, then its chart (None: no chart)."""

    key: str
    message: dict[str, Any]  # {"text", "blocks"}
    chart: Chart | None = None


def chart_note(label: str, png: bytes | None, comment: str) -> str:
    """How a report's chart reads in a terminal (``as_text``): its name, size and comment."""
    if png is None:
        return ""
    return f"\n[chart {label}.png, {len(png)} bytes] {plain(comment)}\n"


def is_queued(unit_of_work: UnitOfWorkFactory, key: str) -> bool:
    """Whether the report under ``key`` was queued already (by a sweep or by hand)."""
    with unit_of_work() as uow:
        return uow.outbox.by_key(key) is not None


def queue_post(unit_of_work: UnitOfWorkFactory, ready: threading.Event, channel: str,
               post: ReportPost, now: datetime) -> bool:
    """Queue the message, then its chart, in one transaction; False when the key was taken.

    Build the report before calling: no lock is held while its figures are computed.
    """
    with unit_of_work() as uow:
        row = uow.outbox.enqueue(
            key=post.key, kind=OutboxKind.MESSAGE, now=now, channel=channel,
            payload={"method": "chat.postMessage", "args": {"channel": channel,
                                                            **post.message}},
        )
        if row is None:
            uow.rollback()
            return False
        if post.chart is not None:
            uow.outbox.enqueue(
                key=f"{post.key}:chart", kind=OutboxKind.FILE, now=now, channel=channel,
                payload={
                    "filename": post.chart.filename,
                    "title": post.message["text"][:200],
                    # the bytes travel with the row: the chart always matches the message
                    # posted with it, whatever changes before the worker sends it
                    "content_b64": base64.b64encode(post.chart.png).decode("ascii"),
                    "initial_comment": post.chart.comment,
                },
            )
        uow.commit()
    ready.set()
    return True


@dataclass(frozen=True)
class Schedule:
    """When one kind of report falls due, and how it is queued; read by ``schedule_step``."""

    name: str  # in the log: "weekly digest"
    log: logging.Logger  # the report's own logger, so its lines keep their origin
    enabled: Callable[[Policy], bool]
    due_period: Callable[[Policy, datetime], Period]  # the latest period due at a moment
    due_at: Callable[[Policy, Period], datetime]  # when a period's report falls due
    key: Callable[[Period], str]
    queue: Callable[[Services, Period, datetime], bool]  # False: the key was taken


def schedule_step(schedule: Schedule, services: Services, now: datetime) -> bool:
    """Sweep step: queue the latest due period's report once; True when this call queued it."""
    if not schedule.enabled(services.policy):
        return False
    period = schedule.due_period(services.policy, now)
    if is_queued(services.uow, schedule.key(period)):  # the usual case: one indexed lookup
        return False
    late = now - schedule.due_at(services.policy, period)
    queued = schedule.queue(services, period, now)
    if queued:
        schedule.log.info("%s %s queued%s", schedule.name, period.label,
                          f" (catch-up, {late} late)" if late > _ON_TIME else "")
    return queued
