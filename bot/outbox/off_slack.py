"""The outbox kinds that call no Slack API: outbound webhooks and HubSpot's CRM fetches.

They ride the same rows, claims, leases and backoff as Slack's calls, but are never looked up
in a channel's history. A webhook receiver dedupes on the delivery id, since a crash between
the POST and its commit sends again (at least once); a HubSpot 429 holds back the lane until
its ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.adapters.hubspot_fetch import Moot
from bot.outbound_webhook import LANE, DeliveryRefused, DeliveryRetry, deliver
from bot.outbox.sender import Job, Permanent, Retry, Skipped, Transport
from bot.services import Services

__all__ = ["fetching", "post_webhook"]


def post_webhook(transport: Transport, job: Job) -> dict[str, Any]:
    """POST a signed delivery; failures map onto the worker's retry and failure paths."""
    services = transport.services
    secret = services.settings.outbound_webhook_secret
    if not secret:  # guarded at start; a row is never sent unsigned
        raise Permanent("OUTBOUND_WEBHOOK_SECRET not set")
    try:
        status = deliver(
            str(job.args["url"]),
            str(job.args["body"]).encode("utf-8"),
            delivery_id=job.key,
            secret=secret,
            now=services.clock.now(),
            timeout=float(job.args["timeout"]),
        )
    except DeliveryRetry as retry:
        # a receiver dedupes on the delivery id, so no "uncertain" re-check delay is owed
        raise Retry(retry.reason, after_s=retry.after_s, hold_lane=retry.unreachable) from None
    except DeliveryRefused as refused:
        raise Permanent(str(refused)) from None
    return {"ok": True, "channel": LANE, "status": status}


def fetching(
    run: Callable[[Services, dict[str, Any]], dict[str, Any]],
) -> Callable[[Transport, Job], dict[str, Any]]:
    """The sender of a thin HubSpot event: ``run`` fetches its contact or deal and stores what
    it says (``bot.adapters.hubspot_fetch``, ``hubspot_deals``)."""

    def fetch(transport: Transport, job: Job) -> dict[str, Any]:
        try:
            return run(transport.services, job.args)
        except DeliveryRetry as retry:
            raise Retry(retry.reason, after_s=retry.after_s,
                        hold_lane=retry.unreachable or retry.after_s is not None) from None
        except Moot as gone:  # deleted, merged, no lead: moot, like a lead no longer queued
            raise Skipped(str(gone)) from None
        except DeliveryRefused as refused:
            raise Permanent(str(refused)) from None

    return fetch
