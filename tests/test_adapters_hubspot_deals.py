"""HubSpot deals → deal outcomes (SPEC 10) over real HTTP, on SQLite and PostgreSQL.

Signed ``deal.propertyChange`` events on ``dealstage`` reach ``POST /webhooks/hubspot``; the
real outbox worker reads each deal and its contacts from the CRM stand-in
(``tests/harness/fake_hubspot.py``) and records the outcome on the contact's lead.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from bot.adapters.hubspot_deals import DEAL_PROPERTIES
from bot.clock import ManualClock
from bot.lifecycle import Surface
from bot.outcomes import OutcomeInput, record_outcome
from bot.user_agent import USER_AGENT
from storage.models import LeadStatus, OutboxMessage, OutboxStatus
from storage.outbox_kind import OutboxKind
from tests.harness import FakeSlack
from tests.harness.adapters import HUBSPOT_TOKEN, BotFactory, deliver_all, send_v3
from tests.harness.bot_env import make_worker
from tests.harness.fake_hubspot import Failure, FakeHubSpot
from tests.harness.leads import counts, lead_row, make_lead, outcome_events, row_counts
from tests.harness.outbound import SECRET, Receiver
from tests.harness.policies import adapter_policy, webhook_policy

CONTACT = "501"
DEAL = "9001"
CLOSED = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
WON = {"dealstage": "closedwon", "amount": "1200000", "deal_currency_code": "JPY",
       "closedate": "2026-11-20T08:00:00Z", "dealname": "Example KK – annual plan"}


@pytest.fixture
def bot(make_bot: BotFactory, crm: FakeHubSpot) -> Any:
    return make_bot(hubspot_api_url=crm.url)


def stage_event(clock: ManualClock, stage: str, *, event_id: int = 1, deal: str = DEAL,
                prop: str = "dealstage") -> dict[str, Any]:
    """A Webhooks-API deal event, in the envelope of HubSpot's contact events."""
    return {"eventId": event_id, "subscriptionId": 25, "portalId": 62515, "appId": 1160452,
            "occurredAt": int(clock.now().timestamp() * 1000),
            "subscriptionType": "deal.propertyChange", "attemptNumber": 0,
            "objectId": int(deal), "changeSource": "CRM_UI", "propertyName": prop,
            "propertyValue": stage}


def deal_rows(bot: Any) -> list[OutboxMessage]:
    with bot.services.unit_of_work() as uow:
        rows = list(uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == OutboxKind.HUBSPOT_DEAL_FETCH).order_by(OutboxMessage.id)))
        uow.session.expunge_all()
        return rows


def sql_lead(bot: Any, contact: str = CONTACT, external_id: str = "hubspot:501:1") -> int:
    """A HubSpot contact's lead, converted to SQL (keyed as the contact intake keys it)."""
    return make_lead(bot.services, external_id, contact_key=f"hubspot:{contact}")


def close(bot: Any, clock: ManualClock, fake_slack: FakeSlack, stage: str,
          **event: Any) -> Any:
    response = send_v3(bot, [stage_event(clock, stage, **event)], clock)
    deliver_all(bot.services, clock, fake_slack)
    return response


# --- won, lost ---------------------------------------------------------------------------------


