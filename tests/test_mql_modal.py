"""The marketer's hand-off modal, end to end: signed requests to the running bot, fake Slack.

What a marketer sees: ``/mql`` or the shortcut opens the form; submitting it stores the lead
through the same intake path as the webhook, hands it off when it qualifies, and DMs the
outcome. Everyone else is refused, whatever their client sends.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.i18n import LANGUAGES, Translator
from bot.ids import Callback, Command, MqlBlock, Shortcut, row
from bot.mrkdwn import INVISIBLE_CONTROLS
from bot.outbox.worker import OutboxWorker
from bot.policy import Policy
from bot.services import Services
from bot.views.mql_modal import mql_modal, refusal_modal
from handlers.server import BotServer
from storage.models import Lead, OutboxMessage
from storage.repositories import History
from tests.harness import (
    FakeSlack,
    HttpResponse,
    SlackRequests,
    datepicker,
    number_input,
    plain_text_input,
    state_values,
    static_select,
)
from tests.harness.blocks import text_objects
from tests.harness.bot_env import make_services
from tests.harness.databases import Database
from tests.harness.policies import with_roles
from tests.harness.settings import BOT_TOKEN, ROOT, SIGNING_SECRET
from tests.harness.waiting import eventually

MARKETER = "U0000MKT1"
MANAGER = "U0000MGR1"
REP = "U0000REP1"
SALES = "C0000SALES"
ja = Translator("ja")  # the example policy speaks Japanese


# ---------------------------------------------------------------------- helpers


def text(block: str, value: str | None) -> tuple[str, str, dict[str, Any]]:
    return plain_text_input(block, block, value)


def activity(
    index: int, kind: str | None, day: str | None = None, detail: str | None = None
) -> list[tuple[str, str, dict[str, Any]]]:
    type_id, date_id = row(MqlBlock.ACTIVITY_TYPE, index), row(MqlBlock.ACTIVITY_DATE, index)
    detail_id = row(MqlBlock.ACTIVITY_DETAIL, index)
    return [
        static_select(type_id, type_id, kind),
        datepicker(date_id, date_id, day),
        text(detail_id, detail),
    ]


def form(**changes: str | None) -> dict[str, Any]:
    """``state.values`` of a filled-in modal; under the example policy this lead qualifies."""
    fields: dict[str, str | None] = {
        MqlBlock.NAME: "Sato Hanako",
        MqlBlock.EMAIL: "hanako@example.co.jp",
        MqlBlock.TITLE: "営業部長",
        MqlBlock.PHONE: "+81-3-0000-0000",
        MqlBlock.COMPANY: "Example KK",
        MqlBlock.INDUSTRY: "manufacturing",
        MqlBlock.SOURCE: "slack",
        MqlBlock.NOTE: "Asked for a call next week",
    }
    numbers: dict[str, str | None] = {MqlBlock.EMPLOYEES: "250", MqlBlock.SCORE: "72"}
    for key, value in changes.items():
        block = MqlBlock[key.upper()].value
        (numbers if block in numbers else fields)[block] = value
    return state_values(
        *(text(block, value) for block, value in fields.items()),
        *(number_input(block, block, value) for block, value in numbers.items()),
        *activity(1, "page_view", "2026-11-20", "/pricing"),
        *activity(2, "download", "2026-11-21", "SLA whitepaper"),
        *activity(3, "webinar", None, "Sales x Marketing alignment"),
    )


def submit(
    slack: SlackRequests, values: dict[str, Any], *, user_id: str = MARKETER, view_id: str = "V1"
) -> HttpResponse:
    return slack.view_submission(Callback.MQL_MODAL, values, user_id=user_id, view_id=view_id)



def settle(bot: BotServer) -> None:
    """Let every listener finish, so "nothing was written" is a fact, not a race."""
    bot.listeners.shutdown(wait=True)


@dataclass(frozen=True)
class Queued:
    """An outbox row as the test reads it (the row itself is gone with its session)."""

    kind: str
    channel: str | None
    lead_id: int | None
    payload: dict[str, Any]


def outbox_row(services: Services, key: str) -> Queued | None:
    with services.unit_of_work() as uow:
        found = uow.outbox.by_key(key)
        if found is None:
            return None
        return Queued(found.kind, found.channel, found.lead_id, found.payload)


def lead_count(services: Services) -> int:
    with services.unit_of_work() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(Lead)) or 0)


def dm_row(services: Services, view_id: str = "V1") -> Queued:
    return eventually(lambda: outbox_row(services, f"mql-modal:{view_id}"))


def deliver(services: Services, fake_slack: FakeSlack, clock: ManualClock) -> int:
    worker = OutboxWorker(
        services,
        client=WebClient(BOT_TOKEN, base_url=fake_slack.base_url, retry_handlers=[]),
        sleep=lambda s: clock.advance(timedelta(seconds=s)),
    )
    return worker.run_once()


# ---------------------------------------------------------------------- opening the modal


@pytest.mark.parametrize("user_id", [MARKETER, MANAGER])
def test_the_shortcut_opens_the_modal(
    slack: SlackRequests, fake_slack: FakeSlack, user_id: str
) -> None:
    answer = slack.shortcut(Shortcut.MQL_HANDOFF, user_id=user_id, trigger_id="trig-42")
    assert answer.status == 200
    (call,) = fake_slack.wait_for("views.open")
    assert call.args["trigger_id"] == "trig-42"
    view = call.args["view"]
    assert view["callback_id"] == Callback.MQL_MODAL
    assert view["title"]["text"] == "MQL を引き渡す"
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert inputs[MqlBlock.NAME]["optional"] is False
    assert inputs[MqlBlock.EMPLOYEES]["element"]["type"] == "number_input"
    assert inputs[MqlBlock.SOURCE]["element"]["initial_value"] == "slack"
    options = inputs[row(MqlBlock.ACTIVITY_TYPE, 1)]["element"]["options"]
    assert [o["value"] for o in options] == [
        "page_view",
        "download",
        "webinar",
        "demo_request",
        "other",
    ]
    assert inputs[row(MqlBlock.ACTIVITY_DATE, 3)]["element"]["type"] == "datepicker"


def test_the_mql_command_opens_the_same_modal(slack: SlackRequests, fake_slack: FakeSlack) -> None:
    answer = slack.slash_command(
        Command.MQL,
        user_id=MARKETER,
        trigger_id="trig-7",
        response_url=fake_slack.response_url("mql"),
    )
    assert answer.status == 200
    (call,) = fake_slack.wait_for("views.open")
    assert call.args["trigger_id"] == "trig-7"
    assert call.args["view"]["callback_id"] == Callback.MQL_MODAL
    assert fake_slack.calls_to("response_url") == []


def test_a_rep_is_refused_by_the_command_and_the_shortcut(
    bot: BotServer, slack: SlackRequests, fake_slack: FakeSlack, services: Services
) -> None:
    slack.slash_command(Command.MQL, user_id=REP, response_url=fake_slack.response_url("mql"))
    (reply,) = fake_slack.wait_for("response_url")
    assert reply.args["response_type"] == "ephemeral"
    assert reply.args["text"] == ja("mql_modal.not_allowed")

    slack.shortcut(Shortcut.MQL_HANDOFF, user_id=REP)
    (call,) = fake_slack.wait_for("views.open")
    assert call.args["view"]["callback_id"] == Callback.MQL_REFUSED
    assert ja("mql_modal.not_allowed") in json.dumps(call.args["view"], ensure_ascii=False)
    settle(bot)
    assert len(fake_slack.calls_to("views.open")) == 1, "the form itself was never opened"
    assert lead_count(services) == 0


def test_an_expired_trigger_asks_the_user_to_try_again(
    bot: BotServer, slack: SlackRequests, fake_slack: FakeSlack, services: Services
) -> None:
    fake_slack.fail("views.open", error="expired_trigger_id", times=2)
    slack.slash_command(Command.MQL, user_id=MARKETER, response_url=fake_slack.response_url())
    (reply,) = fake_slack.wait_for("response_url")
    assert reply.args["text"] == ja("mql_modal.expired")
    assert reply.args["response_type"] == "ephemeral"

    slack.shortcut(Shortcut.MQL_HANDOFF, user_id=MARKETER, trigger_id="trig-late")
    dm = eventually(lambda: outbox_row(services, "mql-expired:trig-late"))
    assert dm.payload["args"] == {"channel": MARKETER, "text": ja("mql_modal.expired")}


def test_a_user_group_of_marketers_is_honoured(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> None:
    fake_slack.set_usergroup("S0000MKTG", ["U0000MKT9"])
    services = make_services(
        fake_slack, sqlite_db, with_roles(policy, marketers="S0000MKTG"), clock
    )
    with BotServer(
        services, host="127.0.0.1", port=0, start_scheduler=False, start_worker=False
    ) as server:
        slack = SlackRequests(f"{server.url}/slack/events", SIGNING_SECRET)
        slack.shortcut(Shortcut.MQL_HANDOFF, user_id="U0000MKT9")
        slack.shortcut(Shortcut.MQL_HANDOFF, user_id=MARKETER)  # listed in the file, not the group
        calls = fake_slack.wait_for("views.open", 2)
    shown = {c.args["view"]["callback_id"] for c in calls}
    assert shown == {Callback.MQL_MODAL, Callback.MQL_REFUSED}
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1, "the group is cached"


# ---------------------------------------------------------------------- submitting it


def test_a_qualifying_lead_is_stored_handed_off_and_the_marketer_told(
    slack: SlackRequests, fake_slack: FakeSlack, services: Services, clock: ManualClock
) -> None:
    answer = submit(slack, form())
    assert answer.status == 200
    assert answer.body == ""  # an empty ack closes the modal
    dm = dm_row(services)

    with services.unit_of_work() as uow:
        lead = uow.leads.by_external_id("slack:V1", history=History.ALL)
        assert lead is not None
        assert lead.status == "queued"
        assert (lead.contact_name, lead.company_name, lead.company_employees, lead.score) == (
            "Sato Hanako",
            "Example KK",
            250,
            72,
        )
        assert lead.source == "slack"
        assert lead.qualified_at == clock.now()
        assert lead.extra == {"note": "Asked for a call next week", "submitted_by": MARKETER}
        (event,) = lead.events
        assert (event.kind, event.surface, event.actor) == ("qualify", "modal", MARKETER)
        by_type = {a.type: a for a in lead.activities}
        # a picked date is 09:00 in the policy's time zone; no date means now
        assert by_type["page_view"].at == datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
        assert by_type["page_view"].detail == "/pricing"
        assert by_type["webinar"].at == clock.now()
        lead_id = lead.id
    handoff = outbox_row(services, f"handoff:{lead_id}")
    assert handoff is not None and handoff.kind == "handoff"
    assert (dm.kind, dm.channel, dm.lead_id) == ("message", MARKETER, lead_id)
    assert services.outbox_ready.is_set()

    assert deliver(services, fake_slack, clock) == 2
    (post,) = fake_slack.messages(SALES)
    assert "Sato Hanako" in json.dumps(post["blocks"], ensure_ascii=False)
    (message,) = fake_slack.dms(MARKETER)
    assert f"<#{SALES}>" in message["text"]
    assert "*Sato Hanako* (Example KK)" in message["text"]
    assert message["blocks"][0]["text"]["text"] == message["text"]


def test_the_handoff_shows_user_text_as_written_and_without_invisible_controls(
    slack: SlackRequests, fake_slack: FakeSlack, services: Services, clock: ManualClock
) -> None:
    """A bare URL or #channel in a name is not made a link; an RTL override cannot disguise
    it. The stored record keeps what was typed; only what Slack shows is cleaned."""
    spoof = "\u202eSato\u200b Hanako\u2066 https://evil.example #general\ufeff"
    company = "\u202dExample\u200d KK https://evil.example #sales\u200f"
    assert submit(slack, form(name=spoof, company=company)).body == ""
    dm_row(services)
    assert deliver(services, fake_slack, clock) == 2
    (post,) = fake_slack.messages(SALES)
    (dm,) = fake_slack.dms(MARKETER)
    for message, expected in ((post, "Example KK https://evil.example #sales"),
                              (dm, "Sato Hanako https://evil.example #general")):
        shown = json.dumps(message, ensure_ascii=False)
        assert not set(shown) & {chr(c) for c in INVISIBLE_CONTROLS}
        mrkdwn = [o for o in text_objects(message["blocks"]) if o["type"] == "mrkdwn"]
        assert mrkdwn and all(o.get("verbatim") is True for o in mrkdwn)
        assert any(expected in o["text"] for o in mrkdwn)
    header = next(b for b in post["blocks"] if b["type"] == "header")
    assert "Sato Hanako https://evil.example #general" in header["text"]["text"]
    with services.unit_of_work() as uow:
        lead = uow.leads.by_external_id("slack:V1")
        assert lead is not None and lead.contact_name == spoof.strip()


def test_a_lead_that_does_not_qualify_is_recorded_and_the_reasons_dmed(
    slack: SlackRequests, fake_slack: FakeSlack, services: Services, clock: ManualClock
) -> None:
    values = form(score="0")
    for index in (1, 2, 3):  # no behaviour at all
        for block in (MqlBlock.ACTIVITY_TYPE, MqlBlock.ACTIVITY_DATE, MqlBlock.ACTIVITY_DETAIL):
            values.pop(row(block, index))
    assert submit(slack, values).status == 200
    dm_row(services)
    with services.unit_of_work() as uow:
        lead = uow.leads.by_external_id("slack:V1", history=History.EVENTS)
        assert lead is not None and lead.status == "not_qualified"
        assert [(e.kind, e.surface, e.actor) for e in lead.events] == [
            ("disqualify", "modal", MARKETER)
        ]
        assert uow.outbox.by_key(f"handoff:{lead.id}") is None

    assert deliver(services, fake_slack, clock) == 1
    assert fake_slack.messages(SALES) == []
    (message,) = fake_slack.dms(MARKETER)
    assert "MQL 定義を満たさない" in message["text"]
    # the reasons in the marketer's language (the webhook's answer keeps its English)
    assert "• 直近90日間に対象の行動がありません（次のうち1件が必要: 料金ページ閲覧、" \
        in message["text"]
    assert "• スコア 0 は基準の30に届きません" in message["text"]
    assert "no qualifying behaviour" not in message["text"] and "page_view" not in message["text"]


def errors_of(answer: HttpResponse) -> dict[str, str]:
    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "errors"
    errors: dict[str, str] = body["errors"]
    return errors


@pytest.mark.parametrize(
    ("changes", "block", "message"),
    [
        ({"name": "   "}, MqlBlock.NAME, ja("mql_modal.error.required")),
        ({"name": None}, MqlBlock.NAME, ja("mql_modal.error.required")),
        ({"name": "x" * 301}, MqlBlock.NAME, ja("mql_modal.error.too_long", limit=300)),
        ({"employees": "-5"}, MqlBlock.EMPLOYEES, ja("mql_modal.error.at_least", limit=0)),
        ({"employees": "2.5"}, MqlBlock.EMPLOYEES, ja("mql_modal.error.integer")),
        ({"score": "2000000"}, MqlBlock.SCORE, ja("mql_modal.error.at_most", limit=1000000)),
        ({"phone": "0" * 65}, MqlBlock.PHONE, ja("mql_modal.error.too_long", limit=64)),
        ({"title": "部長\u0000"}, MqlBlock.TITLE, ja("mql_modal.error.nul")),
    ],
    ids=[
        "blank name",
        "no name",
        "name too long",
        "negative employees",
        "fractional employees",
        "score too high",
        "phone too long",
        "NUL in the title",
    ],
)
def test_invalid_input_keeps_the_modal_open_with_the_error_on_its_field(
    bot: BotServer,
    slack: SlackRequests,
    services: Services,
    changes: dict[str, str | None],
    block: str,
    message: str,
) -> None:
    assert errors_of(submit(slack, form(**changes))) == {block: message}
    settle(bot)
    assert lead_count(services) == 0
    assert outbox_row(services, "mql-modal:V1") is None


def test_behaviour_rows_are_checked_row_by_row(
    bot: BotServer, slack: SlackRequests, services: Services
) -> None:
    values = form()
    values.update(state_values(*activity(2, None, "2026-11-21", "a detail without a type")))
    values.update(state_values(*activity(3, "webinar", "2026-11-25")))  # tomorrow in Tokyo
    values.update(state_values(*activity(1, "webinar", "1999-12-31")))  # before intake's window
    assert errors_of(submit(slack, values, view_id="V9")) == {
        row(MqlBlock.ACTIVITY_DATE, 1): ja("mql_modal.error.too_old"),
        row(MqlBlock.ACTIVITY_TYPE, 2): ja("mql_modal.error.activity_type"),
        row(MqlBlock.ACTIVITY_DATE, 3): ja("mql_modal.error.future_date"),
    }
    settle(bot)
    assert lead_count(services) == 0


def test_the_same_view_submitted_twice_makes_one_lead(
    bot: BotServer,
    slack: SlackRequests,
    fake_slack: FakeSlack,
    services: Services,
    clock: ManualClock,
) -> None:
    assert submit(slack, form()).status == 200
    dm_row(services)
    threads = [threading.Thread(target=submit, args=(slack, form())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    settle(bot)
    assert lead_count(services) == 1
    with services.unit_of_work() as uow:
        rows = uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [r.kind for r in rows] == ["handoff", "message"]
    assert deliver(services, fake_slack, clock) == 2
    assert len(fake_slack.messages(SALES)) == 1
    assert len(fake_slack.dms(MARKETER)) == 1


def test_a_forged_submission_from_a_rep_is_refused(
    bot: BotServer, slack: SlackRequests, services: Services
) -> None:
    answer = submit(slack, form(), user_id=REP)
    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "update"
    assert body["view"] == refusal_modal(ja)
    settle(bot)
    assert lead_count(services) == 0
    assert outbox_row(services, "mql-modal:V1") is None


def test_mentions_typed_into_the_form_never_ping_anyone(
    slack: SlackRequests, fake_slack: FakeSlack, services: Services, clock: ManualClock
) -> None:
    values = form(name="<!channel> Sato", company="<@U0000REP1> & Co")
    assert submit(slack, values).status == 200
    dm_row(services)
    assert deliver(services, fake_slack, clock) == 2
    (message,) = fake_slack.dms(MARKETER)
    shown = "\n".join(mrkdwn_texts(message))
    assert "<!channel>" not in shown and "<@U0000REP1>" not in shown
    assert "&lt;!channel&gt; Sato" in message["text"]
    assert "&lt;@U0000REP1&gt; &amp; Co" in message["text"]
    (post,) = fake_slack.messages(SALES)  # the handoff itself is escaped too
    assert "<!channel>" not in "\n".join(mrkdwn_texts(post))


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """Every text of a message Slack parses for mentions (plain_text is shown as typed)."""
    found = [message["text"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message["blocks"])
    return found


# ---------------------------------------------------------------------- the view itself


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_modal_is_translated_and_within_slacks_limits(policy: Policy, language: str) -> None:
    view = mql_modal(policy, Translator(language))
    shown = json.dumps(view, ensure_ascii=False)
    assert "mql_modal." not in shown, "an untranslated key"
    assert len(view["blocks"]) <= 100
    for key in ("title", "submit", "close"):
        assert 0 < len(view[key]["text"]) <= 24
    block_ids = [b["block_id"] for b in view["blocks"] if "block_id" in b]
    assert len(block_ids) == len(set(block_ids))
    for block in view["blocks"]:
        if block["type"] == "input":
            assert block["element"]["action_id"] == block["block_id"]


def test_the_manifest_declares_the_shortcut_and_interactivity() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    shortcuts = {s["callback_id"]: s["type"] for s in manifest["features"]["shortcuts"]}
    assert shortcuts == {Shortcut.MQL_HANDOFF.value: "global"}
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert "usergroups:read" in manifest["oauth_config"]["scopes"]["bot"]


def test_activity_types_are_offered_by_name(policy: Policy) -> None:
    """The type options read as names, the rule's own label beside one it differs from."""
    def options(language: str) -> list[str]:
        view = mql_modal(policy, Translator(language))
        select = next(b["element"] for b in view["blocks"] if b["type"] == "input"
                      and b["element"].get("type") == "static_select"
                      and b["element"]["options"][0]["value"] == "page_view")
        return [o["text"]["text"] for o in select["options"]]

    assert options("en") == ["Page view (料金ページ閲覧)", "Download (資料ダウンロード)",
                             "Webinar (ウェビナー参加)", "Demo request (デモ依頼)", "Other"]
    assert options("ja") == ["ページ閲覧（料金ページ閲覧）", "資料ダウンロード", "ウェビナー参加",
                             "デモ依頼", "その他"]
