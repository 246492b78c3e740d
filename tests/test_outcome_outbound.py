"""Deal outcomes on the outbound webhook (SPEC 6, 10): sent when listed, never echoed to the CRM.

The receiver and helpers are ``tests.test_outbound``'s; the outcomes are recorded through
``bot.outcomes`` as the webhook, the CSV import and the HubSpot adapter record them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.clock import ManualClock
from bot.lifecycle import Action, Surface
from bot.outcomes import OutcomeInput, record_outcome
from bot.services import Services
from tests.harness import FakeSlack
from tests.harness.bot_env import make_worker
from tests.harness.databases import Database
from tests.harness.outbound import Receiver, decide, webhook_rows, webhook_services
from tests.harness.policies import webhook_policy


def deal_services(
    fake_slack: FakeSlack, db: Database, clock: ManualClock, receiver: Receiver,
    events: list[str],
) -> Services:
    return webhook_services(fake_slack, db, webhook_policy(receiver.url, events=events), clock)


def test_a_deal_outcome_is_sent_when_listed_but_never_echoed_to_the_crm(
    fake_slack: FakeSlack, db: Database, clock: ManualClock, receiver: Receiver,
) -> None:
    services = deal_services(fake_slack, db, clock, receiver, ["won", "lost"])
    lead_id, _ = decide(services, Action.CONVERT)  # "converted" is not listed: not sent
    assert webhook_rows(services) == []
    closed = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    won = record_outcome(services, OutcomeInput(
        "won", lead_id=lead_id, amount=Decimal("1200000"), currency="JPY", closed_at=closed,
        deal_id="crm-deal-77", note="signed"), source="api", surface=Surface.WEBHOOK)
    from_crm = record_outcome(services, OutcomeInput("lost", lead_id=lead_id, reason="price"),
                              source="hubspot", surface=Surface.WEBHOOK)
    from_file = record_outcome(services, OutcomeInput("lost", lead_id=lead_id, reason="timing",
                                                      deal_id="crm-deal-78"),
                               source="csv", surface=Surface.CSV)
    assert [won.status, from_crm.status, from_file.status] == ["recorded"] * 3
    keys = [row.idempotency_key for row in webhook_rows(services)]
    assert keys == [f"webhook:{lead_id}:{won.event_id}", f"webhook:{lead_id}:{from_file.event_id}"]

    clock.advance(timedelta(seconds=3))
    make_worker(services, clock, fake_slack).run_once()  # the two webhooks, and Slack's posts
    sent_won, sent_lost = (request.json() for request in receiver.requests)
    assert {k: sent_won[k] for k in ("event", "outcome", "reason", "amount", "deal", "bant")} == {
        "event": "lead.won", "outcome": "won", "reason": None, "amount": 1200000,
        "deal": {"id": "crm-deal-77", "currency": "JPY",
                 "closed_at": "2026-11-20T18:00:00+09:00"},
        "bant": [],
    }
    assert sent_won["lead"]["id"] == lead_id
    assert sent_won["timestamps"]["decided_at"] == "2026-11-24T10:00:00+09:00"
    assert b"signed" not in receiver.requests[0].body  # notes stay home
    assert (sent_lost["event"], sent_lost["reason"], sent_lost["amount"]) == (
        "lead.lost", "timing", None)
    assert sent_lost["deal"]["id"] == "crm-deal-78"


def test_deal_outcomes_are_not_sent_unless_listed(
    fake_slack: FakeSlack, sqlite_db: Database, clock: ManualClock, receiver: Receiver,
) -> None:
    services = deal_services(fake_slack, sqlite_db, clock, receiver, ["converted", "recycled"])
    lead_id, _ = decide(services, Action.CONVERT)
    before = webhook_rows(services)
    assert record_outcome(services, OutcomeInput("won", lead_id=lead_id), source="api",
                          surface=Surface.WEBHOOK).status == "recorded"
    assert [r.id for r in webhook_rows(services)] == [r.id for r in before]
