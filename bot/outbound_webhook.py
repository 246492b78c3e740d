"""The outbound webhook: the CRM / MA tool hears every lead outcome (SPEC section 6).

A convert or recycle calls ``queue_outcome`` inside its own unit of work: one outbox row (kind
``webhook``) with the JSON body built then, so the outcome and the notice that it happened
commit together and survive a receiver that is down. The outbox worker POSTs it with ``deliver``,
signed the way Slack signs its own requests, so receivers can reuse their verification code::

    X-SLA-Timestamp: <unix seconds>
    X-SLA-Signature: v1=<hex HMAC-SHA256(secret, "v1:{timestamp}:{body}")>
    X-SLA-Delivery:  <delivery id, also in the body>

Delivery is at least once (a crash between the POST and recording it re-sends the same body),
so receivers dedupe on the delivery id. The body carries ids, codes and timestamps only: no
contact name, email or phone (the MA tool knows the lead by ``external_id``) and no notes.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

from bot.event_kind import Action
from bot.policy import Policy
from bot.problems import Problem
from bot.services import Services
from bot.settings import Settings, SettingsError
from bot.user_agent import USER_AGENT
from storage.models import Lead, LeadEvent
from storage.outbox_kind import OutboxKind
from storage.repositories import History
from storage.unit_of_work import UnitOfWork

__all__ = [
    "LANE",
    "DeliveryRefused",
    "DeliveryRetry",
    "check_config",
    "config_problems",
    "deliver",
    "delivery_key",
    "outcome_body",
    "queue_outcome",
    "retry_after_seconds",
    "sign",
]

#: what the outbox row's ``channel`` holds: a lane of its own, never a Slack channel, so a
#: receiver's 429 holds back only webhooks and Slack's pacing never holds back a webhook
LANE = "outbound"
#: lifecycle event kind → the outcome the receiver hears (a deal's: SPEC 10, when listed)
EVENT_OUTCOMES = {Action.CONVERT: "converted", Action.RECYCLE: "recycled",
                  Action.WIN: "won", Action.LOSE: "lost"}
#: a deal's outcomes: their body repeats the lead's conversion, read from its events
_DEAL_OUTCOMES = frozenset({"won", "lost"})
#: where a deal outcome came from, when it was the CRM itself (``bot.outcomes``): what the CRM
#: told the bot is never sent back to it
CRM_SOURCES = frozenset({"hubspot"})
SIGNATURE_VERSION = "v1"
#: a receiver's answer is read (so the connection closes cleanly) but never kept beyond this
MAX_ANSWER_BYTES = 64 * 1024
#: a receiver asking for more than this is still retried, just not later than this
MAX_RETRY_AFTER = timedelta(hours=1)
#: answers worth retrying besides 5xx: rate limited, and the receiver's own timeout
RETRY_STATUSES = frozenset({408, 429})


class DeliveryRetry(Exception):
    """The receiver is down, slow or busy: try again later (``after_s`` when it said when).

    ``unreachable``: no answer at all (connection refused, timeout), so the other deliveries
    to the same URL would fare no better right now.
    """

    def __init__(
        self, reason: str, after_s: float | None = None, *, unreachable: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_s = after_s
        self.unreachable = unreachable


class DeliveryRefused(Exception):
    """The receiver refused the delivery for good (a 4xx other than 408/429, a redirect)."""


# ---------------------------------------------------------------------- configuration


def config_problems(settings: Settings, policy: Policy) -> list[Problem]:
    """What the environment lacks for the policy's webhook (the secret is never in the file)."""
    if policy.outbound_webhook is not None and not settings.outbound_webhook_secret:
        return [Problem(
            "OUTBOUND_WEBHOOK_SECRET",
            "required, not set: the policy's [outbound_webhook] url needs it to sign "
            "deliveries (see .env.example)",
            "cli.environment.webhook_secret_missing")]
    return []


def check_config(settings: Settings, policy: Policy) -> None:
    """Refuse to run with a webhook that could only be sent unsigned."""
    problems = config_problems(settings, policy)
    if problems:
        raise SettingsError(problems)


# ---------------------------------------------------------------------- queuing


def delivery_key(lead_id: int, event_id: int) -> str:
    """The outbox key, and the delivery id receivers dedupe on: one per outcome event."""
    return f"{OutboxKind.WEBHOOK}:{lead_id}:{event_id}"


def queue_outcome(services: Services, uow: UnitOfWork, lead: Lead, event: LeadEvent) -> None:
    """Queue the webhook an outcome owes, in the caller's unit of work.

    Nothing is queued when no webhook is configured, when the policy leaves this outcome out,
    for an event that is not an outcome (convert / recycle / a deal won or lost), or for a deal
    outcome the CRM reported (no echo). Queuing twice is a no-op.
    """
    config = services.policy.outbound_webhook
    outcome = EVENT_OUTCOMES.get(event.kind)
    if config is None or outcome is None or outcome not in config.events:
        return
    if (event.data or {}).get("source") in CRM_SOURCES:
        return
    if lead.id is None or event.id is None:
        uow.flush()  # the key names both
    if outcome in _DEAL_OUTCOMES:
        uow.leads.load_history(lead, History.EVENTS)
    body = outcome_body(lead, event, services.policy)
    uow.outbox.enqueue(
        key=body["delivery_id"],
        kind=OutboxKind.WEBHOOK,
        now=services.clock.now(),
        lead_id=lead.id,
        channel=LANE,
        # the exact text is fixed now, so every retry sends (and signs) the same bytes
        payload={"body": json.dumps(body, ensure_ascii=False, separators=(",", ":"))},
    )


