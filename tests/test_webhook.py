"""``POST /webhooks/mql`` over real HTTP against the running bot (SPEC section 3).

What a marketing-automation tool sees: 202 for a lead it delivered (queued, duplicate or
not qualified), and a precise 4xx for anything wrong — with nothing written to the database.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, text

from bot.clock import ManualClock
from bot.policy import Policy
from bot.services import build_services
from handlers.server import BotServer
from storage.models import OutboxMessage
from storage.repositories import History
from tests.harness import FakeSlack, HttpResponse
from tests.harness.bot_env import make_worker, start_bot
from tests.harness.databases import Database
from tests.harness.intake import MQL_PATH, post
from tests.harness.intake import refusing_bot as refusing_bot_in
from tests.harness.leads import EXAMPLE, SPEC_EXAMPLE, counts, lead, not_qualified
from tests.harness.settings import INTAKE_TOKEN, make_settings

MIB = 1024 * 1024


#: what must never reach the log: the example's personal data
PERSONAL = ("Sato", "Hanako", "hanako@", "example.co.jp", "+81-3-0000-0000", "営業部長")


NOTHING = {"leads": 0, "activities": 0, "lead_events": 0, "outbox": 0}


@pytest.fixture(scope="module")
def refusing_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotServer]:
    with refusing_bot_in(tmp_path_factory.mktemp("refused")) as server:
        yield server


# --- accepted leads -------------------------------------------------------------------------


def test_spec_example_is_queued_with_its_history_and_one_handoff(
    db_bot: BotServer, fake_slack: FakeSlack
) -> None:
    response = post(db_bot, SPEC_EXAMPLE)

    assert response.status == 202, response.body
    answer = response.json()
    assert answer == {"lead_id": answer["lead_id"], "status": "queued", "reasons": []}
    with db_bot.services.unit_of_work() as uow:
        stored = uow.leads.by_external_id("hubspot-20391", history=History.ALL)
        assert stored is not None and stored.id == answer["lead_id"]
        assert (stored.status, stored.source, stored.score) == ("queued", "hubspot", 72)
        assert stored.contact_email == "hanako@example.co.jp"
        assert stored.company_employees == 250
        assert sorted((a.type, a.detail) for a in stored.activities) == [
            ("download", "SLA whitepaper"),
            ("page_view", "/pricing"),
            ("webinar", "Sales x Marketing alignment"),
        ]
        assert [(e.kind, e.surface) for e in stored.events] == [("qualify", "webhook")]
        outbox = uow.session.scalars(select(OutboxMessage)).all()
        assert [(m.kind, m.lead_id) for m in outbox] == [("handoff", stored.id)]
    assert counts(db_bot.services.engine) == {
        "leads": 1, "activities": 3, "lead_events": 1, "outbox": 1,
    }
    assert fake_slack.calls == []  # the answer never waits for Slack


def test_lead_that_does_not_qualify_is_stored_with_reasons_and_not_queued(
    db_bot: BotServer,
) -> None:
    response = post(db_bot, not_qualified())

    assert response.status == 202, response.body
    answer = response.json()
    assert answer["status"] == "not_qualified"
    assert answer["reasons"] and all(isinstance(r, str) and r for r in answer["reasons"])
    with db_bot.services.unit_of_work() as uow:
        stored = uow.leads.get(answer["lead_id"], history=History.EVENTS)
        assert stored is not None and stored.status == "not_qualified"
        assert [e.kind for e in stored.events] == ["disqualify"]
    assert counts(db_bot.services.engine) == {
        "leads": 1, "activities": 0, "lead_events": 1, "outbox": 0,
    }


def test_repeat_delivery_is_a_duplicate_and_changes_nothing(db_bot: BotServer) -> None:
    first = post(db_bot, EXAMPLE)
    before = counts(db_bot.services.engine)

    again = post(db_bot, EXAMPLE)
    edited = post(db_bot, lead(contact={"name": "Someone Else"}, score=1))

    assert first.status == again.status == edited.status == 202
    lead_id = first.json()["lead_id"]
    assert again.json() == {"lead_id": lead_id, "status": "duplicate", "reasons": []}
    assert edited.json()["status"] == "duplicate" and edited.json()["lead_id"] == lead_id
    assert counts(db_bot.services.engine) == before
    with db_bot.services.unit_of_work() as uow:
        stored = uow.leads.get(lead_id)
        assert stored is not None
        assert (stored.contact_name, stored.score) == ("Sato Hanako", 72)


def test_not_qualified_repeat_is_a_duplicate_with_the_same_reasons(
    bot: BotServer,
) -> None:
    first = post(bot, not_qualified()).json()
    again = post(bot, not_qualified()).json()

    assert again == {**first, "status": "duplicate"}


def test_concurrent_deliveries_of_one_lead_store_it_once(
    db_bot: BotServer, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    deliveries = 20
    barrier = threading.Barrier(deliveries)
    results: list[HttpResponse] = []
    lock = threading.Lock()

    def deliver() -> None:
        barrier.wait()
        response = post(db_bot, EXAMPLE)
        with lock:
            results.append(response)

    threads = [threading.Thread(target=deliver) for _ in range(deliveries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(results) == deliveries
    assert [r.status for r in results] == [202] * deliveries, [r.body for r in results]
    answers = [r.json() for r in results]
    assert sorted(a["status"] for a in answers) == ["duplicate"] * 19 + ["queued"]
    assert len({a["lead_id"] for a in answers}) == 1
    assert counts(db_bot.services.engine) == {
        "leads": 1, "activities": 3, "lead_events": 1, "outbox": 1,
    }
    # And the sales channel sees it once: the real worker delivers what was committed.
    worker = make_worker(db_bot.services, clock, fake_slack)
    while worker.run_once():
        pass
    (message,) = fake_slack.messages("C0000SALES")
    assert message["metadata"]["event_payload"]["key"] == f"handoff:{answers[0]['lead_id']}"


def test_unknown_fields_are_kept_and_unknown_activity_types_accepted(
    bot: BotServer,
) -> None:
    body = lead(
        utm={"campaign": "autumn", "medium": "email"},
        lifecycle_stage="marketingqualifiedlead",
        contact={**EXAMPLE["contact"], "linkedin": "in/sato"},
        company={**EXAMPLE["company"], "country": "JP"},
        activities=[
            *EXAMPLE["activities"],
            {"type": "trade_show", "at": "2026-11-23T11:00:00+09:00", "booth": "A-12"},
        ],
    )

    response = post(bot, body)

    assert response.status == 202, response.body
    with bot.services.unit_of_work() as uow:
        stored = uow.leads.get(response.json()["lead_id"], history=History.ACTIVITIES)
        assert stored is not None
        assert stored.extra == {
            "utm": {"campaign": "autumn", "medium": "email"},
            "lifecycle_stage": "marketingqualifiedlead",
            "contact": {"linkedin": "in/sato"},
            "company": {"country": "JP"},
        }
        show = next(a for a in stored.activities if a.type == "trade_show")
        assert (show.detail, show.extra) == (None, {"booth": "A-12"})


def test_charset_parameter_and_lowercase_scheme_are_accepted(bot: BotServer) -> None:
    response = post(
        bot,
        EXAMPLE,
        token=None,
        content_type="application/json; charset=UTF-8",
        headers={"Authorization": f"bearer {INTAKE_TOKEN}"},
    )

    assert response.status == 202, response.body


# --- refused requests: the right status, the bad field named, nothing written ---------------


def without(path: str) -> dict[str, Any]:
    body = lead()
    *parents, name = path.split(".")
    target = body
    for parent in parents:
        target = target[parent]
    del target[name]
    return body


def with_activity(index: int, **changes: Any) -> dict[str, Any]:
    body = lead()
    body["activities"][index].update(changes)
    return body


def without_activity_type() -> dict[str, Any]:
    body = lead()
    del body["activities"][0]["type"]
    return body


def contact(**changes: Any) -> dict[str, Any]:
    return lead(contact={**EXAMPLE["contact"], **changes})


def company(**changes: Any) -> dict[str, Any]:
    return lead(company={**EXAMPLE["company"], **changes})


ONE_ACTIVITY = EXAMPLE["activities"][0]
OVER_LIMIT = json.dumps(lead(padding="x" * MIB))

# (id, body, token, content type, status, the field the error must name)
Case = tuple[str, Any, str | None, str | None, int, str | None]
JSON = "application/json"
BAD_REQUESTS: list[Case] = [
    ("missing external_id", without("external_id"), INTAKE_TOKEN, JSON, 400, "external_id"),
    ("missing source", without("source"), INTAKE_TOKEN, JSON, 400, "source"),
    ("missing qualified_at", without("qualified_at"), INTAKE_TOKEN, JSON, 400, "qualified_at"),
    ("missing contact", without("contact"), INTAKE_TOKEN, JSON, 400, "contact"),
    ("missing contact.name", without("contact.name"), INTAKE_TOKEN, JSON, 400, "contact.name"),
    ("contact null", lead(contact=None), INTAKE_TOKEN, JSON, 400, "contact"),
    ("score as a string", lead(score="72"), INTAKE_TOKEN, JSON, 400, "score"),
    ("score true", lead(score=True), INTAKE_TOKEN, JSON, 400, "score"),
    ("score 7.5", lead(score=7.5), INTAKE_TOKEN, JSON, 400, "score"),
    ("employees -1", company(employees=-1), INTAKE_TOKEN, JSON, 400, "company.employees"),
    ("employees 'many'", company(employees="many"), INTAKE_TOKEN, JSON, 400, "company.employees"),
    ("name a number", contact(name=123), INTAKE_TOKEN, JSON, 400, "contact.name"),
    ("activities not a list", lead(activities="page_view"), INTAKE_TOKEN, JSON, 400, "activities"),
    ("activity without type", without_activity_type(), INTAKE_TOKEN, JSON, 400,
     "activities.0.type"),
    ("activity at not a time", with_activity(1, at="yesterday"), INTAKE_TOKEN, JSON, 400,
     "activities.1.at"),
    ("qualified_at without offset", lead(qualified_at="2026-11-24T09:12:00"), INTAKE_TOKEN, JSON,
     400, "qualified_at"),
    ("activity at without offset", with_activity(2, at="2026-11-22T14:00:00"), INTAKE_TOKEN, JSON,
     400, "activities.2.at"),
    ("empty external_id", lead(external_id=""), INTAKE_TOKEN, JSON, 400, "external_id"),
    ("blank source", lead(source="   "), INTAKE_TOKEN, JSON, 400, "source"),
    ("empty contact.name", contact(name=""), INTAKE_TOKEN, JSON, 400, "contact.name"),
    ("external_id 201 chars", lead(external_id="x" * 201), INTAKE_TOKEN, JSON, 400, "external_id"),
    ("name 301 chars", contact(name="n" * 301), INTAKE_TOKEN, JSON, 400, "contact.name"),
    ("1001 activities", lead(activities=[ONE_ACTIVITY] * 1001), INTAKE_TOKEN, JSON, 400,
     "activities"),
    ("JSON array", [EXAMPLE], INTAKE_TOKEN, JSON, 400, "(body)"),
    ("JSON string", '"hubspot-20391"', INTAKE_TOKEN, JSON, 400, "(body)"),
    ("malformed JSON", SPEC_EXAMPLE[:-2], INTAKE_TOKEN, JSON, 400, "(body)"),
    ("empty body", b"", INTAKE_TOKEN, JSON, 400, "(body)"),
    ("Shift_JIS body", SPEC_EXAMPLE.encode("shift_jis"), INTAKE_TOKEN, JSON, 400, "(body)"),
    ("invalid UTF-8 bytes", b'{"external_id": "\xff\xfe"}', INTAKE_TOKEN, JSON, 400, "(body)"),
    ("text/plain", SPEC_EXAMPLE, INTAKE_TOKEN, "text/plain", 415, None),
    ("form", "external_id=hubspot-20391", INTAKE_TOKEN, "application/x-www-form-urlencoded", 415,
     None),
    ("no content type", SPEC_EXAMPLE, INTAKE_TOKEN, None, 415, None),
    ("JSON look-alike type", SPEC_EXAMPLE, INTAKE_TOKEN, "application/jsonp", 415, None),
    ("no token", SPEC_EXAMPLE, None, JSON, 401, None),
    ("wrong token", SPEC_EXAMPLE, "test-intake-token-2", JSON, 401, None),
    ("empty token", SPEC_EXAMPLE, "", JSON, 401, None),
    ("no token, bad body", b"\xff", None, "text/plain", 401, None),
    ("over 1 MiB", OVER_LIMIT, INTAKE_TOKEN, JSON, 413, None),
]


@pytest.mark.parametrize(
    ("body", "token", "content_type", "status", "bad_field"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_request_is_refused_and_writes_nothing(
    refusing_bot: BotServer,
    body: Any,
    token: str | None,
    content_type: str | None,
    status: int,
    bad_field: str | None,
) -> None:
    response = post(refusing_bot, body, token=token, content_type=content_type)

    assert response.status == status, response.body
    answer = response.json()
    expected_error = {
        400: "invalid_request",
        401: "unauthorized",
        413: "body_too_large",
        415: "unsupported_media_type",
    }[status]
    assert answer["error"] == expected_error
    if bad_field is not None:
        fields = [e["field"] for e in answer["errors"]]
        assert bad_field in fields
        assert all(e["message"] for e in answer["errors"])
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert counts(refusing_bot.services.engine) == NOTHING


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic dGVzdDp0ZXN0LWludGFrZS10b2tlbg==",
        f"Basic {INTAKE_TOKEN}",
        INTAKE_TOKEN,
        "Bearer",
        f"Bearer {INTAKE_TOKEN}x",
        f"Token {INTAKE_TOKEN}",
        "Bearer テスト",
    ],
)
def test_other_authorization_headers_are_refused(
    refusing_bot: BotServer, authorization: str
) -> None:
    response = post(
        refusing_bot, EXAMPLE, token=None,
        headers={"Authorization": authorization.encode().decode("latin-1")},
    )

    assert response.status == 401, response.body
    assert response.json()["error"] == "unauthorized"
    assert counts(refusing_bot.services.engine) == NOTHING


def test_every_bad_field_is_listed(refusing_bot: BotServer) -> None:
    body = lead(score="72", qualified_at="2026-11-24T09:12:00", contact={"email": "a@b.c"})
    del body["source"]

    response = post(refusing_bot, body)

    assert response.status == 400
    assert sorted(e["field"] for e in response.json()["errors"]) == [
        "contact.name", "qualified_at", "score", "source",
    ]
    message = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert message["source"] == message["contact.name"] == "required"
    assert "offset" in message["qualified_at"]


def chunked_post(bot: BotServer, size: int, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST a JSON body of exactly ``size`` bytes, chunked (no Content-Length)."""
    url = urlsplit(bot.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    head, tail = b'{"padding": "', b'"}'
    filler = size - len(head) - len(tail)

    def chunks() -> Iterator[bytes]:
        yield head
        for start in range(0, filler, 64 * 1024):
            yield b"x" * min(64 * 1024, filler - start)
        yield tail

    try:
        # The server may answer before it read everything; its answer is still there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request("POST", MQL_PATH, body=chunks(), headers=headers,
                               encode_chunked=True)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


