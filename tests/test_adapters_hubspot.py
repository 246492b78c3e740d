"""``POST /webhooks/hubspot`` over real HTTP: signatures, the workflow body, thin events.

Thin Webhooks-API events are answered at once and their contacts fetched later by the real
outbox worker from a local stand-in of HubSpot's CRM API (``tests/harness/fake_hubspot.py``).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.adapters.hubspot import sign_v1, sign_v3
from bot.clock import ManualClock
from bot.outbox.worker import MAX_ATTEMPTS
from bot.user_agent import USER_AGENT
from storage.models import LeadStatus, OutboxMessage, OutboxStatus
from tests.harness import FakeSlack
from tests.harness.adapters import (
    HUBSPOT_PATH,
    HUBSPOT_SECRET,
    HUBSPOT_TOKEN,
    BotFactory,
    deliver_all,
    leads,
    ms,
    payload,
    post,
    send_v3,
)
from tests.harness.bot_env import make_worker
from tests.harness.fake_hubspot import Failure, FakeHubSpot
from tests.harness.leads import counts
from tests.harness.policies import adapter_policy

SIGNED_SAMPLE = "hubspot_webhooks_contact_creation_signed.json"
SAMPLE_SIGNATURE = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
NOTHING = {"leads": 0, "activities": 0, "lead_events": 0, "outbox": 0}


MQL_AT = datetime(2026, 11, 24, 0, 12, tzinfo=UTC)
QUALIFYING = {
    "firstname": "Hanako", "lastname": "Sato", "email": "hanako@example.co.jp",
    "jobtitle": "営業部長", "hubspotscore": "72", "lifecyclestage": "marketingqualifiedlead",
    "hs_lifecyclestage_marketingqualifiedlead_date": "2026-11-24T00:12:00.000Z",
    "hs_analytics_num_page_views": "14",
    "hs_analytics_last_url": "https://example.com/pricing",
    "hs_analytics_last_timestamp": "2026-11-20T01:01:00.000Z",
    "recent_conversion_event_name": "SLA whitepaper download",
    "recent_conversion_date": "2026-11-21T06:30:00.000Z",
}
COMPANY = ("456", {"name": "Example KK", "industry": "manufacturing",
                   "numberofemployees": "250", "domain": "example.co.jp"})


@pytest.fixture
def bot(make_bot: BotFactory, crm: FakeHubSpot) -> Any:
    return make_bot(hubspot_api_url=crm.url)


def run_worker(bot: Any, clock: ManualClock, fake_slack: FakeSlack) -> None:
    deliver_all(bot.services, clock, fake_slack)


def fetch_rows(bot: Any) -> list[OutboxMessage]:
    with bot.services.unit_of_work() as uow:
        rows = list(uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "hubspot_fetch").order_by(OutboxMessage.id)))
        uow.session.expunge_all()
        return rows


# --- signatures ------------------------------------------------------------------------------


def test_the_signed_sample_verifies_with_its_documented_secret(bot: Any, crm: FakeHubSpot,
                                                               clock: ManualClock,
                                                               fake_slack: FakeSlack) -> None:
    body = payload(SIGNED_SAMPLE)
    assert sign_v1(HUBSPOT_SECRET, body) == SAMPLE_SIGNATURE  # the published pair

    response = post(bot, HUBSPOT_PATH, body, {"X-HubSpot-Signature": SAMPLE_SIGNATURE,
                                      "X-HubSpot-Signature-Version": "v1"})

    assert response.status == 202, response.body
    assert response.json()["results"] == [{"index": 0, "event": "contact.creation",
                                           "lead_id": None, "status": "fetching",
                                           "reasons": []}]
    crm.add_contact("123", QUALIFYING, COMPANY)
    run_worker(bot, clock, fake_slack)
    (lead,) = leads(bot.services)
    assert (lead.external_id, lead.contact_key) == ("hubspot:123:1", "hubspot:123")


@pytest.mark.parametrize("position", [0, 40, -1], ids=["first byte", "middle", "last byte"])
def test_one_changed_byte_fails_the_signature(bot: Any, position: int) -> None:
    body = bytearray(payload(SIGNED_SAMPLE))
    body[position] = ord("X") if body[position] != ord("X") else ord("Y")

    response = post(bot, HUBSPOT_PATH, bytes(body), {"X-HubSpot-Signature": SAMPLE_SIGNATURE})

    assert response.status == 401, response.body
    assert counts(bot.services.engine) == NOTHING


def test_v3_signatures_cover_the_url_and_a_five_minute_window(
    make_bot: BotFactory, crm: FakeHubSpot, clock: ManualClock
) -> None:
    bot = make_bot(hubspot_api_url=crm.url)
    body = payload(SIGNED_SAMPLE)

    assert send_v3(bot, body, clock, age=timedelta(minutes=4)).status == 202
    too_old = send_v3(bot, body, clock, age=timedelta(minutes=6))
    assert (too_old.status, too_old.json()["error"]) == (401, "unauthorized")
    assert "5 minutes" in too_old.json()["message"]
    assert send_v3(bot, body, clock, secret="another-secret").status == 401
    assert send_v3(bot, body, clock, uri="https://sla.example.com/webhooks/hubspot"
                   ).status == 401
    assert post(bot, HUBSPOT_PATH, body).status == 401  # no signature at all

    # behind a proxy: HubSpot called the public URL, the bot sees its own Host
    proxied = make_bot(hubspot_api_url=crm.url, public_base_url="https://sla.example.com")
    assert send_v3(proxied, body, clock, uri="https://sla.example.com/webhooks/hubspot"
                   ).status == 202


def test_an_absurd_v3_timestamp_is_refused_not_a_server_error(
    bot: Any, clock: ManualClock
) -> None:
    body = payload(SIGNED_SAMPLE)
    stamp = "9" * 25
    signature = sign_v3(HUBSPOT_SECRET, "POST", f"{bot.url}{HUBSPOT_PATH}", body, stamp)
    response = post(bot, HUBSPOT_PATH, body, {"X-HubSpot-Signature-v3": signature,
                                      "X-HubSpot-Request-Timestamp": stamp})
    assert (response.status, response.json()["error"]) == (401, "unauthorized")
    assert counts(bot.services.engine) == NOTHING


def test_without_a_client_secret_the_endpoint_is_off(make_bot: BotFactory) -> None:
    bot = make_bot(hubspot_client_secret=None)
    response = post(bot, HUBSPOT_PATH, payload(SIGNED_SAMPLE), {"X-HubSpot-Signature": "x"})
    assert (response.status, response.json()["error"]) == (404, "not_enabled")


def test_thin_events_without_an_access_token_are_refused_for_a_retry(
    make_bot: BotFactory, clock: ManualClock
) -> None:
    bot = make_bot(hubspot_access_token=None)
    response = send_v3(bot, payload(SIGNED_SAMPLE), clock)
    assert (response.status, response.json()["error"]) == (503, "fetch_disabled")
    assert counts(bot.services.engine) == NOTHING


# --- thin events and the durable fetch --------------------------------------------------------


def test_a_thin_event_is_fetched_from_the_crm_and_handed_off_once(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    crm.add_contact("123", QUALIFYING, COMPANY)
    response = send_v3(bot, payload("hubspot_webhooks_contact_creation_snowplow_fixture.json"),
                       clock)
    assert response.status == 202
    assert counts(bot.services.engine)["leads"] == 0  # answered before any fetch

    run_worker(bot, clock, fake_slack)

    (lead,) = leads(bot.services)
    assert lead.status == LeadStatus.POSTED
    assert (lead.contact_name, lead.contact_email, lead.contact_title, lead.score) == (
        "Hanako Sato", "hanako@example.co.jp", "営業部長", 72)
    assert (lead.company_name, lead.company_industry, lead.company_employees,
            lead.company_domain) == ("Example KK", "manufacturing", 250, "example.co.jp")
    assert lead.qualified_at == MQL_AT
    assert sorted((a.type, a.detail) for a in lead.activities) == [
        ("download", "SLA whitepaper download"), ("page_view", "https://example.com/pricing")]
    assert lead.extra["vendor"] == {"name": "hubspot", "event": "contact.creation",
                                    "contact_id": "123"}
    assert len(fake_slack.messages("C0000SALES")) == 1
    contact_call, company_call = crm.requests
    assert contact_call["path"] == "/crm/v3/objects/contacts/123"
    assert contact_call["authorization"] == f"Bearer {HUBSPOT_TOKEN}"
    assert contact_call["user_agent"] == company_call["user_agent"] == USER_AGENT
    assert "lifecyclestage" in contact_call["query"]["properties"][0].split(",")
    assert company_call["path"] == "/crm/v3/objects/companies/456"


def test_a_429_from_the_crm_is_retried_from_the_queue_after_retry_after(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    crm.add_contact("123", QUALIFYING, COMPANY)
    # more refusals than the outbox's attempt limit: a rate limit is never given up on
    crm.fail_next = [Failure(429, {"Retry-After": "30"}) for _ in range(MAX_ATTEMPTS + 2)]
    assert send_v3(bot, payload(SIGNED_SAMPLE), clock).status == 202
    worker = make_worker(bot.services, clock, fake_slack)

    for attempt in range(1, MAX_ATTEMPTS + 3):
        worker.run_once()
        (row,) = fetch_rows(bot)
        assert (row.status, row.attempts) == (OutboxStatus.PENDING, attempt)
        assert row.not_before == clock.now() + timedelta(seconds=30)
        assert "429" in (row.last_error or "")
        worker.run_once()  # before Retry-After has passed: HubSpot is not asked again
        assert len(crm.requests) == attempt
        clock.advance(timedelta(seconds=30))

    deliver_all(bot.services, clock, fake_slack)

    (row,) = fetch_rows(bot)
    assert row.status == OutboxStatus.SENT
    (lead,) = leads(bot.services)
    assert lead.status == LeadStatus.POSTED
    assert len(fake_slack.messages("C0000SALES")) == 1


def test_a_contact_that_no_longer_exists_is_skipped_not_failed(
    bot: Any, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    send_v3(bot, payload(SIGNED_SAMPLE), clock)  # contact 123 is not in the CRM (deleted)
    run_worker(bot, clock, fake_slack)
    (row,) = fetch_rows(bot)
    assert row.status == OutboxStatus.SKIPPED and "404" in (row.last_error or "")
    assert counts(bot.services.engine)["leads"] == 0
    assert fake_slack.messages("C0000SALES") == []


def test_an_out_of_range_occurred_at_does_not_break_the_pass(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    crm.add_contact("123", QUALIFYING, COMPANY)
    crm.add_contact("124", QUALIFYING, COMPANY)
    good = json.loads(payload(SIGNED_SAMPLE))[0]
    batch = [{**good, "eventId": 7, "occurredAt": 10**20,
              "propertyName": "lifecyclestage", "propertyValue": "marketingqualifiedlead"},
             {**good, "objectId": 124, "eventId": 8}]
    assert send_v3(bot, batch, clock).status == 202

    run_worker(bot, clock, fake_slack)  # the bad row first: it must not abort the passes

    bad, other = fetch_rows(bot)
    assert other.status == OutboxStatus.SENT
    assert bad.status == OutboxStatus.FAILED and "occurredAt" in (bad.last_error or "")
    assert str(10**20) not in caplog.text
    assert [lead.contact_key for lead in leads(bot.services)] == ["hubspot:124"]


def test_an_unexpected_error_in_a_fetch_is_retried_without_its_message(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    crm.add_contact("123", QUALIFYING, COMPANY)
    assert send_v3(bot, payload(SIGNED_SAMPLE), clock).status == 202

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("hanako@example.co.jp")

    monkeypatch.setattr("bot.adapters.hubspot.from_crm", broken)
    make_worker(bot.services, clock, fake_slack).run_once()  # must not raise

    (row,) = fetch_rows(bot)
    assert row.status == OutboxStatus.PENDING and row.last_error == "unexpected RuntimeError"
    assert "hanako@" not in caplog.text and "RuntimeError" in caplog.text


def test_a_thin_event_value_of_the_wrong_kind_is_rejected_alone(
    bot: Any, clock: ManualClock
) -> None:
    good = json.loads(payload(SIGNED_SAMPLE))[0]
    response = send_v3(bot, [good, {**good, "eventId": 2, "subscriptionType": ["x"]}], clock)
    assert response.status == 207, response.body
    assert [r["status"] for r in response.json()["results"]] == ["fetching", "rejected"]


def test_a_workflow_vid_of_the_wrong_kind_is_rejected(bot: Any, clock: ManualClock) -> None:
    response = send_v3(bot, {**workflow(), "vid": {"x": 1}, "canonical-vid": None}, clock)
    assert response.status in {400, 422}, response.body
    assert counts(bot.services.engine)["leads"] == 0


def test_a_stage_change_to_another_stage_is_recorded_not_qualified_and_never_posts(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    crm.add_contact("1246965", {**QUALIFYING, "lifecyclestage": "subscriber"}, COMPANY)
    body = payload("hubspot_webhooks_contact_propertyChange_lifecyclestage.json")

    assert send_v3(bot, body, clock).json()["results"][0]["status"] == "fetching"
    run_worker(bot, clock, fake_slack)

    (lead,) = leads(bot.services)
    assert lead.external_id == "hubspot:1246965:3816279340"
    assert lead.status == LeadStatus.NOT_QUALIFIED
    # the rest of the definition is met: the stage alone keeps it from sales
    assert lead.qualification["reasons"] == [
        "HubSpot lifecycle stage is 'subscriber', not 'marketingqualifiedlead'"]
    assert lead.qualified_at == datetime.fromtimestamp(1462216307945 / 1000, UTC)
    assert fake_slack.calls == []


def test_a_stage_change_for_a_lead_with_sales_only_adds_behaviour(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    crm.add_contact("123", QUALIFYING, COMPANY)
    send_v3(bot, payload(SIGNED_SAMPLE), clock)
    run_worker(bot, clock, fake_slack)
    crm.contacts["123"]["properties"] = {
        **QUALIFYING, "lifecyclestage": "salesqualifiedlead",
        "recent_conversion_event_name": "Book a demo",
        "recent_conversion_date": "2026-11-24T00:50:00.000Z"}
    change = [{"objectId": 123, "eventId": 99, "occurredAt": ms(clock.now()),
               "subscriptionType": "contact.propertyChange", "propertyName": "lifecyclestage",
               "propertyValue": "salesqualifiedlead", "portalId": 62515}]

    send_v3(bot, change, clock)
    run_worker(bot, clock, fake_slack)

    (lead,) = leads(bot.services)
    assert lead.status == LeadStatus.POSTED
    assert ("demo_request", "Book a demo") in {(a.type, a.detail) for a in lead.activities}
    assert lead.events[-1].kind == "behaviour"
    assert lead.events[-1].data["event"]["key"] == "hubspot:123:99"
    assert len(fake_slack.messages("C0000SALES")) == 1


def test_replaying_thin_events_creates_one_lead(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    crm.add_contact("123", QUALIFYING, COMPANY)
    body = payload(SIGNED_SAMPLE)
    send_v3(bot, body, clock)
    run_worker(bot, clock, fake_slack)

    again = send_v3(bot, body, clock)
    run_worker(bot, clock, fake_slack)

    assert again.json()["results"][0]["status"] == "duplicate"
    assert len(leads(bot.services)) == 1
    assert len(fetch_rows(bot)) == 1


def test_a_batch_with_bad_events_accepts_the_good_ones(bot: Any, clock: ManualClock) -> None:
    good = json.loads(payload(SIGNED_SAMPLE))[0]
    batch = [good, {**good, "eventId": 2, "objectId": None}, "nonsense",
             {**good, "eventId": 3, "subscriptionType": "company.creation"}]

    response = send_v3(bot, batch, clock)

    assert response.status == 207, response.body
    assert [r["status"] for r in response.json()["results"]] == [
        "fetching", "rejected", "rejected", "ignored"]
    assert response.json()["results"][1]["errors"] == [
        {"field": "[1].objectId", "message": "required: the event's id"}]
    assert len(fetch_rows(bot)) == 1


# --- the workflow "Send a webhook" body -------------------------------------------------------


def workflow(stage: str = "marketingqualifiedlead") -> dict[str, Any]:
    """A workflow's contact as HubSpot sends it: every property wrapped, times in epoch ms."""
    def wrapped(value: str, at: datetime | None = None) -> dict[str, Any]:
        version = {"value": value, "source-type": "CALCULATED", "selected": False,
                   "timestamp": ms(at or MQL_AT)}
        return {"value": value, "versions": [version]}

    return {
        "vid": 3234574, "canonical-vid": 3234574, "portal-id": 62515, "is-contact": True,
        "merged-vids": [],
        "properties": {
            "firstname": wrapped("Hanako"), "lastname": wrapped("Sato"),
            "email": wrapped("hanako@example.co.jp"), "jobtitle": wrapped("Sales Manager"),
            "hubspotscore": wrapped("72"), "lifecyclestage": wrapped(stage),
            "hs_lifecyclestage_marketingqualifiedlead_date": wrapped(str(ms(MQL_AT))),
            "hs_analytics_last_url": wrapped("https://example.com/pricing"),
            "hs_analytics_last_timestamp": wrapped(
                str(ms(datetime(2026, 11, 20, 1, 1, tzinfo=UTC)))),
            "lastmodifieddate": wrapped(str(ms(MQL_AT))),
            "phone": wrapped(""),
        },
        "form-submissions": [{
            "conversion-id": "9c3e", "timestamp": ms(datetime(2026, 11, 22, 5, tzinfo=UTC)),
            "form-id": "f-1", "portal-id": 62515, "page-url": "https://example.com/webinar",
            "title": "Webinar registration",
        }],
        "associated-company": {
            "company-id": 456, "portal-id": 62515,
            "properties": {"name": wrapped("Example KK"), "industry": wrapped("manufacturing"),
                           "numberofemployees": wrapped("250")},
        },
    }