def outcome_body(lead: Lead, event: LeadEvent, policy: Policy) -> dict[str, Any]:
    """What the receiver hears about an outcome: ids, codes, counts and timestamps.

    Timestamps are ISO 8601 in the policy's time zone, with its offset. ``reason`` is set for a
    recycle only; ``bant`` and ``amount`` for a conversion only (null otherwise). A deal won or
    lost also carries ``deal`` (its id, currency and close) with ``amount`` the deal's and
    ``reason`` the loss reason code (the lead's events must be loaded: its conversion is read).
    """
    outcome = EVENT_OUTCOMES.get(event.kind)
    if outcome is None:
        raise ValueError(f"event {event.id} ({event.kind}) is not an outcome")
    data = event.data or {}
    if outcome in _DEAL_OUTCOMES:
        return _deal_body(lead, event, policy, outcome)
    converted = outcome == "converted"

    def stamp(value: datetime | None) -> str | None:
        return value.astimezone(policy.tz).isoformat(timespec="seconds") if value else None

    return {
        "event": f"lead.{outcome}",
        "delivery_id": delivery_key(lead.id, event.id),
        "lead": {"id": lead.id, "external_id": lead.external_id, "source": lead.source},
        "outcome": outcome,
        "reason": None if converted else (data.get("reason") or lead.decision_reason),
        "touches": lead.touch_count or 0,
        "bant": [str(b) for b in data.get("bant") or ()] if converted else None,
        "amount": _number(data.get("amount")) if converted else None,
        "owner": lead.owner_id,
        "timestamps": {
            "qualified_at": stamp(lead.qualified_at),
            "posted_at": stamp(lead.posted_at),
            "claimed_at": stamp(lead.claimed_at),
            "first_touch_at": stamp(lead.first_touch_at),
            "decided_at": stamp(lead.decided_at or event.at),
        },
    }


def _deal_body(lead: Lead, event: LeadEvent, policy: Policy, outcome: str) -> dict[str, Any]:
    """The body of a deal won or lost: the conversion's fields, the deal's outcome on top."""
    data = event.data or {}
    convert = next((e for e in reversed(lead.events or [])
                    if e.kind == Action.CONVERT and e.to_status is not None), None)
    base = outcome_body(lead, convert, policy) if convert is not None else {
        "lead": {"id": lead.id, "external_id": lead.external_id, "source": lead.source},
        "touches": lead.touch_count or 0, "bant": None, "owner": lead.owner_id,
        "timestamps": {},
    }
    closed = data.get("closed_at")
    base.update({
        "event": f"lead.{outcome}",
        "delivery_id": delivery_key(lead.id, event.id),
        "outcome": outcome,
        "reason": data.get("reason") if outcome == "lost" else None,
        "amount": _number(data.get("amount")),
        "deal": {
            "id": data.get("deal_id"),
            "currency": data.get("currency"),
            "closed_at": (datetime.fromisoformat(closed).astimezone(policy.tz)
                          .isoformat(timespec="seconds") if closed else None),
        },
    })
    return base


def _number(value: object) -> int | float | None:
    """An amount as a JSON number, whatever form the use case kept it in."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return int(number) if number == number.to_integral_value() else float(number)


# ---------------------------------------------------------------------- delivering


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 of ``v1:{timestamp}:{body}``: Slack's scheme, our prefix."""
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib turns a redirected POST into a GET without the body, which would then 'succeed'."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def deliver(
    url: str,
    body: bytes,
    *,
    delivery_id: str,
    secret: str,
    now: datetime,
    timeout: float,
) -> int:
    """POST one signed delivery; returns the 2xx status.

    Raises ``DeliveryRetry`` (5xx, 408, 429, timeouts, connection errors) or
    ``DeliveryRefused`` (other 4xx, redirects). Runs in the outbox worker, never in a request.
    """
    timestamp = int(now.timestamp())
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-SLA-Timestamp": str(timestamp),
            "X-SLA-Signature": sign(secret, timestamp, body),
            "X-SLA-Delivery": delivery_id,
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(MAX_ANSWER_BYTES)
            status = int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            error.read(MAX_ANSWER_BYTES)
        raise _classify(error.code, error.headers.get("Retry-After"), now) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        cause = getattr(error, "reason", None)
        name = type(cause if isinstance(cause, BaseException) else error).__name__
        raise DeliveryRetry(f"connection: {name}", unreachable=True) from None
    if not 200 <= status < 300:  # a 1xx/3xx that urllib handed back as an answer
        raise _classify(status, None, now)
    return status


def _classify(status: int, retry_after: str | None, now: datetime) -> Exception:
    if 300 <= status < 400:
        return DeliveryRefused(f"http {status}: redirects are not followed; set the final URL")
    if status >= 500 or status in RETRY_STATUSES:
        after = _retry_after(retry_after, now) if status == 429 else None
        return DeliveryRetry(f"http {status}", after_s=after)
    return DeliveryRefused(f"http {status}")


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """An HTTP ``Retry-After`` header (seconds or an HTTP date) as seconds from ``now``,
    unbounded; None when it is missing or unreadable (each caller has its own fallback)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - now).total_seconds()
        except (TypeError, ValueError):
            return None
    if seconds != seconds:  # NaN
        return None
    return seconds


def _retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds (a number or an HTTP date); None: use the backoff."""
    seconds = retry_after_seconds(value, now)
    if seconds is None:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER.total_seconds())