AUTHORIZED_JSON = {"Authorization": f"Bearer {INTAKE_TOKEN}", "Content-Type": "application/json"}


@pytest.mark.parametrize("size", [MIB + 1, 3 * MIB])
def test_chunked_body_over_1_mib_is_refused(refusing_bot: BotServer, size: int) -> None:
    status, body = chunked_post(refusing_bot, size, AUTHORIZED_JSON)

    assert status == 413
    assert json.loads(body)["error"] == "body_too_large"
    assert counts(refusing_bot.services.engine) == NOTHING


def test_chunked_body_of_exactly_1_mib_is_read_in_full(refusing_bot: BotServer) -> None:
    status, body = chunked_post(refusing_bot, MIB, AUTHORIZED_JSON)

    assert status == 400  # parsed as complete JSON: the padding is simply not a lead
    assert "external_id" in [e["field"] for e in json.loads(body)["errors"]]


def test_chunked_body_without_a_token_is_refused_before_it_is_read(
    refusing_bot: BotServer,
) -> None:
    status, body = chunked_post(refusing_bot, 2 * MIB, {"Content-Type": "application/json"})

    assert status == 401
    assert json.loads(body)["error"] == "unauthorized"


def test_without_intake_token_the_webhook_is_disabled(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> None:
    settings = make_settings(fake_slack, sqlite_db.url, intake_token=None)
    server = start_bot(build_services(settings, policy, clock, engine=sqlite_db.engine))
    try:
        for token in (None, "", "None", INTAKE_TOKEN):
            response = post(server, EXAMPLE, token=token)
            assert response.status == 503, response.body
            assert response.json()["error"] == "intake_disabled"
            assert "INTAKE_TOKEN" in response.json()["message"]
        assert counts(sqlite_db.engine) == NOTHING
    finally:
        server.stop()


def test_during_a_rotation_both_intake_tokens_are_accepted_and_only_those(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> None:
    """INTAKE_TOKEN_PREVIOUS keeps the senders not yet updated working; once it is removed
    (and the bot restarted) the old token is refused."""
    new_token = "rotated-intake-token-0123456789"
    rotating = make_settings(fake_slack, sqlite_db.url, intake_token=new_token,
                             intake_token_previous=INTAKE_TOKEN)
    server = start_bot(build_services(rotating, policy, clock, engine=sqlite_db.engine))
    try:
        assert post(server, EXAMPLE, token=INTAKE_TOKEN).status == 202
        assert post(server, lead(external_id="rotated-1"), token=new_token).status == 202
        for wrong in ("", "other-token", f"{new_token},{INTAKE_TOKEN}"):
            assert post(server, EXAMPLE, token=wrong).status == 401
    finally:
        server.stop()
    done = make_settings(fake_slack, sqlite_db.url, intake_token=new_token)
    server = start_bot(build_services(done, policy, clock, engine=sqlite_db.engine))
    try:
        assert post(server, lead(external_id="rotated-2"), token=INTAKE_TOKEN).status == 401
        assert post(server, lead(external_id="rotated-2"), token=new_token).status == 202
    finally:
        server.stop()


# --- failures and logs -----------------------------------------------------------------------


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("sla_bot", "bot", "handlers"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def assert_no_personal_data(text: str) -> None:
    leaked = [value for value in PERSONAL if value in text]
    assert leaked == [], f"personal data in the log: {leaked}\n{text}"


def test_log_has_one_line_per_request_and_no_personal_data(
    bot: BotServer, logs: pytest.LogCaptureFixture
) -> None:
    queued = post(bot, EXAMPLE).json()
    post(bot, EXAMPLE)
    post(bot, contact(name="Sato Hanako " * 30))
    post(bot, EXAMPLE, token="hanako@example.co.jp")

    request_lines = [r.getMessage() for r in logs.records if r.name == "sla_bot.webhooks"]
    assert len(request_lines) == 4
    assert f"202 lead={queued['lead_id']} outcome=queued" in request_lines[0]
    assert f"202 lead={queued['lead_id']} outcome=duplicate" in request_lines[1]
    assert "400 lead=- outcome=invalid(contact.name)" in request_lines[2]
    assert "401 lead=- outcome=unauthorized" in request_lines[3]
    assert_no_personal_data(logs.text)


def test_unexpected_error_is_500_with_an_id_logged_without_personal_data(
    bot: BotServer, logs: pytest.LogCaptureFixture
) -> None:
    engine = bot.services.engine
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE outbox"))  # the handoff cannot be queued

    response = post(bot, EXAMPLE)

    assert response.status == 500
    answer = response.json()
    assert answer == {"error": "internal_error", "error_id": answer["error_id"]}
    errors = [r for r in logs.records if r.levelno >= logging.ERROR]
    assert [answer["error_id"] in r.getMessage() for r in errors] == [True]
    assert "OperationalError" in errors[0].getMessage()
    assert_no_personal_data(logs.text)
    with engine.connect() as connection:  # the lead went with the failed transaction
        assert connection.scalar(text("SELECT count(*) FROM leads")) == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_not_allowed(refusing_bot: BotServer, method: str) -> None:
    url = urlsplit(refusing_bot.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    try:
        connection.request(method, MQL_PATH)
        response = connection.getresponse()
        assert response.status == 405
        assert json.loads(response.read())["error"] == "method_not_allowed"
    finally:
        connection.close()