def test_a_workflow_body_lands_in_the_right_fields_and_replays_are_duplicates(
    bot: Any, clock: ManualClock, crm: FakeHubSpot
) -> None:
    first = send_v3(bot, workflow(), clock)
    again = send_v3(bot, workflow(), clock)

    assert first.status == 202 and first.json()["status"] == "queued", first.body
    assert again.json() == {**first.json(), "status": "duplicate"}
    (lead,) = leads(bot.services)
    assert lead.external_id == "hubspot:3234574:workflow:2026-11-24T00:12:00+00:00"
    assert (lead.contact_name, lead.contact_title, lead.contact_phone, lead.score) == (
        "Hanako Sato", "Sales Manager", None, 72)
    assert (lead.company_name, lead.company_industry, lead.company_employees) == (
        "Example KK", "manufacturing", 250)
    assert lead.qualified_at == MQL_AT
    assert sorted((a.type, a.detail, a.at) for a in lead.activities) == [
        ("page_view", "https://example.com/pricing", datetime(2026, 11, 20, 1, 1, tzinfo=UTC)),
        ("webinar", "Webinar registration", datetime(2026, 11, 22, 5, tzinfo=UTC)),
    ]
    assert lead.extra["hubspot"] == {"lifecyclestage": "marketingqualifiedlead"}
    assert crm.requests == []  # the workflow body is the whole contact: nothing to fetch


