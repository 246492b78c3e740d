"""``POST /webhooks/mautic`` over real HTTP: Mautic's own payloads, signed as Mautic signs them."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.adapters.mautic import sign
from bot.clock import ManualClock
from storage.models import LeadStatus
from tests.harness import FakeSlack
from tests.harness.adapters import (
    MAUTIC_FILES,
    MAUTIC_PATH,
    MAUTIC_SECRET,
    BotFactory,
    deliver_all,
    envelope,
    leads,
    payload_json,
    post,
    send,
)
from tests.harness.leads import counts

NOTHING = {"leads": 0, "activities": 0, "lead_events": 0, "outbox": 0}


def test_each_payload_lands_in_the_right_fields(make_bot: BotFactory) -> None:
    bot = make_bot()
    for kind in MAUTIC_FILES:
        response = send(bot, envelope(kind))
        assert response.status == 202, response.body
    by_key = {lead.external_id: lead for lead in leads(bot.services)}

    # Contact 52's three events are one person: one lead, judged at each event.
    assert sorted(by_key) == [
        "mautic:26:form_on_submit:2015-08-26T01:30:34+00:00",
        "mautic:52:lead_post_save_new:2017-06-19T09:31:18+00:00",
    ]
    john = by_key["mautic:52:lead_post_save_new:2017-06-19T09:31:18+00:00"]
    assert (john.contact_key, john.source, john.contact_name, john.contact_email) == (
        "mautic:52", "mautic", "John Doe", "john@doe.name")
    assert john.contact_title is None  # "title" is the salutation (Mr.); "position" is the job
    assert john.qualified_at == datetime(2017, 6, 19, 9, 31, 18, tzinfo=UTC)
    # the update brought the company, the points change the score, phone from mobile
    assert (john.company_name, john.score, john.contact_phone) == ("Mautic", 5, "333444555")
    assert [(a.type, a.detail) for a in john.activities] == [("points_change", "5 points")]
    assert john.extra["vendor"] == {"name": "mautic", "event": "mautic.lead_post_save_new",
                                    "contact_id": "52"}
    assert john.status == LeadStatus.NOT_QUALIFIED
    assert [e.kind for e in john.events] == ["disqualify", "behaviour", "behaviour"]
    assert john.events[2].data["event"]["type"] == "mautic.lead_points_change"

    form = by_key["mautic:26:form_on_submit:2015-08-26T01:30:34+00:00"]
    assert (form.contact_name, form.contact_email, form.score) == (
        "email@formsubmit.com", "email@formsubmit.com", 10)  # no name: the email stands in
    assert [(a.type, a.detail, a.at) for a in form.activities] == [
        ("form_submit", "lead points", datetime(2015, 8, 26, 1, 30, 34, tzinfo=UTC))]
    assert form.status == LeadStatus.NOT_QUALIFIED
    assert any("score 10 is below 30" in r for r in form.qualification["reasons"])


def test_a_queue_mode_post_mixing_event_types_answers_each_event(make_bot: BotFactory,
                                                                  fake_slack: FakeSlack,
                                                                  clock: ManualClock) -> None:
    bot = make_bot()
    response = send(bot, envelope(*MAUTIC_FILES))

    assert response.status == 202, response.body
    results = response.json()["results"]
    assert [(r["index"], r["event"], r["status"]) for r in results] == [
        (0, "mautic.lead_post_save_new", "not_qualified"),
        (1, "mautic.lead_post_save_update", "not_qualified"),
        (2, "mautic.lead_points_change", "not_qualified"),
        (3, "mautic.form_on_submit", "not_qualified"),
    ]
    assert results[0]["lead_id"] == results[1]["lead_id"] == results[2]["lead_id"]
    assert all(r["reasons"] for r in results)
    assert counts(bot.services.engine)["leads"] == 2
    deliver_all(bot.services, clock, fake_slack)
    assert fake_slack.calls == []  # nothing qualified: nothing posts


def test_replaying_a_post_creates_nothing_new(make_bot: BotFactory) -> None:
    bot = make_bot()
    first = send(bot, envelope(*MAUTIC_FILES))
    before = counts(bot.services.engine)

    again = send(bot, envelope(*MAUTIC_FILES, timestamp="2017-06-19T09:40:00+00:00"))

    assert again.status == 202
    assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * 4
    assert [r["lead_id"] for r in again.json()["results"]] == [
        r["lead_id"] for r in first.json()["results"]]
    assert counts(bot.services.engine) == before


def qualifying(contact_id: int = 77, points: int = 45, at: str = "2026-11-24T00:30:00+00:00",
               form: str = "Whitepaper download") -> dict[str, Any]:
    """A form submission by a manager at a software company: qualifies under the example."""
    submission = copy.deepcopy(payload_json(MAUTIC_FILES["mautic.form_on_submit"]))["submission"]
    submission["dateSubmitted"] = at
    submission["form"]["name"] = form
    lead = submission["lead"]
    lead["id"], lead["points"] = contact_id, points
    core = lead["fields"]["core"]
    core["firstname"]["value"], core["lastname"]["value"] = "Hanako", "Sato"
    core["position"]["value"] = "Marketing Manager"
    core["company"]["value"] = "Example KK"
    core["industry"] = {"alias": "industry", "value": "software"}
    core["number_of_employees"] = {"alias": "number_of_employees", "value": "250"}
    return submission


def test_a_qualifying_form_submission_is_handed_off_once(
    make_bot: BotFactory, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    bot = make_bot()
    body = {"mautic.form_on_submit": [{"submission": qualifying()}]}

    response = send(bot, body)
    send(bot, body)  # Mautic's retry

    assert response.json()["results"][0]["status"] == "queued", response.body
    (lead,) = leads(bot.services)
    assert (lead.contact_name, lead.contact_title, lead.company_industry,
            lead.company_employees, lead.score) == (
        "Hanako Sato", "Marketing Manager", "software", 250, 45)
    assert [(a.type, a.detail) for a in lead.activities] == [("download", "Whitepaper download")]
    deliver_all(bot.services, clock, fake_slack)
    assert len(fake_slack.messages("C0000SALES")) == 1


def test_a_person_below_the_definition_is_requalified_when_they_qualify(
    make_bot: BotFactory, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    bot = make_bot()
    low = send(bot, {"mautic.form_on_submit": [{"submission": qualifying(points=10)}]})
    assert low.json()["results"][0]["status"] == "not_qualified"

    # a points change that stays below the definition: behaviour added, still not qualified
    below = envelope("mautic.lead_points_change")
    event = below["mautic.lead_points_change"][0]
    event["contact"]["id"], event["contact"]["points"] = 77, 20
    event["timestamp"] = "2026-11-24T00:40:00+00:00"
    event["points"] = {"old_points": 10, "new_points": 20}
    still = send(bot, below)
    assert still.json()["results"][0]["status"] == "not_qualified"
    assert any("score 20 is below 30" in r for r in still.json()["results"][0]["reasons"])

    # the next form submission raises the score: the same lead is queued, once
    high = send(bot, {"mautic.form_on_submit": [{"submission": qualifying(
        points=60, at="2026-11-24T00:50:00+00:00", form="Webinar: SLA in practice")}]})

    result = high.json()["results"][0]
    assert result["status"] == "queued", result
    assert result["lead_id"] == low.json()["results"][0]["lead_id"]
    (lead,) = leads(bot.services)
    assert lead.status == LeadStatus.QUEUED and lead.score == 60
    assert lead.qualified_at == datetime(2026, 11, 24, 0, 50, tzinfo=UTC)
    assert sorted(a.type for a in lead.activities) == ["download", "points_change", "webinar"]
    assert [e.kind for e in lead.events] == ["disqualify", "behaviour", "requalify"]
    deliver_all(bot.services, clock, fake_slack)
    assert len(fake_slack.messages("C0000SALES")) == 1


def test_events_about_a_person_already_with_sales_only_add_behaviour(
    make_bot: BotFactory, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    bot = make_bot()
    first = send(bot, {"mautic.form_on_submit": [{"submission": qualifying()}]})
    deliver_all(bot.services, clock, fake_slack)

    later = send(bot, {"mautic.form_on_submit": [{"submission": qualifying(
        at="2026-11-24T01:00:00+00:00", form="Book a demo")}]})

    result = later.json()["results"][0]
    assert (result["status"], result["lead_id"]) == ("updated", first.json()["results"][0][
        "lead_id"])
    (lead,) = leads(bot.services)
    assert sorted(a.type for a in lead.activities) == ["demo_request", "download"]
    deliver_all(bot.services, clock, fake_slack)
    assert len(fake_slack.messages("C0000SALES")) == 1  # never a second handoff


def test_a_batch_with_a_bad_event_accepts_the_others(make_bot: BotFactory) -> None:
    bot = make_bot()
    body = envelope("mautic.lead_post_save_new")
    bad = copy.deepcopy(body["mautic.lead_post_save_new"][0])
    bad["contact"]["id"] = 53
    bad["contact"]["points"] = "lots"
    body["mautic.lead_post_save_new"].append(bad)
    body["mautic.lead_post_delete"] = [{"contact": {"id": 9}, "timestamp": "2017-06-19T09:00Z"}]
    body["mautic.lead_post_save_update"] = ["not an event"]

    response = send(bot, body)

    assert response.status == 207, response.body
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["not_qualified", "rejected", "ignored", "rejected"]
    assert results[1]["errors"] == [{"field": "mautic.lead_post_save_new.contact.points",
                                     "message": "expected a number, got 'lots'"}]
    assert results[3]["errors"][0]["field"] == "mautic.lead_post_save_update"
    assert counts(bot.services.engine)["leads"] == 1


def test_an_event_whose_contact_id_is_an_object_is_rejected_alone(make_bot: BotFactory) -> None:
    bot = make_bot()
    body = envelope("mautic.lead_post_save_new")
    bad = copy.deepcopy(body["mautic.lead_post_save_new"][0])
    bad["contact"]["id"] = {"nested": 53}
    body["mautic.lead_post_save_new"].append(bad)

    response = send(bot, body)

    assert response.status == 207, response.body
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["not_qualified", "rejected"]
    assert results[1]["errors"][0]["field"] == "mautic.lead_post_save_new.contact.id"
    assert counts(bot.services.engine)["leads"] == 1


@pytest.mark.parametrize(
    ("signature", "expected"),
    [(None, 200), ("wrong", 401), ("", 401), ("tampered", 401)],
    ids=["correct", "wrong", "missing", "body changed after signing"],
)
def test_the_signature_must_match_the_body(make_bot: BotFactory, signature: str | None,
                                           expected: int) -> None:
    bot = make_bot()
    raw = json.dumps(envelope("mautic.lead_post_save_new")).encode()
    if signature is None:
        response = send(bot, raw)
    elif signature == "tampered":
        response = send(bot, raw.replace(b"John", b"Joan"), signature=sign(raw, MAUTIC_SECRET))
    elif signature == "":
        response = post(bot, MAUTIC_PATH, raw)
    else:
        response = send(bot, raw, signature=sign(raw, "another-secret"))

    if expected == 200:
        assert response.status == 202, response.body
    else:
        assert response.status == 401, response.body
        assert response.json()["error"] == "unauthorized"
        assert counts(bot.services.engine) == NOTHING


def test_without_a_secret_the_endpoint_is_off(make_bot: BotFactory) -> None:
    bot = make_bot(mautic_webhook_secret=None)
    response = send(bot, envelope("mautic.lead_post_save_new"))
    assert response.status == 404
    assert response.json()["error"] == "not_enabled"
    assert "MAUTIC_WEBHOOK_SECRET" in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        (b"[1, 2]", "application/json", 400, "(body)"),
        (b'{"timestamp": "2017-06-19T09:34:00+00:00"}', "application/json", 400, "(body)"),
        (b"{not json", "application/json", 400, "(body)"),
        (b'{"mautic.lead_post_save_new": []}', "text/plain", 415, None),
    ],
    ids=["array", "no mautic events", "malformed", "not json"],
)
def test_bodies_that_are_not_mautic_envelopes_are_refused(
    make_bot: BotFactory, body: bytes, content_type: str, status: int, field: str | None
) -> None:
    bot = make_bot()
    response = post(bot, MAUTIC_PATH, body, {"Webhook-Signature": sign(body, MAUTIC_SECRET)},
                     content_type=content_type)
    assert response.status == status, response.body
    if field:
        assert response.json()["errors"][0]["field"] == field
    assert counts(bot.services.engine) == NOTHING


def test_nothing_personal_reaches_the_log(make_bot: BotFactory,
                                          caplog: pytest.LogCaptureFixture) -> None:
    bot = make_bot()
    with caplog.at_level("DEBUG"):
        send(bot, {"mautic.form_on_submit": [{"submission": qualifying()}]})
        send(bot, {"mautic.form_on_submit": [{"submission": {**qualifying(), "form": None}}]})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "POST /webhooks/mautic 202" in logged
    assert "vendor event mautic.form_on_submit from mautic: queued" in logged
    assert not any(word in logged for word in ("Hanako", "Sato", "formsubmit", "Example KK"))