def test_a_won_deal_is_read_from_the_crm_and_recorded_on_the_contacts_lead(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    lead_id = sql_lead(bot)
    crm.add_deal(DEAL, WON, contacts=[CONTACT])

    response = send_v3(bot, [stage_event(clock, "closedwon")], clock)
    assert response.status == 202, response.body
    assert response.json()["results"] == [{"index": 0, "event": "deal.propertyChange",
                                           "lead_id": None, "status": "fetching",
                                           "reasons": []}]
    assert lead_row(bot.services, lead_id).status == LeadStatus.CONVERTED  # not fetched yet

    deliver_all(bot.services, clock, fake_slack)

    lead = lead_row(bot.services, lead_id)
    assert (lead.status, lead.deal_id, lead.deal_amount, lead.deal_currency, lead.closed_at,
            lead.outcome_source) == (LeadStatus.WON, DEAL, Decimal("1200000"), "JPY", CLOSED,
                                     "hubspot")
    assert outcome_events(bot.services, lead_id) == [("win", "won")]
    (row,) = deal_rows(bot)
    assert row.status == OutboxStatus.SENT
    (call,) = crm.requests
    assert call["path"] == f"/crm/v3/objects/deals/{DEAL}"
    assert call["query"]["associations"] == ["contacts"]
    assert call["query"]["properties"][0].split(",") == list(DEAL_PROPERTIES)
    assert (call["authorization"], call["user_agent"]) == (f"Bearer {HUBSPOT_TOKEN}", USER_AGENT)


@pytest.mark.parametrize(("said", "code", "kept"), [
    ("Competitor", "competitor", None),
    ("Lost contact", "lost_contact", None),
    ("Chose the in-house tool", "other", "Chose the in-house tool"),
])
def test_a_lost_deal_keeps_its_reason_as_a_code_or_other_with_the_words(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack,
    said: str, code: str, kept: str | None,
) -> None:
    lead_id = sql_lead(bot)
    crm.add_deal(DEAL, {**WON, "dealstage": "closedlost", "closed_lost_reason": said},
                 contacts=[CONTACT])

    close(bot, clock, fake_slack, "closedlost")

    lead = lead_row(bot.services, lead_id)
    assert (lead.status, lead.loss_reason, lead.loss_reason_text) == (LeadStatus.LOST, code, kept)
    assert (lead.deal_amount, lead.closed_at) == (Decimal("1200000"), CLOSED)


def test_the_crms_current_stage_decides_and_a_correction_lands_on_the_same_lead(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    first = sql_lead(bot)
    other = sql_lead(bot, contact="502", external_id="hubspot:502:1")
    crm.add_deal(DEAL, WON, contacts=[CONTACT, "502"])
    close(bot, clock, fake_slack, "closedwon")

    # the deal was lost after all, and its first contact dropped from it meanwhile
    crm.add_deal(DEAL, {**WON, "dealstage": "closedlost", "closed_lost_reason": "price"},
                 contacts=["502"])
    close(bot, clock, fake_slack, "closedlost", event_id=2)

    assert lead_row(bot.services, first).status == LeadStatus.LOST
    assert lead_row(bot.services, other).status == LeadStatus.CONVERTED
    assert outcome_events(bot.services) == [("win", "won"), ("lose", "lost")]


def test_the_first_contact_with_an_sql_is_the_deals_lead(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    never_sql = make_lead(bot.services, "hubspot:500:1", converted=False,
                          contact_key="hubspot:500")
    lead_id = sql_lead(bot)
    crm.add_deal(DEAL, WON, contacts=["499", "500", CONTACT])

    close(bot, clock, fake_slack, "closedwon")

    assert lead_row(bot.services, lead_id).status == LeadStatus.WON
    assert lead_row(bot.services, never_sql).status == LeadStatus.WORKING


def test_the_configured_stages_and_default_currency_apply(
    make_bot: BotFactory, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    bot = make_bot(adapter_policy(hubspot={"won_stages": ["1467822"], "lost_stages": ["1467823"],
                                        "default_currency": "usd"}), hubspot_api_url=crm.url)
    lead_id = sql_lead(bot)
    crm.add_deal(DEAL, {**WON, "dealstage": "1467822", "amount": "4500.50",
                        "deal_currency_code": None}, contacts=[CONTACT])

    assert close(bot, clock, fake_slack, "closedwon").json()["results"][0]["status"] == "ignored"
    assert crm.requests == []  # "closedwon" is not this portal's won stage
    close(bot, clock, fake_slack, "1467822", event_id=2)

    lead = lead_row(bot.services, lead_id)
    assert (lead.status, lead.deal_amount, lead.deal_currency) == (
        LeadStatus.WON, Decimal("4500.50"), "USD")


def test_an_amount_without_any_currency_is_left_out_not_guessed(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    lead_id = sql_lead(bot)
    crm.add_deal(DEAL, {**WON, "deal_currency_code": ""}, contacts=[CONTACT])
    with caplog.at_level(logging.WARNING):
        close(bot, clock, fake_slack, "closedwon")
    lead = lead_row(bot.services, lead_id)
    assert (lead.status, lead.deal_amount, lead.deal_currency) == (LeadStatus.WON, None, None)
    assert "default_currency" in caplog.text


def test_a_close_date_planned_far_ahead_gives_way_to_when_the_stage_changed(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    lead_id = sql_lead(bot)
    crm.add_deal(DEAL, {**WON, "closedate": "2027-03-31T00:00:00.000Z"}, contacts=[CONTACT])
    changed = clock.now()
    close(bot, clock, fake_slack, "closedwon")
    # when the stage changed (the worker's pacing may move the clock on a little meanwhile)
    assert changed <= lead_row(bot.services, lead_id).closed_at <= clock.now()


# --- reopened deals -----------------------------------------------------------------------------


def test_a_deal_moved_back_to_an_open_stage_reopens_only_hubspots_outcome(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    lead_id = sql_lead(bot)
    crm.add_deal(DEAL, WON, contacts=[CONTACT])
    close(bot, clock, fake_slack, "closedwon")

    crm.deals[DEAL]["properties"] = {**WON, "dealstage": "contractsent"}
    reopened = close(bot, clock, fake_slack, "contractsent", event_id=2)

    assert reopened.json()["results"][0]["status"] == "fetching"
    lead = lead_row(bot.services, lead_id)
    assert (lead.status, lead.closed_at, lead.deal_id) == (LeadStatus.CONVERTED, None, DEAL)
    assert outcome_events(bot.services, lead_id) == [("win", "won"), ("reopen", "converted")]


def test_an_open_stage_is_ignored_when_the_outcome_did_not_come_from_hubspot(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    lead_id = sql_lead(bot)
    assert record_outcome(bot.services, OutcomeInput("won", lead_id=lead_id, deal_id=DEAL),
                          source="api", surface=Surface.WEBHOOK).status == "recorded"
    crm.add_deal(DEAL, {**WON, "dealstage": "contractsent"}, contacts=[CONTACT])

    response = close(bot, clock, fake_slack, "contractsent")

    assert response.json()["results"][0]["status"] == "ignored"
    assert crm.requests == [] and deal_rows(bot) == []
    assert lead_row(bot.services, lead_id).status == LeadStatus.WON


def test_a_won_event_read_after_the_deal_reopened_records_nothing(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Events arrive late: the deal is open again by the time its "won" event is read."""
    lead_id = sql_lead(bot)
    crm.add_deal(DEAL, {**WON, "dealstage": "contractsent"}, contacts=[CONTACT])
    with caplog.at_level(logging.INFO):
        close(bot, clock, fake_slack, "closedwon")
    (row,) = deal_rows(bot)
    assert row.status == OutboxStatus.SKIPPED
    assert lead_row(bot.services, lead_id).status == LeadStatus.CONVERTED
    assert f"hubspot deal {DEAL} (contacts {CONTACT})" in caplog.text


# --- the fetch's failures ----------------------------------------------------------------------


def test_a_429_waits_for_retry_after_then_records_the_outcome(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    lead_id = sql_lead(bot)
    crm.add_deal(DEAL, WON, contacts=[CONTACT])
    crm.fail_next = [Failure(429, {"Retry-After": "20"}), Failure(429, {"Retry-After": "20"})]
    send_v3(bot, [stage_event(clock, "closedwon")], clock)
    worker = make_worker(bot.services, clock, fake_slack)

    for attempt in (1, 2):
        worker.run_once()
        (row,) = deal_rows(bot)
        assert (row.status, row.attempts) == (OutboxStatus.PENDING, attempt)
        assert row.not_before == clock.now() + timedelta(seconds=20)
        assert "429" in (row.last_error or "")
        worker.run_once()  # before Retry-After: HubSpot is not asked again
        assert len(crm.requests) == attempt
        assert lead_row(bot.services, lead_id).status == LeadStatus.CONVERTED
        clock.advance(timedelta(seconds=20))

    deliver_all(bot.services, clock, fake_slack)

    assert deal_rows(bot)[0].status == OutboxStatus.SENT
    assert lead_row(bot.services, lead_id).status == LeadStatus.WON
    assert len(crm.requests) == 3


def test_a_deleted_deal_is_moot(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    lead_id = sql_lead(bot)
    before = row_counts(bot.services)
    close(bot, clock, fake_slack, "closedwon")  # deal 9001 is not in the CRM: deleted
    (row,) = deal_rows(bot)
    assert row.status == OutboxStatus.SKIPPED
    assert "404" in (row.last_error or "") and "deal" in (row.last_error or "")
    assert lead_row(bot.services, lead_id).status == LeadStatus.CONVERTED
    assert row_counts(bot.services)["events"] == before["events"]


@pytest.mark.parametrize("contacts", [[], ["777"]], ids=["no contacts", "unknown contact"])
def test_a_deal_without_a_known_contact_is_moot_with_a_line_of_ids(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture, contacts: list[str],
) -> None:
    lead_id = sql_lead(bot)
    crm.add_deal(DEAL, WON, contacts=contacts)
    with caplog.at_level(logging.INFO):
        close(bot, clock, fake_slack, "closedwon")
    (row,) = deal_rows(bot)
    assert row.status == OutboxStatus.SKIPPED
    assert lead_row(bot.services, lead_id).status == LeadStatus.CONVERTED
    line = next(r.getMessage() for r in caplog.records if f"hubspot deal {DEAL}" in r.getMessage())
    assert "nothing recorded" in line and "Example" not in line  # ids, never the deal's name


def test_a_deal_whose_values_break_the_outcome_rules_fails_its_row_naming_them(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    lead_id = sql_lead(bot)
    crm.add_deal(DEAL, {**WON, "amount": "1200000.5"}, contacts=[CONTACT])  # yen have no sen
    close(bot, clock, fake_slack, "closedwon")
    (row,) = deal_rows(bot)
    assert row.status == OutboxStatus.FAILED and "amount" in (row.last_error or "")
    assert lead_row(bot.services, lead_id).status == LeadStatus.CONVERTED


# --- the endpoint ------------------------------------------------------------------------------


def test_a_duplicate_event_is_fetched_once_and_a_second_event_records_nothing_new(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    lead_id = sql_lead(bot)
    crm.add_deal(DEAL, WON, contacts=[CONTACT])
    close(bot, clock, fake_slack, "closedwon")

    again = close(bot, clock, fake_slack, "closedwon")  # HubSpot's retry of the same event
    another = close(bot, clock, fake_slack, "closedwon", event_id=2)  # the stage set again

    assert again.json()["results"][0]["status"] == "duplicate"
    assert another.json()["results"][0]["status"] == "fetching"
    assert len(crm.requests) == 2
    assert [row.status for row in deal_rows(bot)] == [OutboxStatus.SENT] * 2
    assert outcome_events(bot.services, lead_id) == [("win", "won")]


def test_other_deal_events_are_answered_and_ignored(
    bot: Any, crm: FakeHubSpot, clock: ManualClock
) -> None:
    sql_lead(bot)
    before = counts(bot.services.engine)
    batch = [stage_event(clock, "5000000", prop="amount"),
             stage_event(clock, "appointmentscheduled", event_id=2),
             {**stage_event(clock, "closedwon", event_id=3), "subscriptionType": "deal.creation"}]

    response = send_v3(bot, batch, clock)

    assert response.status == 202, response.body
    assert [r["status"] for r in response.json()["results"]] == ["ignored"] * 3
    assert counts(bot.services.engine) == before
    assert crm.requests == []


def test_a_bad_signature_is_refused_and_nothing_is_stored(
    bot: Any, crm: FakeHubSpot, clock: ManualClock
) -> None:
    sql_lead(bot)
    before = counts(bot.services.engine)
    body = json.dumps([stage_event(clock, "closedwon")])
    response = send_v3(bot, body, clock, secret="not-the-client-secret")
    assert (response.status, response.json()["error"]) == (401, "unauthorized")
    assert counts(bot.services.engine) == before and deal_rows(bot) == []


# --- no echo -----------------------------------------------------------------------------------


def test_the_outbound_webhook_never_echoes_a_hubspot_outcome(
    make_bot: BotFactory, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack,
    receiver: Receiver,
) -> None:
    bot = make_bot(webhook_policy(receiver.url, events=["won", "lost"]),
                   hubspot_api_url=crm.url, outbound_webhook_secret=SECRET)
    lead_id = sql_lead(bot)
    crm.add_deal(DEAL, WON, contacts=[CONTACT])

    close(bot, clock, fake_slack, "closedwon")
    clock.advance(timedelta(seconds=5))
    deliver_all(bot.services, clock, fake_slack)

    assert lead_row(bot.services, lead_id).status == LeadStatus.WON
    assert receiver.requests == []
    # the webhook is live: the same lead's outcome from another source is sent
    assert record_outcome(bot.services, OutcomeInput("lost", lead_id=lead_id, reason="price"),
                          source="api", surface=Surface.WEBHOOK).status == "recorded"
    clock.advance(timedelta(seconds=5))
    deliver_all(bot.services, clock, fake_slack)
    (sent,) = receiver.requests
    assert sent.json()["outcome"] == "lost"
    with bot.services.unit_of_work() as uow:
        kinds = list(uow.session.scalars(select(OutboxMessage.kind).where(
            OutboxMessage.kind == OutboxKind.WEBHOOK)))
    assert kinds == [OutboxKind.WEBHOOK]


def test_the_default_currency_must_be_an_iso_code() -> None:
    from bot.policy import PolicyError

    config = adapter_policy(hubspot={"default_currency": " jpy "}).adapters.hubspot
    assert config.default_currency == "JPY"
    with pytest.raises(PolicyError, match="default_currency"):
        adapter_policy(hubspot={"default_currency": "YEN"})
