"""``POST /webhooks/outcome`` over real HTTP against the running bot (SPEC 10).

What the CRM sees: 202 with the lead and ``recorded`` / ``duplicate`` / ``unknown_lead`` /
``not_converted``, and a precise 4xx naming the field for anything wrong — with nothing
written to the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.policy import Policy
from bot.services import Services, build_services
from bot.user_agent import slack_client
from handlers.server import BotServer
from storage.models import LeadStatus
from tests.harness import FakeSlack
from tests.harness.bot_env import make_services, start_bot
from tests.harness.databases import Database
from tests.harness.intake import OUTCOME_PATH, refusing_bot
from tests.harness.intake import post as post_intake
from tests.harness.leads import lead_row, make_lead, outcome_events, row_counts
from tests.harness.racing import race
from tests.harness.settings import BOT_TOKEN, INTAKE_TOKEN, make_settings

# SPEC 10's example, with a lead to find
EXAMPLE: dict[str, Any] = {
    "external_id": "crm-1", "outcome": "won", "amount": 1200000, "currency": "JPY",
    "closed_at": "2026-11-20T18:00:00+09:00", "note": "signed the annual plan",
    "deal_id": "crm-deal-77",
}

#: the CRM's delivery: ``post`` to the outcome endpoint
post = partial(post_intake, path=OUTCOME_PATH)


@pytest.fixture
def services(fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock) -> Services:
    return make_services(fake_slack, db, policy, clock)


@pytest.fixture
def server(bot: BotServer) -> BotServer:
    """The running bot on this module's services (each kind of database)."""
    return bot


def test_spec_example_is_recorded_then_a_duplicate(services: Services, server: BotServer) -> None:
    lead_id = make_lead(services, "crm-1")
    answer = post(server, EXAMPLE)
    assert (answer.status, answer.json()) == (202, {"lead_id": lead_id, "status": "recorded"})
    lead = lead_row(services, lead_id)
    assert (lead.status, lead.deal_amount, lead.deal_currency, lead.deal_id) == (
        LeadStatus.WON, Decimal(1200000), "JPY", "crm-deal-77")
    assert lead.closed_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert lead.outcome_source == "api"
    again = post(server, EXAMPLE)
    assert (again.status, again.json()) == (202, {"lead_id": lead_id, "status": "duplicate"})


def test_a_loss_by_lead_id_keeps_an_unknown_reason_as_other(
    services: Services, server: BotServer
) -> None:
    lead_id = make_lead(services, "crm-1")
    answer = post(server, {"lead_id": lead_id, "outcome": "lost", "reason": "went quiet",
                           "note": "no answer since October"})
    assert answer.json() == {"lead_id": lead_id, "status": "recorded"}
    lead = lead_row(services, lead_id)
    assert (lead.status, lead.loss_reason, lead.loss_reason_text, lead.loss_note) == (
        LeadStatus.LOST, "other", "went quiet", "no answer since October")


def test_unknown_and_unconverted_leads_are_answered_and_write_nothing(
    services: Services, server: BotServer
) -> None:
    posted = make_lead(services, "crm-posted", converted=False, status=LeadStatus.POSTED)
    before = row_counts(services)
    unknown = post(server, {**EXAMPLE, "external_id": "nobody"})
    assert (unknown.status, unknown.json()) == (202, {"lead_id": None, "status": "unknown_lead"})
    not_sql = post(server, {**EXAMPLE, "external_id": "crm-posted"})
    assert not_sql.json() == {"lead_id": posted, "status": "not_converted"}
    assert row_counts(services) == before


def test_twenty_concurrent_deliveries_record_the_outcome_once(
    services: Services, server: BotServer
) -> None:
    lead_id = make_lead(services, "crm-1")
    contest = race([partial(post, server, EXAMPLE)] * 20)
    assert contest.errors == []
    answers = contest.results
    assert [a.status for a in answers] == [202] * 20
    assert sorted(a.json()["status"] for a in answers) == ["duplicate"] * 19 + ["recorded"]
    assert {a.json()["lead_id"] for a in answers} == {lead_id}
    assert outcome_events(services, lead_id) == [("win", "won")]


# --------------------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def refusing(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[BotServer, Services]]:
    """One bot with one SQL for the refused requests: each asserts it wrote nothing."""
    with refusing_bot(tmp_path_factory.mktemp("refused")) as running:
        make_lead(running.services, "crm-1")
        yield running, running.services


