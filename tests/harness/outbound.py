"""The outbound webhook's far end: a tiny real HTTP receiver standing in for the MA tool, the
bot's services with a signing secret, and leads decided with their webhook queued."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import select

from bot.clock import ManualClock
from bot.lifecycle import Action, Surface, apply
from bot.outbound_webhook import queue_outcome
from bot.policy import Policy
from bot.sandbox.loopback import HOST, LoopbackServer
from bot.services import Services, build_services
from storage.models import Lead, LeadStatus, OutboxMessage
from storage.outbox_kind import OutboxKind
from tests.harness import FakeSlack
from tests.harness.databases import Database
from tests.harness.people import REP1
from tests.harness.settings import BOT_TOKEN, make_settings

SECRET = "whsec-test-0123456789abcdef"


@dataclass
class Received:
    path: str
    headers: Any  # an email.message.Message: header names are case-insensitive, as in HTTP
    body: bytes
    seen: object = None  # what ``Receiver.probe`` returned when the request arrived

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver(LoopbackServer):
    """The MA tool's endpoint: records every request, answers as scripted (default 200)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Received] = []
        self._answers: deque[tuple[int, dict[str, str], float]] = deque()
        self._lock = threading.Lock()
        self.arrived = threading.Event()
        #: when set (cleared), requests are recorded but not answered until it is set again
        self.hold: threading.Event | None = None
        #: called as each request arrives, e.g. to see what Slack had been sent by then
        self.probe: Callable[[], object] = lambda: None

    def _bind(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.path, self.headers, body, receiver.probe())
                    )
                    status, headers, delay = (
                        receiver._answers.popleft() if receiver._answers else (200, {}, 0.0)
                    )
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                if delay:
                    time.sleep(delay)  # the receiver is slow (the bot must not wait for it)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the sender is gone (killed, or timed out)

        return ThreadingHTTPServer((HOST, 0), Handler)

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        super().stop()

    @property
    def url(self) -> str:
        return self._origin() + "/hooks/sla"

    def answer(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        with self._lock:
            self._answers.extend([(status, headers or {}, delay)] * times)


def webhook_services(
    fake_slack: FakeSlack, database: Database, policy: Policy, clock: ManualClock,
    secret: str | None = SECRET,
) -> Services:
    settings = make_settings(fake_slack, database.url, outbound_webhook_secret=secret)
    slack = WebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5)
    return build_services(settings, policy, clock, engine=database.engine, slack=slack)


def decide(
    services: Services, outcome: Action = Action.CONVERT, external_id: str = "hubspot-20391",
    **data: object,
) -> tuple[int, int]:
    """A worked lead converted or recycled in one unit of work that queues its webhook.

    Returns (lead id, event id).
    """
    now = services.clock.now()
    with services.unit_of_work() as uow:
        lead = Lead(
            external_id=external_id,
            source="hubspot",
            status=LeadStatus.WORKING,
            qualified_at=now - timedelta(days=2, hours=3),
            received_at=now - timedelta(days=2, hours=3),
            score=72,
            contact_name="Sato Hanako",
            contact_email="hanako@example.co.jp",
            contact_title="営業部長",
            contact_phone="+81-3-0000-0000",
            company_name="Example KK",
            posted_at=now - timedelta(days=2),
            channel_id="C0000SALES",
            message_ts="1700000000.000100",
            owner_id=REP1,
            claimed_at=now - timedelta(days=2) + timedelta(minutes=5),
            first_touch_at=now - timedelta(days=2) + timedelta(hours=1),
            touch_count=3,
            updated_at=now,
        )
        uow.session.add(lead)
        uow.session.flush()
        if outcome == Action.RECYCLE:
            lead.decision_reason = str(data.get("reason", "no_budget"))
        lead.decided_at = now
        event = apply(lead, outcome, at=now, surface=Surface.MODAL, actor=REP1, data=dict(data))
        uow.session.flush()
        queue_outcome(services, uow, lead, event)
        ids = (lead.id, event.id)
        uow.commit()
    return ids


def webhook_rows(services: Services) -> list[OutboxMessage]:
    with services.unit_of_work() as uow:
        rows = uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.WEBHOOK)
            .order_by(OutboxMessage.id)
        ).all()
        for row in rows:
            uow.session.expunge(row)
        return list(rows)
