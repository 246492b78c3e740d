"""Absurd input on every HTTP intake path: a 4xx naming the field, and nothing written.

Dates outside the sane window (before 2000, more than a day ahead of the injected clock, bare
epoch numbers), duplicate JSON keys, NaN / Infinity, NUL characters, JSON nested 10,000 deep,
HubSpot timestamp headers that are not epoch milliseconds, bodies that are not Marketo's.
On both databases: PostgreSQL refuses NUL and NaN where SQLite stores them, so those used to be
500s there.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bot.adapters.hubspot import sign_v3
from bot.adapters.mautic import sign
from tests.harness.adapters import (
    HUBSPOT_SECRET,
    MARKETO_TOKEN,
    MAUTIC_SECRET,
    ZAPIER,
    BotFactory,
    leads,
    payload_json,
    post,
)
from tests.harness.leads import EXAMPLE, counts
from tests.harness.policies import adapter_policy
from tests.harness.settings import INTAKE_TOKEN

NOTHING = {"leads": 0, "activities": 0, "lead_events": 0, "outbox": 0}
DEEP = "[" * 10_000 + "]" * 10_000
#: the clock of the tests is 2026-11-24T01:00Z
TWO_DAYS_AHEAD = "2026-11-26T02:00:00+00:00"


def lead(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE)
    body.update(changes)
    return body


def text(body: dict[str, Any], **raw: str) -> str:
    """The body as JSON with ``raw`` JSON texts spliced in as extra fields (NaN, duplicates)."""
    encoded = json.dumps(body, ensure_ascii=False)
    spliced = "".join(f', "{key}": {value}' for key, value in raw.items())
    return encoded[:-1] + spliced + "}"


def mql(bot: Any, body: str | dict[str, Any]) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return post(bot, "/webhooks/mql", raw.encode(), {"Authorization": f"Bearer {INTAKE_TOKEN}"})


def marketo(bot: Any, body: str | dict[str, Any]) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body)
    return post(bot, "/webhooks/marketo", raw.encode(),
                {"Authorization": f"Bearer {MARKETO_TOKEN}"})


def mautic(bot: Any, body: str) -> Any:
    raw = body.encode()
    return post(bot, "/webhooks/mautic", raw, {"Webhook-Signature": sign(raw, MAUTIC_SECRET)})


def hubspot(bot: Any, body: str, stamp: str | None = None) -> Any:
    raw = body.encode()
    now_ms = str(int(bot.services.clock.now().timestamp() * 1000))
    stamp = now_ms if stamp is None else stamp
    signature = sign_v3(HUBSPOT_SECRET, "POST", f"{bot.url}/webhooks/hubspot", raw, stamp)
    return post(bot, "/webhooks/hubspot", raw, {
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": stamp,  # '²' is one latin-1 byte on the wire
    })


def marketo_lead(**changes: Any) -> dict[str, Any]:
    body = payload_json("marketo_webhook_rendered_example.json")
    body["lead"].update(changes)
    return body


def contact(**changes: Any) -> dict[str, Any]:
    return lead(contact={**EXAMPLE["contact"], **changes})


# (id, send it, status, the field the error must name)
Case = tuple[str, Any, int, str]
CASES: list[Case] = [
    # dates: the window, extreme offsets, numbers
    ("qualified_at year 9999", lambda b: mql(b, lead(qualified_at="9999-12-31T23:00:00+00:00")),
     400, "qualified_at"),
    ("qualified_at 9999 at -23:59", lambda b: mql(
        b, lead(qualified_at="9999-12-31T23:59:59-23:59")), 400, "qualified_at"),
    ("qualified_at 0001 at +23:59", lambda b: mql(
        b, lead(qualified_at="0001-01-01T00:00:00+23:59")), 400, "qualified_at"),
    ("qualified_at 1999", lambda b: mql(b, lead(qualified_at="1999-12-31T23:59:59+00:00")),
     400, "qualified_at"),
    ("qualified_at two days ahead", lambda b: mql(b, lead(qualified_at=TWO_DAYS_AHEAD)),
     400, "qualified_at"),
    ("qualified_at epoch number", lambda b: mql(b, lead(qualified_at=1764000000)),
     400, "qualified_at"),
    ("qualified_at epoch string", lambda b: mql(b, lead(qualified_at="1764000000")),
     400, "qualified_at"),
    ("activity at epoch number", lambda b: mql(b, lead(activities=[
        {"type": "page_view", "at": 1764000000}])), 400, "activities.0.at"),
    # JSON the decoder used to take silently, or fail on
    ("duplicate qualified_at", lambda b: mql(b, text(
        lead(), qualified_at='"2026-11-24T09:12:00+09:00"')), 400, "qualified_at"),
    ("duplicate nested key", lambda b: mql(b, json.dumps(lead())[:-1].replace(
        '"name": "Sato Hanako"', '"name": "Sato Hanako", "name": "Sato"') + "}"),
     400, "contact.name"),
    ("NaN in an extra field", lambda b: mql(b, text(lead(), rating="NaN")), 400, "rating"),
    ("Infinity nested", lambda b: mql(b, text(lead(), utm='{"weight": [1, -Infinity]}')),
     400, "utm.weight.1"),
    ("1e999", lambda b: mql(b, text(lead(), budget="1e999")), 400, "budget"),
    ("NUL in contact.name", lambda b: mql(b, contact(name="Sato\u0000Hanako")), 400,
     "contact.name"),
    ("NUL in a nested extra field", lambda b: mql(b, lead(utm={"campaign": ["a", "b\u0000"]})),
     400, "utm.campaign.1"),
    ("NUL in a key", lambda b: mql(b, lead(utm={"cam\u0000paign": "a"})), 400, "utm"),
    ("nested 10,000 deep", lambda b: mql(b, text(lead(), deep=DEEP)), 400, "(body)"),
    ("nested 100 deep", lambda b: mql(b, text(lead(), deep="[" * 100 + "]" * 100)), 400,
     "deep"),
    # the vendor endpoints decode the same way
    ("mautic nested 10,000 deep", lambda b: mautic(b, DEEP), 400, "(body)"),
    ("mautic NUL", lambda b: mautic(b, json.dumps({"mautic.lead_post_save_new": [
        {"contact": {"id": "1\u0000"}}]})), 400, "mautic.lead_post_save_new.0.contact.id"),
    ("marketo nested 10,000 deep", lambda b: marketo(b, DEEP), 400, "(body)"),
    ("marketo NaN", lambda b: marketo(b, text(marketo_lead(), score="NaN")), 400, "score"),
    ("marketo duplicate key", lambda b: marketo(b, text(marketo_lead(), datetime='"x"')), 400,
     "datetime"),
    ("marketo date in year 9999", lambda b: marketo(b, {**marketo_lead(),
                                                        "datetime": "9999-12-31 23:00:00"}),
     400, "qualified_at"),
    ("hubspot nested 10,000 deep", lambda b: hubspot(b, DEEP), 400, "(body)"),
    ("mapping nested 10,000 deep", lambda b: post(
        b, "/webhooks/map/zapier", DEEP.encode(), {"Authorization": f"Bearer {INTAKE_TOKEN}"}),
     400, "(body)"),
    # not Marketo's shape
    ("marketo given a Mautic body", lambda b: marketo(b, {
        "mautic.lead_post_save_new": payload_json("mautic_lead_post_save_new.json"),
        "timestamp": "2026-11-24T00:30:00+00:00"}), 400, "lead"),
    ("marketo lead without anyone in it", lambda b: marketo(b, {"lead": {"lead_score": "70"},
                                                               "datetime": "2026-11-24 09:00:00"}),
     400, "lead"),
    # HubSpot's timestamp header: 401 like any bad signature
    ("hubspot timestamp '²'", lambda b: hubspot(b, "[]", stamp="²"), 401, ""),
    ("hubspot timestamp of 5,000 digits", lambda b: hubspot(b, "[]", stamp="1" * 5000), 401,
     ""),
]


@pytest.mark.parametrize(("send", "status", "field"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_absurd_input_is_a_4xx_naming_the_field_and_writes_nothing(
    make_bot: BotFactory, send: Any, status: int, field: str
) -> None:
    bot = make_bot(adapter_policy(mapping=[ZAPIER]))

    response = send(bot)

    assert response.status == status, response.body
    answer = response.json()
    if status == 400:
        assert answer["error"] == "invalid_request"
        errors = answer.get("errors") or [e for r in answer.get("results", [])
                                          for e in r.get("errors", [])]
        assert field in [e["field"] for e in errors], errors
        assert all(e["message"] for e in errors)
    else:
        assert answer["error"] == "unauthorized"
    assert counts(bot.services.engine) == NOTHING


def test_an_activity_dated_outside_the_window_is_dropped_and_the_lead_kept(
    make_bot: BotFactory,
) -> None:
    bot = make_bot()
    body = lead(activities=[
        *EXAMPLE["activities"],
        {"type": "webinar", "at": "9999-12-31T23:00:00+00:00", "detail": "placeholder"},
        {"type": "webinar", "at": "0001-01-01T00:00:00+23:59", "detail": "empty date"},
        {"type": "page_view", "at": "1970-01-01T00:00:00Z", "detail": "epoch zero"},
    ])

    response = mql(bot, body)

    assert response.status == 202, response.body
    (stored,) = leads(bot.services)
    assert sorted(a.detail for a in stored.activities) == sorted(
        a["detail"] for a in EXAMPLE["activities"])


def test_a_day_ahead_is_the_edge_of_the_window(make_bot: BotFactory) -> None:
    bot = make_bot()
    assert mql(bot, lead(qualified_at="2026-11-25T01:00:00+00:00")).status == 202
    assert mql(bot, lead(external_id="late", qualified_at="2026-11-25T01:00:01+00:00")
               ).status == 400


def test_full_width_and_ascii_ids_are_one_lead(make_bot: BotFactory) -> None:
    bot = make_bot()

    first = mql(bot, lead(external_id="crm-１２３４５"))
    again = mql(bot, lead(external_id="crm-12345"))

    assert first.status == again.status == 202, (first.body, again.body)
    assert again.json()["status"] == "duplicate"
    assert again.json()["lead_id"] == first.json()["lead_id"]
    (stored,) = leads(bot.services)
    assert stored.external_id == "crm-12345"


def test_a_vendor_retry_spelling_the_id_in_full_width_is_a_duplicate(
    make_bot: BotFactory,
) -> None:
    """Marketo's key and contact come from its lead id: both are normalised like external_id."""
    bot = make_bot()
    body = {**marketo_lead(id="4242", email_address="hanako@example.co.jp"),
            "datetime": "2026-11-24 09:00:00"}

    first = marketo(bot, body)
    again = marketo(bot, {**body, "lead": {**body["lead"], "id": "４２４２"}})

    assert first.status == again.status == 202, (first.body, again.body)
    assert again.json()["status"] == "duplicate"
    (stored,) = leads(bot.services)
    assert stored.contact_key == "marketo:4242"
