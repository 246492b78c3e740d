"""The vendor adapters' side of the tests: the real payload files, the bot with adapter
secrets set, and each vendor's request as the vendor signs and sends it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.adapters.hubspot import sign_v3
from bot.adapters.mautic import sign
from bot.clock import ManualClock
from bot.policy import Policy
from bot.services import Services, build_services
from handlers.server import BotServer
from storage.models import Lead
from tests.harness import FakeSlack, HttpResponse, http_post
from tests.harness.bot_env import make_worker
from tests.harness.databases import Database
from tests.harness.settings import BOT_TOKEN, INTAKE_TOKEN, make_settings

PAYLOADS = Path(__file__).resolve().parent.parent / "fixtures" / "ma_payloads"
MAUTIC_SECRET = "mautic-webhook-secret-for-tests"
HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"  # the signed sample's documented secret
HUBSPOT_TOKEN = "pat-na1-test-token"
MARKETO_TOKEN = "marketo-token-for-tests"
SECRETS: dict[str, Any] = {
    "mautic_webhook_secret": MAUTIC_SECRET,
    "hubspot_client_secret": HUBSPOT_SECRET,
    "hubspot_access_token": HUBSPOT_TOKEN,
    "marketo_webhook_token": MARKETO_TOKEN,
}
MAUTIC_PATH = "/webhooks/mautic"
MAUTIC_FILES = {
    "mautic.lead_post_save_new": "mautic_lead_post_save_new.json",
    "mautic.lead_post_save_update": "mautic_lead_post_save_update.json",
    "mautic.lead_points_change": "mautic_lead_points_change.json",
    "mautic.form_on_submit": "mautic_form_on_submit.json",
}
HUBSPOT_PATH = "/webhooks/hubspot"

BotFactory = Callable[..., BotServer]


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def payload_json(name: str) -> Any:
    return json.loads(payload(name))


def vendor_services(
    fake_slack: FakeSlack, database: Database, policy: Policy, clock: ManualClock,
    **settings: Any,
) -> Services:
    values = {**SECRETS, **settings}
    slack = WebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5)
    return build_services(make_settings(fake_slack, database.url, **values), policy, clock,
                          engine=database.engine, slack=slack)


def post(bot: BotServer, path: str, body: bytes | str, headers: dict[str, str] | None = None,
         content_type: str | None = "application/json") -> HttpResponse:
    sent = {"Content-Type": content_type} if content_type else {}
    sent.update(headers or {})
    return http_post(f"{bot.url}{path}", body, sent)


def deliver_all(services: Services, clock: ManualClock, fake_slack: FakeSlack) -> None:
    """Run the real outbox worker until nothing is due."""
    worker = make_worker(services, clock, fake_slack)
    while worker.run_once():
        pass


def leads(services: Services) -> list[Lead]:
    with services.unit_of_work() as uow:
        found = list(uow.session.scalars(  # their history loaded before the session closes
            select(Lead).order_by(Lead.id)
            .options(selectinload(Lead.activities), selectinload(Lead.events))))
        uow.session.expunge_all()
        return found


# ------------------------------------------------------------------------------ Mautic


def envelope(*kinds: str, timestamp: str = "2017-06-19T09:34:00+00:00") -> dict[str, Any]:
    """What Mautic POSTs: each event type's payload under its key, plus the POST's timestamp."""
    body: dict[str, Any] = {kind: payload_json(MAUTIC_FILES[kind]) for kind in kinds}
    body["timestamp"] = timestamp
    return body


def send(bot: Any, body: dict[str, Any] | bytes, *, secret: str | None = MAUTIC_SECRET,
         signature: str | None = None) -> Any:
    """A Mautic webhook, signed as Mautic signs it (unless told otherwise)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {}
    if signature is not None or secret is not None:
        headers["Webhook-Signature"] = signature or sign(raw, secret or "")
    return post(bot, MAUTIC_PATH, raw, headers)


# ----------------------------------------------------------------------------- HubSpot


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def send_v3(bot: Any, body: bytes | str | list[Any] | dict[str, Any], clock: ManualClock, *,
            age: timedelta = timedelta(0), uri: str | None = None,
            secret: str = HUBSPOT_SECRET) -> Any:
    """A HubSpot webhook signed with its v3 signature, ``age`` old."""
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    raw = raw.encode() if isinstance(raw, str) else raw
    timestamp = str(ms(clock.now() - age))
    signature = sign_v3(secret, "POST", uri or f"{bot.url}{HUBSPOT_PATH}", raw, timestamp)
    return post(bot, HUBSPOT_PATH, raw, {"X-HubSpot-Signature-v3": signature,
                                         "X-HubSpot-Request-Timestamp": timestamp})


# ---------------------------------------------------------------- a generic field mapping


ZAPIER = {
    "name": "zapier",
    "records": "$.leads",
    "external_id": "$.id",
    "contact_id": "$.person.id",
    "qualified_at": "$.qualified",
    "timestamp_format": "%Y/%m/%d %H:%M",
    "timezone": "Asia/Tokyo",
    "fields": {
        "contact.first_name": "$.person.first",
        "contact.last_name": "$.person.last",
        "contact.email": '$.person["e-mail"]',
        "contact.title": "$.person.title",
        "company.name": "$.org.name",
        "company.industry": "$.org.industry",
        "company.employees": "$.org.size",
        "score": "$.score",
    },
    "activities": [{"path": "$.events", "type": "$.kind", "at": "$.when", "detail": "$.what"}],
}


def zap(record_id: str = "z-1", person: str = "p-9", score: Any = None) -> dict[str, Any]:
    """One record as the ``zapier`` mapping reads it."""
    return {
        "id": record_id,
        "qualified": "2026/11/24 09:12",
        "score": {"value": "72"} if score is None else score,
        "person": {"id": person, "first": {"value": "Hanako"}, "last": {"value": "Sato"},
                   "e-mail": "hanako@example.co.jp", "title": "Sales Manager"},
        "org": {"name": "Example KK", "industry": {"value": "manufacturing"},
                "size": {"value": "250"}},
        "events": [{"kind": "page_view", "when": "2026/11/20 10:01", "what": "/pricing"},
                   {"kind": "webinar", "when": "2026/11/22 14:00", "what": "Alignment"}],
    }


def mapped(bot: Any, body: Any, name: str = "zapier", token: str = INTAKE_TOKEN) -> Any:
    return post(bot, f"/webhooks/map/{name}", json.dumps(body),
                {"Authorization": f"Bearer {token}"})