def test_a_workflow_body_at_another_stage_is_not_qualified(bot: Any, clock: ManualClock) -> None:
    response = send_v3(bot, workflow(stage="lead"), clock)
    assert response.json()["status"] == "not_qualified"
    assert response.json()["reasons"] == [
        "HubSpot lifecycle stage is 'lead', not 'marketingqualifiedlead'"]


def test_a_workflow_value_of_the_wrong_kind_names_its_field(bot: Any, clock: ManualClock) -> None:
    body = workflow()
    body["properties"]["hubspotscore"] = {"value": "very high"}
    response = send_v3(bot, body, clock)
    assert response.status == 400
    assert response.json()["errors"] == [{"field": "hubspotscore",
                                          "message": "expected a number, got 'very high'"}]
    assert counts(bot.services.engine) == NOTHING


def test_the_mql_stage_is_configurable(make_bot: BotFactory, clock: ManualClock) -> None:

    bot = make_bot(adapter_policy(hubspot={"mql_stage": "lead"}))
    response = send_v3(bot, copy.deepcopy(workflow(stage="lead")), clock)
    assert response.json()["status"] == "queued", response.body


def test_a_fetched_contact_with_an_absurd_mql_date_fails_its_row_naming_the_field(
    bot: Any, crm: FakeHubSpot, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    """The CRM's answer goes through the same intake validation as a webhook body."""
    crm.add_contact("123", {**QUALIFYING, "hs_lifecyclestage_marketingqualifiedlead_date":
                            "9999-12-31T23:00:00.000Z"}, COMPANY)
    assert send_v3(bot, payload("hubspot_webhooks_contact_creation_snowplow_fixture.json"),
                   clock).status == 202

    run_worker(bot, clock, fake_slack)

    (row,) = fetch_rows(bot)
    assert row.status == OutboxStatus.FAILED and "qualified_at" in (row.last_error or "")
    assert counts(bot.services.engine)["leads"] == 0
