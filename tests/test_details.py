"""Details, end to end: the button opens a read-only modal with the lead's whole record, only
for people whose role lets them see personal data, escaped and within Slack's modal limits
however long the record is. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import format_datetime
from bot.ids import Action, Callback
from bot.views.labels import criterion_text
from bot.workflow import log_touch
from storage.models import Feedback
from tests.harness.bot_env import Env, claim_by
from tests.harness.details import assert_within_modal_limits, open_details
from tests.harness.leads import queue, spec_lead
from tests.harness.people import CHANNEL, MANAGER, MARKETER, REP1, REP2
from tests.harness.waiting import eventually

OUTSIDER = "U0000OUTS1"
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def env(any_env: Env) -> Env:
    """The bot on each kind of database."""
    return any_env


def history(count: int, detail: str = "") -> list[dict[str, Any]]:
    """``count`` activities an hour apart, oldest first, each with a marker ``act-NNN``; the
    first is a pricing-page view so the lead qualifies."""
    start_at = datetime(2026, 10, 1, 9, 0, tzinfo=TOKYO)
    return [
        {"type": "page_view", "at": (start_at + timedelta(hours=i)).isoformat(),
         "detail": f"/pricing act-{i:03d}{detail}"}
        for i in range(count)
    ]


def handed_off(env: Env, external_id: str, **changes: object) -> tuple[int, str]:
    lead_id = queue(env.services, external_id, **changes)
    env.drain()
    lead = env.lead(lead_id)
    assert lead.message_ts
    return lead_id, lead.message_ts


def mrkdwn_texts(view: dict[str, Any]) -> list[str]:
    texts = []
    for block in view["blocks"]:
        if block["type"] == "section":
            if "text" in block:
                assert block["text"]["type"] == "mrkdwn"
                texts.append(block["text"]["text"])
            texts += [f["text"] for f in block.get("fields", [])]
    return texts


def everything(view: dict[str, Any]) -> str:
    return "\n".join(mrkdwn_texts(view))


def add_feedback(env: Env, lead_id: int, author: str, text: str, ts: str) -> None:
    with env.services.unit_of_work() as uow:
        uow.session.add(Feedback(lead_id=lead_id, author_id=author, text=text,
                                 channel_id=CHANNEL, ts=ts, at=env.clock.now()))
        uow.commit()


def test_details_show_the_whole_record_to_a_rep(env: Env) -> None:
    t = env.services.t
    lead_id, ts = handed_off(env, "details-30", activities=history(30))
    claim_by(env, lead_id, ts, REP1)
    env.clock.advance(timedelta(minutes=20))
    log_touch(env.services, lead_id, REP1, kind="call", outcome="connected",
              note="Budget confirmed for Q1")
    touched_at = env.lead(lead_id).first_touch_at
    add_feedback(env, lead_id, MARKETER, "Came from the webinar campaign", "1700000001.000100")

    started = time.perf_counter()
    view = open_details(env, lead_id, ts, REP2)  # any rep may read it, not only the owner
    opened_in = time.perf_counter() - started
    assert_within_modal_limits(view)
    text = everything(view)

    markers = [f"act-{i:03d}" for i in range(30)]
    assert all(m in text for m in markers)  # every activity, not the channel's ten
    positions = [text.index(m) for m in markers]
    assert positions == sorted(positions, reverse=True)  # most recent first
    assert t("handoff.more_activities", count="20") not in text

    for shown in ("Sato Hanako", "営業部長", "hanako@example.co.jp", "+81-3-0000-0000",
                  "Example KK", "example.co.jp", t("industry.manufacturing"), "hubspot",
                  "2026-11-v1",
                  "/pricing"):
        assert shown in text, shown
    lead = env.lead(lead_id)
    assert lead.qualification["matched_codes"]
    for criterion in lead.qualification["matched_codes"]:  # in the reader's language
        assert t("details.criterion_met",
                 criterion=criterion_text(criterion, env.services.policy, t)) in text
    assert "behaviour:" not in text and "industry:" not in text

    assert t("details.touch", at=format_datetime(touched_at, t.language, TOKYO),
             user=f"<@{REP1}>", kind=t("touch_kind.call"),
             outcome=t("touch_outcome.connected")) in text
    assert "Budget confirmed for Q1" in text
    assert t("details.kept", at=format_datetime(touched_at, t.language, TOKYO)) in text

    for kind in ("qualify", "post", "claim", "touch"):
        assert t(f"details.event.{kind}") in text, kind
    claim_event = env.events(lead_id, "claim")[0]
    assert t("details.event_line", at=format_datetime(claim_event.at, t.language, TOKYO),
             what=t("details.event.claim"), who=f"<@{REP1}>") in text
    assert t("details.feedback_line", at=format_datetime(env.clock.now(), t.language, TOKYO),
             user=f"<@{MARKETER}>", text="Came from the webinar campaign") in text
    assert opened_in < 3.0  # the trigger_id would have expired


@pytest.mark.parametrize("reader", [MANAGER, MARKETER, REP1])
def test_managers_marketers_and_reps_may_read_it(env: Env, reader: str) -> None:
    lead_id, ts = handed_off(env, "details-roles")
    view = open_details(env, lead_id, ts, reader)
    assert "hanako@example.co.jp" in everything(view)
    assert env.answers("details") == []


def test_someone_without_a_role_is_refused_and_sees_no_personal_data(env: Env) -> None:
    lead_id, ts = handed_off(env, "details-private")
    (answer,) = env.press_answered(Action.DETAILS, lead_id, ts, OUTSIDER, "outsider")
    assert answer == env.services.t("details.not_allowed")
    assert env.fake.ephemerals[-1]["user"] == OUTSIDER
    assert "hanako" not in str(env.fake.ephemerals) and "+81" not in str(env.fake.ephemerals)
    assert env.fake.calls_to("views.open") == []


def test_user_text_is_escaped_so_it_pings_nobody(env: Env) -> None:
    t = env.services.t
    lead = spec_lead("details-escape")
    contact = {**lead["contact"], "name": "<!channel>", "title": "<!here> manager"}
    company = {**lead["company"], "name": "<https://evil.example|click> & co"}
    activities = [*lead["activities"],
                  {"type": "<!everyone>", "at": "2026-11-23T10:00:00+09:00",
                   "detail": "<@U0000MGR1> & <#C0000SALES>"}]
    lead_id, ts = handed_off(env, "details-escape", contact=contact, company=company,
                             activities=activities)
    claim_by(env, lead_id, ts, REP1)
    log_touch(env.services, lead_id, REP1, kind="email", outcome="replied", note="<!subteam^S1>")
    add_feedback(env, lead_id, MARKETER, "<!channel> look", "1700000002.000100")
    env.clock.advance(timedelta(days=1))  # past the first-contact deadline... but touched

    view = open_details(env, lead_id, ts, MANAGER)
    assert_within_modal_limits(view)
    for text in mrkdwn_texts(view):
        for raw in ("<!channel>", "<!here>", "<!everyone>", "<https://evil", "<@U0000MGR1>",
                    "<#C0000SALES>", "<!subteam"):
            assert raw not in text, (raw, text)
    text = everything(view)
    assert "&lt;!channel&gt;" in text and "&lt;!here&gt; manager" in text
    assert "&lt;https://evil.example|click&gt; &amp; co" in text
    assert "&lt;@U0000MGR1&gt; &amp; &lt;#C0000SALES&gt;" in text
    assert "&lt;!subteam^S1&gt;" in text and "&lt;!channel&gt; look" in text
    assert t("details.overdue") not in text


def test_an_untouched_lead_past_its_deadline_shows_overdue(env: Env) -> None:
    lead_id, ts = handed_off(env, "details-late")
    claim_by(env, lead_id, ts, REP1)
    env.clock.advance(timedelta(days=1))
    view = open_details(env, lead_id, ts, REP1)
    assert env.services.t("details.overdue") in everything(view)


def test_a_huge_record_stays_within_slacks_limits(env: Env) -> None:
    t = env.services.t
    lead_id, ts = handed_off(env, "details-500", activities=history(500, " " + "ｘ" * 400))
    claim_by(env, lead_id, ts, REP1)
    for i in range(40):
        log_touch(env.services, lead_id, REP1, kind="call", outcome="no_answer",
                  note=f"touch-{i:02d} " + "n" * 2900)
    add_feedback(env, lead_id, MARKETER, "f" * 5000, "1700000003.000100")

    started = time.perf_counter()
    view = open_details(env, lead_id, ts, REP1)
    opened_in = time.perf_counter() - started
    assert_within_modal_limits(view)
    text = everything(view)

    shown = sum(f"act-{i:03d}" in text for i in range(500))
    assert 0 < shown < 500
    assert all(f"act-{i:03d}" in text for i in range(500 - shown, 500))  # the newest ones
    assert t("handoff.more_activities", count=f"{500 - shown:,}") in text
    assert all(f"touch-{i:02d}" in text for i in range(40))  # the shorter lists stay whole
    assert t("details.event.claim") in text and "ffff" in text
    print(f"\nDetails of a lead with 500 activities and 40 touches opened in "
          f"{opened_in * 1000:.0f} ms ({len(view['blocks'])} blocks)")
    assert opened_in < 3.0


def test_an_expired_trigger_offers_a_retry_that_opens_the_details(env: Env) -> None:
    lead_id, ts = handed_off(env, "details-expired")
    env.fake.fail("views.open", error="expired_trigger_id")
    assert env.press(Action.DETAILS, lead_id, ts, REP1, "slow").status == 200
    eventually(lambda: len(env.answers("slow")) == 1)
    (offer,) = [e for e in env.fake.ephemerals if e.get("_name") == "slow"]
    (button,) = [e for b in offer["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (button["action_id"], button["value"]) == (Action.DETAILS.value, str(lead_id))

    env.slack.block_action(button["action_id"], button["value"], user_id=REP1,
                           channel_id=CHANNEL, message_ts=offer["message_ts"],
                           response_url=env.fake.response_url("retry"))
    calls = env.fake.wait_for("views.open", 2)
    assert calls[0].response is not None and calls[0].response["ok"] is False
    assert calls[1].args["view"]["callback_id"] == Callback.DETAILS_MODAL.value
    assert env.answers("retry") == []
