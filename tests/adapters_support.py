"""Shared by the vendor adapter tests: the real payload files, a bot with adapter secrets set."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine, func, select

from bot.clock import ManualClock
from bot.policy import Policy
from bot.services import Services, build_services
from handlers.server import BotServer
from storage.models import Activity, Lead, LeadEvent, OutboxMessage
from tests.conftest import BOT_TOKEN, Database, make_settings, make_worker, start_bot
from tests.harness import FakeSlack, HttpResponse, http_post

PAYLOADS = Path(__file__).parent / "fixtures" / "ma_payloads"
MAUTIC_SECRET = "mautic-webhook-secret-for-tests"
HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"  # the signed sample's documented secret
HUBSPOT_TOKEN = "pat-na1-test-token"
MARKETO_TOKEN = "marketo-token-for-tests"
INTAKE_TOKEN = "test-intake-token"
SECRETS: dict[str, Any] = {
    "mautic_webhook_secret": MAUTIC_SECRET,
    "hubspot_client_secret": HUBSPOT_SECRET,
    "hubspot_access_token": HUBSPOT_TOKEN,
    "marketo_webhook_token": MARKETO_TOKEN,
}


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def payload_json(name: str) -> Any:
    return json.loads(payload(name))


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            model.__tablename__: connection.scalar(select(func.count()).select_from(model)) or 0
            for model in (Lead, Activity, LeadEvent, OutboxMessage)
        }


def vendor_services(
    fake_slack: FakeSlack, database: Database, policy: Policy, clock: ManualClock,
    **settings: Any,
) -> Services:
    values = {**SECRETS, **settings}
    slack = WebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5)
    return build_services(make_settings(fake_slack, database.url, **values), policy, clock,
                          engine=database.engine, slack=slack)


BotFactory = Callable[..., BotServer]


@pytest.fixture
def make_bot(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> Iterator[BotFactory]:
    """Start the real bot on each database kind, with adapter secrets (overridable)."""
    servers: list[BotServer] = []

    def start(policy_override: Policy | None = None, **settings: Any) -> BotServer:
        services = vendor_services(fake_slack, db, policy_override or policy, clock, **settings)
        server = start_bot(services)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


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
        found = list(uow.session.scalars(select(Lead).order_by(Lead.id)))
        for lead in found:
            _ = lead.activities, lead.events  # loaded before the session closes
        uow.session.expunge_all()
        return found
