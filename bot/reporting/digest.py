"""The weekly digest (SPEC 4): due-ness from the database, posted once, with a chart.

When: the digest of ISO week W (Monday to Sunday, local) is due at ``[digest] day``/``hour``
(default Monday 09:00 in the policy's time zone) after W ends. Every scheduler sweep runs
``digest_step``: it works out the *latest* week whose digest is due at ``now`` and posts it
unless it was already queued. So a bot that was down at 09:00 and is up again at 11:00 posts
one catch-up digest; a bot down for three weeks posts only the latest week's digest (old
weeks are not back-filled: three stale digests at once help nobody; an operator can still
post one with ``sla-bot digest --week YYYY-Www``). ``enabled = false`` stops the scheduled
digest (the CLI still works on request).

Exactly once: the digest is an outbox row keyed ``digest:<week>`` (its chart:
``digest:<week>:chart``), inserted in one transaction. The unique key IS the guarantee: two
processes sweeping at once both build the digest, one insert wins, the other finds the key
taken and drops its copy. The manual ``sla-bot digest`` uses the same key, so a manual run and
the scheduler never both post one week. The outbox then delivers it durably (the message with
its metadata key; the chart as a ``file`` row, see ``bot.outbox.worker``). The sweep step and
the queueing are the review pack's too: ``bot.reporting.posting``.

Figures come from ``bot.reporting.metrics`` (one definition for ``/sla-status``, the digest and the
review). What it does not offer is computed here, each with a note: breaches *recorded in the
week* (``open_breaches`` lists open leads whatever the period), marketer feedback, and the
per-day series for the chart (a ``scorecard`` per day).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.agreement.reading import versions_in_force
from bot.event_kind import Fact
from bot.policy import Policy
from bot.reporting import metrics
from bot.reporting.chart import ChartDay, render_week_chart
from bot.reporting.outcome_metrics import closed_deals, deal_summary
from bot.reporting.periods import Period, week_of
from bot.reporting.posting import Chart, ReportPost, Schedule, chart_note, queue_post, schedule_step
from bot.roles import Directory
from bot.services import Services
from bot.terminal_text import blocks_as_text
from bot.views.blocks import thread_link
from bot.views.digest import (
    MAX_BREACHES,
    MAX_DEALS,
    MAX_FEEDBACK,
    BreachLine,
    DealLine,
    DigestFigures,
    FeedbackLine,
    PromiseFigure,
    RepLine,
    chart_comment,
    chart_labels,
    digest_message,
)
from storage.models import Lead
from storage.unit_of_work import UnitOfWorkFactory

__all__ = [
    "BadWeek",
    "Digest",
    "build_digest",
    "digest_key",
    "digest_step",
    "due_week",
    "parse_week",
    "queue_digest",
]

log = logging.getLogger(__name__)

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class BadWeek(ValueError):
    """``--week`` that is not ``YYYY-Www`` (an ISO week); ``key`` says which, for the CLI."""

    def __init__(self, english: str, key: str = "cli.digest.bad_week") -> None:
        super().__init__(english)
        self.key = key


@dataclass(frozen=True)
class Digest:
    period: Period
    figures: DigestFigures
    message: dict[str, Any]  # {"text", "blocks"}
    chart_png: bytes | None  # None for a quiet week: an empty chart says nothing
    chart_comment: str

    def as_text(self) -> str:
        return blocks_as_text(self.message) + chart_note(self.period.label, self.chart_png,
                                                         self.chart_comment)

    def post(self) -> ReportPost:
        """The message under the week's key, then its chart."""
        chart = (None if self.chart_png is None else
                 Chart(f"sla-digest-{self.period.label}.png", self.chart_png, self.chart_comment))
        return ReportPost(digest_key(self.period), self.message, chart)


# ------------------------------------------------------------------------------ when


def parse_week(label: str, tz: ZoneInfo) -> Period:
    """``2026-W48`` → that ISO week in the time zone ``tz`` (the policy's)."""
    match = _WEEK.match(label.strip())
    if match is None:
        raise BadWeek(f"expected an ISO week like 2026-W48, got {label!r}")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise BadWeek(f"there is no week {label}", "cli.digest.no_week") from None
    return week_of(monday, tz)


def due_week(policy: Policy, now: datetime) -> Period:
    """The latest ISO week whose digest is due at ``now`` (due at day/hour after it ends)."""
    tz = policy.tz
    local = now.astimezone(tz)
    offset = _DAYS.index(policy.digest.day)
    monday = local.date() - timedelta(days=local.weekday())
    moment = datetime.combine(monday + timedelta(days=offset),
                              time(policy.digest.hour), tzinfo=tz)
    if moment > local:
        moment -= timedelta(days=7)
    # the posting moment lies in the week after the digest's week
    return week_of(moment.date() - timedelta(days=7), tz)


def due_at(policy: Policy, period: Period) -> datetime:
    """When the digest of ``period`` falls due (the configured day and hour after it ends)."""
    tz = policy.tz
    following_monday = period.end.astimezone(tz).date()
    day = following_monday + timedelta(days=_DAYS.index(policy.digest.day))
    return datetime.combine(day, time(policy.digest.hour), tzinfo=tz)


def digest_key(period: Period) -> str:
    return f"digest:{period.label}"


def digest_step(services: Services, now: datetime) -> bool:
    """Sweep step: queue the latest due week's digest once; True when this call queued it."""
    return schedule_step(SCHEDULE, services, now)


# ------------------------------------------------------------------------------ queueing