def example(**changes: Any) -> dict[str, Any]:
    body = {**EXAMPLE, **changes}
    return {k: v for k, v in body.items() if v is not DROP}


DROP: Any = object()

BAD_BODIES: list[tuple[str, Any, str]] = [
    ("no lead", example(external_id=DROP), "external_id"),
    ("both ids", example(lead_id=1), "lead_id"),
    ("empty external id", example(external_id=""), "external_id"),
    ("numeric external id", example(external_id=12), "external_id"),
    ("lead id as text", example(external_id=DROP, lead_id="1"), "lead_id"),
    ("lead id zero", example(external_id=DROP, lead_id=0), "lead_id"),
    ("lead id past the column", example(external_id=DROP, lead_id=2**31), "lead_id"),
    ("no outcome", example(outcome=DROP), "outcome"),
    ("unknown outcome", example(outcome="closed"), "outcome"),
    ("amount as text", example(amount="1200000"), "amount"),
    ("amount true", example(amount=True), "amount"),
    ("negative amount", example(amount=-5), "amount"),
    ("amount too large", example(amount=10**15), "amount"),
    ("yen with decimals", example(amount=1200000.5), "amount"),
    ("amount without currency", example(currency=DROP), "currency"),
    ("unknown currency", example(currency="JYP"), "currency"),
    ("currency as number", example(currency=392), "currency"),
    ("closed_at without offset", example(closed_at="2026-11-20T18:00:00"), "closed_at"),
    ("closed_at as epoch", example(closed_at=1700000000), "closed_at"),
    ("closed_at far ahead", example(closed_at="9999-12-31T00:00:00+00:00"), "closed_at"),
    ("closed_at before 2000", example(closed_at="1970-01-01T00:00:00Z"), "closed_at"),
    ("closed_at on an open deal", example(outcome="open"), "closed_at"),
    ("reason on a win", example(reason="price"), "reason"),
    ("note too long", example(note="x" * 3001), "note"),
    ("deal id too long", example(deal_id="d" * 201), "deal_id"),
    ("misspelt field", example(ammount=5), "ammount"),
    ("NUL in the note", example(note="a\u0000b"), "note"),
    ("duplicated key", '{"external_id": "crm-1", "outcome": "won", "outcome": "lost"}',
     "outcome"),
    ("not an object", [EXAMPLE], "(body)"),
    ("not JSON", "{outcome: won}", "(body)"),
    ("empty body", "", "(body)"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c for c, _, _ in BAD_BODIES])
def test_a_bad_body_is_a_400_naming_its_field_and_writes_nothing(
    refusing: tuple[BotServer, Services], case: str, body: Any, field: str
) -> None:
    server, services = refusing
    before = row_counts(services)
    answer = post(server, body)
    assert answer.status == 400, answer.body
    assert answer.json()["error"] == "invalid_request"
    assert field in [e["field"] for e in answer.json()["errors"]], answer.json()
    assert row_counts(services) == before


@pytest.mark.parametrize(("token", "content_type", "status"), [
    (None, "application/json", 401),
    ("wrong-token", "application/json", 401),
    (INTAKE_TOKEN, "text/plain", 415),
    (INTAKE_TOKEN, None, 415),
])
def test_unauthorized_or_not_json_is_refused_before_reading(
    refusing: tuple[BotServer, Services], token: str | None, content_type: str | None,
    status: int,
) -> None:
    server, services = refusing
    before = row_counts(services)
    answer = post(server, EXAMPLE, token=token, content_type=content_type)
    assert answer.status == status
    assert row_counts(services) == before


def test_a_body_over_the_limit_is_a_413(refusing: tuple[BotServer, Services]) -> None:
    server, services = refusing
    before = row_counts(services)
    answer = post(server, example(note="x" * (2 * 1024 * 1024)))
    assert answer.status == 413
    assert row_counts(services) == before


def test_the_previous_token_still_works_during_a_rotation(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> None:
    settings = make_settings(fake_slack, sqlite_db.url, intake_token="new-token-value",
                             intake_token_previous=INTAKE_TOKEN)
    services = build_services(settings, policy, clock, engine=sqlite_db.engine,
                              slack=slack_client(token=BOT_TOKEN, base_url=fake_slack.base_url))
    lead_id = make_lead(services, "crm-1")
    running = start_bot(services)
    try:
        assert post(running, EXAMPLE).json() == {"lead_id": lead_id, "status": "recorded"}
        assert post(running, EXAMPLE, token="new-token-value").json()["status"] == "duplicate"
    finally:
        running.stop()
