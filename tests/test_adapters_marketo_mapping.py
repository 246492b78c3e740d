"""``POST /webhooks/marketo`` and ``POST /webhooks/map/<name>`` over real HTTP.

Marketo: the rendered example a real instance sent, naive times read in the configured zone,
the header token. Mappings: JSON paths from the policy, wrapped values, timestamp formats.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.policy import PolicyError
from storage.models import LeadStatus
from tests.harness.adapters import (
    MARKETO_TOKEN,
    ZAPIER,
    BotFactory,
    leads,
    mapped,
    payload,
    payload_json,
    post,
    zap,
)
from tests.harness.leads import counts
from tests.harness.policies import adapter_policy
from tests.harness.settings import INTAKE_TOKEN

MARKETO = "/webhooks/marketo"
TEMPLATE = Path(__file__).parent.parent / "samples" / "marketo_webhook_template.json"
NOTHING = {"leads": 0, "activities": 0, "lead_events": 0, "outbox": 0}


def marketo(bot: Any, body: bytes | dict[str, Any], token: str | None = MARKETO_TOKEN) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return post(bot, MARKETO, raw, headers)


# --- Marketo ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "fired", "moment_at"),
    [
        # the calendar's Asia/Tokyo (+09:00 all year)
        (None, datetime(2018, 3, 7, 5, 28, 16, tzinfo=UTC),
         datetime(2018, 9, 26, 11, 26, 40, tzinfo=UTC)),
        # Chicago: CST (-06:00) on 7 March 2018, CDT (-05:00) in September
        ("America/Chicago", datetime(2018, 3, 7, 20, 28, 16, tzinfo=UTC),
         datetime(2018, 9, 27, 1, 26, 40, tzinfo=UTC)),
    ],
    ids=["calendar zone", "configured zone"],
)
def test_the_rendered_example_lands_with_times_in_the_instances_zone(
    make_bot: BotFactory, zone: str | None, fired: datetime, moment_at: datetime
) -> None:
    bot = make_bot(adapter_policy(marketo={"timezone": zone} if zone else {}))

    response = marketo(bot, payload("marketo_webhook_rendered_example.json"))

    assert response.status == 202, response.body
    assert response.json()["status"] == "not_qualified"
    (lead,) = leads(bot.services)
    assert (lead.source, lead.contact_name, lead.company_name) == ("marketo", "the hulk",
                                                                    "iron man")
    assert lead.qualified_at == fired
    (moment,) = lead.activities
    assert (moment.type, moment.at, moment.detail) == ("interesting_moment", moment_at, None)
    assert lead.extra["marketo"] == {"campaign": "triggered event"}
    assert lead.contact_key is None  # no lead id, no email: every delivery stands alone


def test_a_lead_from_the_published_template_qualifies_and_replays_are_duplicates(
    make_bot: BotFactory,
) -> None:
    bot = make_bot()
    rendered = TEMPLATE.read_text(encoding="utf-8")
    tokens = {
        "system.dateTime": "2026-11-24 09:12:00", "campaign.id": "1001",
        "campaign.name": "MQL to sales", "program.id": "77", "program.name": "Autumn",
        "lead.Id": "4242", "lead.First Name": "Hanako", "lead.Last Name": "Sato",
        "lead.Full Name": "", "lead.Email Address": "hanako@example.co.jp",
        "lead.Job Title": "営業部長", "lead.Phone Number": "", "lead.Lead Score": "72",
        "lead.Lead Status": "MQL", "lead.Lead Source": "Web",
        "lead.Created At": "2026-11-01 10:00:00", "lead.Updated At": "",
        "lead.Last Interesting Moment Date": "2026-11-20 10:01:00",
        "lead.Last Interesting Moment Type": "Web",
        "lead.Last Interesting Moment Desc": "Visited Web Page: /pricing",
        "lead.Last Interesting Moment Source": "Web page",
        "company.Company Name": "Example KK", "company.Industry": "manufacturing",
        "company.Num Employees": "250", "company.Website": "https://www.example.co.jp/",
    }
    for token, value in tokens.items():
        rendered = rendered.replace("{{" + token + "}}", value)
    assert "{{" not in rendered

    first = marketo(bot, rendered.encode())
    again = marketo(bot, rendered.encode())

    assert first.status == 202 and first.json()["status"] == "queued", first.body
    assert again.json() == {**first.json(), "status": "duplicate"}
    (lead,) = leads(bot.services)
    assert lead.external_id == "marketo:4242:2026-11-24T00:12:00+00:00"
    assert lead.contact_key == "marketo:4242"
    assert (lead.contact_name, lead.contact_title, lead.score, lead.company_employees,
            lead.company_domain) == ("Hanako Sato", "営業部長", 72, 250, "example.co.jp")
    assert lead.qualified_at == datetime(2026, 11, 24, 0, 12, tzinfo=UTC)
    assert [(a.type, a.detail, a.at) for a in lead.activities] == [
        ("page_view", "Visited Web Page: /pricing", datetime(2026, 11, 20, 1, 1, tzinfo=UTC))]


@pytest.mark.parametrize(
    ("token", "status"), [(None, 401), ("wrong-token", 401)], ids=["missing", "wrong"])
def test_marketo_needs_its_header_token(make_bot: BotFactory, token: str | None,
                                        status: int) -> None:
    bot = make_bot()
    response = marketo(bot, payload("marketo_webhook_rendered_example.json"), token=token)
    assert response.status == status
    assert counts(bot.services.engine) == NOTHING


def test_marketo_is_off_without_its_token(make_bot: BotFactory) -> None:
    bot = make_bot(marketo_webhook_token=None)
    response = marketo(bot, payload("marketo_webhook_rendered_example.json"))
    assert (response.status, response.json()["error"]) == (404, "not_enabled")


def test_a_marketo_value_of_the_wrong_kind_names_its_field(make_bot: BotFactory) -> None:
    bot = make_bot()
    body = payload_json("marketo_webhook_rendered_example.json")
    body["lead"]["lead_score"] = "high"
    response = marketo(bot, body)
    assert response.status == 400
    assert response.json()["errors"] == [{"field": "lead.lead_score",
                                          "message": "expected a number, got 'high'"}]
    assert counts(bot.services.engine) == NOTHING


# --- generic mappings ------------------------------------------------------------------------


def test_a_mapping_reads_paths_wrappers_and_its_timestamp_format(make_bot: BotFactory) -> None:
    bot = make_bot(adapter_policy(mapping=[ZAPIER]))

    response = mapped(bot, {"leads": [zap(), zap("z-2", "p-10", score="lots"), zap()]})

    assert response.status == 207, response.body
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["queued", "rejected", "duplicate"]
    assert results[1]["errors"] == [{"field": "score ($.score)",
                                     "message": "expected a number, got 'lots'"}]
    (lead,) = leads(bot.services)
    assert (lead.external_id, lead.contact_key, lead.source) == ("zapier:z-1", "zapier:p-9",
                                                                  "zapier")
    assert (lead.contact_name, lead.contact_email, lead.company_industry,
            lead.company_employees, lead.score) == (
        "Hanako Sato", "hanako@example.co.jp", "manufacturing", 250, 72)
    assert lead.qualified_at == datetime(2026, 11, 24, 0, 12, tzinfo=UTC)
    assert sorted((a.type, a.detail, a.at) for a in lead.activities) == [
        ("page_view", "/pricing", datetime(2026, 11, 20, 1, 1, tzinfo=UTC)),
        ("webinar", "Alignment", datetime(2026, 11, 22, 5, 0, tzinfo=UTC)),
    ]
    assert lead.status == LeadStatus.QUEUED


def test_a_single_record_gets_the_single_answer(make_bot: BotFactory) -> None:
    bot = make_bot(adapter_policy(mapping=[{**ZAPIER, "records": None}]))
    response = mapped(bot, zap())
    assert response.status == 202
    assert response.json()["status"] == "queued"


@pytest.mark.parametrize(
    ("name", "token", "status"),
    [("zapier", "wrong", 401), ("unknown", INTAKE_TOKEN, 404)],
    ids=["wrong token", "unknown mapping"],
)
def test_mappings_need_the_intake_token_and_a_known_name(
    make_bot: BotFactory, name: str, token: str, status: int
) -> None:
    bot = make_bot(adapter_policy(mapping=[ZAPIER]))
    response = mapped(bot, {"leads": [zap()]}, name=name, token=token)
    assert response.status == status
    assert counts(bot.services.engine) == NOTHING


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"external_id": "id"}, "adapters.mapping.0.external_id: a path starts with $"),
        ({"fields": {"contact.title": "$.t"}}, "adapters.mapping.0: fields needs contact.name"),
        ({"fields": {"contact.nickname": "$.n"}}, "adapters.mapping.0.fields.contact.nickname"),
        ({"timestamp_format": "unix"}, "adapters.mapping.0.timestamp_format: expected one of"),
        ({"timezone": "Mars/Olympus"}, "adapters.mapping.0.timezone: expected an IANA"),
        ({"name": "Zap Ier"}, "adapters.mapping.0.name: String should match pattern"),
        ({"activities": [{"path": "$.e", "at": "$.t"}]},
         "adapters.mapping.0.activities.0: set exactly one of type"),
    ],
)
def test_a_bad_mapping_is_a_clear_policy_error(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(PolicyError) as error:
        adapter_policy(mapping=[{**ZAPIER, **change}])
    assert any(p.startswith(problem) for p in error.value.problems), error.value.problems


def test_mapping_names_are_unique() -> None:
    with pytest.raises(PolicyError) as error:
        adapter_policy(mapping=[ZAPIER, ZAPIER])
    assert error.value.problems == [
        "adapters.mapping: mapping names must be unique, got zapier twice"]