def queue_digest(services: Services, period: Period, now: datetime) -> bool:
    """Build the digest and queue it (message, then chart) under the week's key.

    Figures are read before the writing transaction, so no lock is held while they are
    computed. Returns False when the key was taken (by another process or an earlier run).
    """
    digest = build_digest(services, period)
    return queue_post(services.uow, services.outbox_ready,
                      services.policy.channels.digest_channel, digest.post(), now)


SCHEDULE = Schedule("weekly digest", log, lambda policy: policy.digest.enabled, due_week,
                    due_at, digest_key, queue_digest)


# ------------------------------------------------------------------------------ content


def build_digest(services: Services, period: Period) -> Digest:
    """Figures for ``period`` and the week before, rendered (pure views) and charted."""
    figures = digest_figures(services, period)
    message = digest_message(figures, services.t, services.policy.tz)
    chart = (
        render_week_chart(
            _chart_days(services, period), chart_labels(figures, services.t, services.policy.tz)
        )
        if figures.handoffs
        else None
    )
    return Digest(period, figures, message, chart, chart_comment(figures, services.t))


def digest_figures(services: Services, period: Period) -> DigestFigures:
    policy = services.policy
    previous = week_of(period.start.astimezone(policy.tz).date() - timedelta(days=7), policy.tz)
    card, by_rep = metrics.team_and_reps(services, policy, period)  # one pass over the week
    before = metrics.scorecard(services, policy, previous)
    promises = [
        PromiseFigure("handoff", card.handoff_rate, before.handoff_rate),
        PromiseFigure("first_contact", card.first_contact_rate, before.first_contact_rate),
        PromiseFigure("decision", card.decision_rate, before.decision_rate),
        PromiseFigure("mql_to_sql", card.sql_rate, before.sql_rate),
    ]
    breaches, breach_total, per_rep_breaches = _week_breaches(services.uow, period)
    feedback_count, feedback = _feedback(services.directory, services.uow, period)
    deals = deal_summary(services, period, closed_only=True)
    deal_lines = [
        DealLine(d.lead_label, d.won, d.amount, d.currency, d.loss_reason, d.loss_reason_text,
                 d.owner_id, thread_link(d.channel_id, d.message_ts))
        for d in (closed_deals(services, period, limit=MAX_DEALS)
                  if deals.figures.closed else ())
    ]
    reps = [
        RepLine(rep, c.handed_off, c.first_contact_rate, c.converted, c.recycled,
                per_rep_breaches.get(rep, 0))
        for rep, c in by_rep.items()
    ]
    return DigestFigures(
        week_label=period.label, start=period.start, end=period.end,
        handoffs=card.handed_off, previous_handoffs=before.handed_off,
        promises=promises, breaches=breaches, breach_total=breach_total,
        recycle_reasons=list(card.recycle_reasons),
        feedback_count=feedback_count, feedback=feedback, reps=reps,
        agreement_changes=tuple(head for head in versions_in_force(services.uow, period)
                                if head.since is not None and head.since >= period.start),
        deals=deals, deal_lines=deal_lines,
    )


def _label(lead: Lead) -> str:
    return lead.company_name or lead.contact_name


def _week_breaches(
    unit_of_work: UnitOfWorkFactory, period: Period
) -> tuple[list[BreachLine], int, dict[str, int]]:
    """Breaches recorded in the week (a breach event's ``at`` is the missed deadline).

    Computed here: ``metrics.open_breaches`` lists open leads with a breach whatever the
    period, while the digest reports what went wrong *in the week*, closed leads included.
    """
    with unit_of_work() as uow:
        total, by_owner, rows = uow.events.of_kind_between(
            Fact.BREACH, period.start, period.end, MAX_BREACHES)
        lines = [
            BreachLine(_label(lead), str(event.data.get("promise") or "first_contact"),
                       lead.owner_id, thread_link(lead.channel_id, lead.message_ts))
            for event, lead in rows
        ]
        uow.rollback()
    return lines, total, {str(k): int(v) for k, v in by_owner.items()}


def _feedback(
    directory: Directory, unit_of_work: UnitOfWorkFactory, period: Period
) -> tuple[int, list[FeedbackLine]]:
    """Marketers' replies in lead threads during the week, and the latest threads.

    Computed here (``bot.reporting.metrics`` has no feedback figures). Replies by the configured
    marketers count; with no marketers configured, every kept reply does. Deleted replies
    (tombstones) never count.
    """
    marketers = directory.members("marketers")  # may ask Slack: before the read
    with unit_of_work() as uow:
        count, rows = uow.feedback.kept_between(period.start, period.end, marketers,
                                                MAX_FEEDBACK * 4)
        seen: set[int] = set()
        lines: list[FeedbackLine] = []
        for item, lead in rows:
            if lead.id in seen:
                continue  # one line per thread, its latest reply
            seen.add(lead.id)
            link = thread_link(item.channel_id, item.thread_ts or lead.message_ts)
            lines.append(FeedbackLine(_label(lead), item.author_id, link))
            if len(lines) == MAX_FEEDBACK:
                break
        uow.rollback()
    return count, lines


def _chart_days(services: Services, period: Period) -> list[ChartDay]:
    """Per day of the week: leads handed off, and first contact on time among those settled.

    Computed here from ``metrics.scorecard`` per day (seven short reads), so the chart uses
    the very definitions the digest's figures use.
    """
    tz = services.policy.tz
    first = period.start.astimezone(tz).date()
    days: list[ChartDay] = []
    for offset in range(7):
        day = first + timedelta(days=offset)
        start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
        card = metrics.scorecard(services, services.policy,
                                 Period(start, end, day.isoformat(), "day"))
        days.append(ChartDay(day, card.handed_off, card.first_contact_rate))
    return days
