"""The in-process scheduler: one sweep job per process, the database deciding what is due.

APScheduler 3.x job stores must not be shared between processes, so each process keeps one
in-memory interval job with a fixed id; what to send is derived from database state and
claimed there, so several processes never double-send.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler

from bot.services import Services

SWEEP_JOB_ID = "sla-sweep"
log = logging.getLogger(__name__)

SweepStep = Callable[[Services, datetime], object]


def default_steps() -> list[SweepStep]:
    """What every sweep does: first put an approved agreement into effect and run the one in
    force (``bot.agreement.activation``: the other steps then see its numbers), send due
    reminders and breach notices, post the weekly digest and the monthly review pack when they
    fall due (once across processes), forget old event ids."""
    from bot.agreement.activation import activation_step
    from bot.feedback import prune_processed_events
    from bot.reminders.sweep import sweep_notices
    from bot.reporting.digest import digest_step
    from bot.reporting.review import review_step

    return [activation_step, sweep_notices, digest_step, review_step, prune_processed_events]


def sweep(services: Services, steps: list[SweepStep]) -> None:
    """One pass: every step sees the same ``now``; one failing step does not stop the rest."""
    now = services.clock.now()
    for step in steps:
        try:
            step(services, now)
        except Exception:
            log.exception("sweep step %s failed", getattr(step, "__name__", step))


def build_scheduler(services: Services, steps: list[SweepStep]) -> BackgroundScheduler:
    """The interval is the policy's at start: a new agreement changing it applies at the
    next restart (the other numbers switch at the next sweep)."""
    scheduler = BackgroundScheduler(timezone=services.policy.tz)
    scheduler.add_job(
        sweep,
        "interval",
        seconds=services.policy.reminders.sweep_interval_seconds,
        args=(services, steps),
        id=SWEEP_JOB_ID,
        coalesce=True,
        max_instances=1,
        replace_existing=True,
    )
    return scheduler
