"""What an outbox row asks the worker to do: one registry of kinds, stored in ``outbox.kind``.

The values are written to the database, so they never change. Imports nothing, so any module
that queues a row can name its kind without pulling in the worker. ``bot.outbox.routes`` gives
each kind its sender; the outbox repository refuses a kind not listed here.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["OutboxKind"]


class OutboxKind(StrEnum):
    #: a lead's hand-off card, rendered when sent (the lead must still be queued)
    HANDOFF = "handoff"
    #: a ready-made Slack call, payload ``{"method", "args", "notice"?}``; a reminder notice
    #: dropped when it became moot
    MESSAGE = "message"
    #: an App Home refresh: rendered when sent, from then-current state, so a burst of changes
    #: never publishes a stale Home
    HOME = "home"
    #: a file upload, payload ``{"filename", "title", "content_b64", "initial_comment"?,
    #: "thread_ts"?}`` plus ``file_ids`` the worker adds (files it created)
    FILE = "file"
    #: an outbound webhook delivery (``bot.outbound_webhook``), payload ``{"body"}``
    WEBHOOK = "webhook"
    #: HubSpot's thin contact event, payload ``ThinEvent.as_json()``
    HUBSPOT_FETCH = "hubspot_fetch"
    #: HubSpot's thin deal event (its id and stage), payload ``ThinEvent.as_json()``
    HUBSPOT_DEAL_FETCH = "hubspot_deal_fetch"
    #: an agreement proposal's post, its updates and its thread replies, payload
    #: ``{"version_id", "mode": "post" | "update" | "reply", "text"?}``
    AGREEMENT_PROPOSAL = "agreement_proposal"
