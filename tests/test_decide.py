"""Convert to SQL and Recycle, end to end: signed button presses and modal submissions to the
running bot, on SQLite and PostgreSQL, with what reps and marketers would see in the fake Slack.

A decision is the lead's last state change and marketing learns from it, so the tests check
both sides: the lead, its event and the sales channel (message, thread) and the marketing
feedback channel (which MQL became an SQL, or why it came back), and that every refusal —
bad input, someone else's lead, a decided lead, a double submission — changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from threading import Barrier, Thread
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient

from bot.clock import ManualClock
from bot.ids import Action, Callback, ConvertBlock, RecycleBlock
from bot.outbound_webhook import delivery_key
from bot.policy import OutboundWebhook, Policy
from bot.services import build_services
from bot.workflow import log_touch
from handlers.server import BotServer
from storage.models import LeadStatus
from storage.outbox_kind import OutboxKind
from tests.harness import FakeSlack, HttpResponse, SlackRequests
from tests.harness.blocks import action_ids, shown
from tests.harness.bot_env import Env, claim_by, errors_of, make_worker, start
from tests.harness.databases import Database
from tests.harness.decisions import (
    BANT,
    accepted,
    convert_values,
    link,
    marketing,
    owned,
    recycle_values,
    submit,
)
from tests.harness.leads import queue
from tests.harness.people import CHANNEL, MANAGER, REP1, REP2
from tests.harness.policies import policy_with
from tests.harness.settings import BOT_TOKEN, SIGNING_SECRET, make_settings

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def env(fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock) -> Iterator[Env]:
    """The running bot on each database kind, in English so texts read plainly."""
    running = start(fake_slack, db, policy_with(policy, language="en"), clock)
    yield running
    running.bot.stop()


@pytest.fixture
def ja_env(fake_slack: FakeSlack, sqlite_db: Database, policy: Policy,
           clock: ManualClock) -> Iterator[Env]:
    running = start(fake_slack, sqlite_db, policy_with(policy, language="ja"), clock)
    yield running
    running.bot.stop()


# ---------------------------------------------------------------------------- helpers


def state(env: Env, lead_id: int) -> tuple[Any, ...]:
    """Everything a refused decision must leave alone."""
    lead = env.lead(lead_id)
    return (lead.status, lead.decided_at, lead.decision_reason, env.outbox_count(lead_id),
            len(env.events(lead_id, "convert")), len(env.events(lead_id, "recycle")))


# ---------------------------------------------------------------------------- convert


def test_convert_opens_a_modal_with_the_bant_confirmations(env: Env) -> None:
    lead_id, ts = owned(env)
    assert Action.CONVERT.value in action_ids(env.fake.messages(CHANNEL)[0])
    assert env.press(Action.CONVERT, lead_id, ts, REP1, "convert").status == 200
    (call,) = env.fake.wait_for("views.open")
    view = call.args["view"]
    assert (view["callback_id"], view["private_metadata"]) == (
        Callback.CONVERT_MODAL.value, str(lead_id))
    bant, amount, note = view["blocks"]
    assert [o["value"] for o in bant["element"]["options"]] == BANT
    assert bant["optional"] is False and bant["element"]["type"] == "checkboxes"
    assert amount["element"]["type"] == "number_input" and amount["optional"] is True
    assert note["element"]["max_length"] == 3000 and note["optional"] is True


def test_a_valid_conversion_tells_the_channel_the_thread_and_marketing(env: Env) -> None:
    t = env.services.t
    lead_id, ts = env.posted()
    claim_by(env, lead_id, ts, REP1)
    posted_at = env.lead(lead_id).posted_at
    assert posted_at is not None
    # Tue 10:00 hand-off; first call 1 h 30 min later; a second call the next morning.
    env.clock.set(posted_at + timedelta(minutes=90))
    log_touch(env.services, lead_id, REP1, kind="call", outcome="connected", note=None)
    env.clock.set(datetime(2026, 11, 25, 9, 30, tzinfo=TOKYO))
    log_touch(env.services, lead_id, REP1, kind="meeting", outcome="connected", note=None)
    env.drain()
    homes_before = len(env.fake.calls_to("views.publish"))

    accepted(submit(env, Callback.CONVERT_MODAL, lead_id, REP1, convert_values()))

    lead = env.lead(lead_id)
    assert (lead.status, lead.decided_at, lead.owner_id) == (
        LeadStatus.CONVERTED, env.clock.now(), REP1)
    # in [outcomes] currency, the expected amount is the SQL's pipeline
    assert (lead.deal_amount, lead.deal_currency) == (Decimal(1200000), "JPY")
    (event,) = env.events(lead_id, "convert")
    assert (event.actor, event.surface, event.from_status, event.to_status) == (
        REP1, "modal", "working", "converted")
    assert event.data == {"bant": BANT, "amount": 1200000, "has_note": True,
                          "note": "Budget approved in Q1"}

    env.drain()
    (message,) = env.fake.messages(CHANNEL)
    assert message["ts"] == ts
    assert action_ids(message) == [Action.DETAILS.value]
    assert f"Converted to SQL by <@{REP1}> · Wed 25 Nov 09:30" in shown(message)
    replies = [r["text"] for r in env.fake.thread(CHANNEL, ts)]
    assert replies[-1] == (f":white_check_mark: Converted to SQL by <@{REP1}> — 2 touches, "
                           "first touch 1 h 30 min after hand-off (business hours).")
    (post,) = marketing(env)
    text = shown(post)
    assert post["text"] == (f"MQL → SQL: Sato Hanako (Example KK) was converted to SQL by "
                            f"<@{REP1}>.")
    assert "1 h 30 min (business hours)" in text and "*Touches*\\n2\"" in text
    assert "¥1,200,000" in text and "hubspot" in text
    assert f"<{link(ts)}|{t('decide.thread_link')}>" in text
    assert len(env.fake.calls_to("views.publish")) > homes_before  # App Homes refreshed
    assert REP1 in env.fake.home_views


def test_time_to_first_touch_counts_business_hours_only(env: Env) -> None:
    lead_id, ts = env.posted()
    claim_by(env, lead_id, ts, REP1)
    # handed off Tue 10:00; first touch Wed 10:00: 8 h on Tue + 1 h on Wed, not 24 h
    env.clock.set(datetime(2026, 11, 25, 10, 0, tzinfo=TOKYO))
    log_touch(env.services, lead_id, REP1, kind="email", outcome="replied", note=None)
    accepted(submit(env, Callback.CONVERT_MODAL, lead_id, REP1, convert_values(amount=None,
                                                                               note=None)))
    env.drain()
    assert env.fake.thread(CHANNEL, ts)[-1]["text"] == (
        f":white_check_mark: Converted to SQL by <@{REP1}> — 1 touch, first touch 9 h 0 min "
        "after hand-off (business hours).")
    (event,) = env.events(lead_id, "convert")
    assert event.data == {"bant": BANT, "amount": None, "has_note": False}
    assert env.services.t("convert.field_amount") not in shown(marketing(env)[0])


def test_a_conversion_without_touches_says_so(env: Env) -> None:
    lead_id, ts = owned(env)
    accepted(submit(env, Callback.CONVERT_MODAL, lead_id, REP1, convert_values()))
    env.drain()
    assert env.fake.thread(CHANNEL, ts)[-1]["text"] == (
        f":white_check_mark: Converted to SQL by <@{REP1}> — no touch was logged.")
    assert "no touch logged" in shown(marketing(env)[0])
    assert env.lead(lead_id).status == LeadStatus.CONVERTED


@pytest.mark.parametrize(("values", "block", "message"), [
    (convert_values(bant=["budget", "need", "timeline"]), ConvertBlock.BANT,
     "Confirm these before converting: Authority."),
    (convert_values(bant=[]), ConvertBlock.BANT,
     "Confirm these before converting: Budget, Authority, Need, Timeline."),
    (convert_values(amount="lots"), ConvertBlock.AMOUNT, None),
    (convert_values(amount="-5"), ConvertBlock.AMOUNT, None),
    (convert_values(amount="12.345"), ConvertBlock.AMOUNT, None),
    (convert_values(amount="NaN"), ConvertBlock.AMOUNT, None),
    (convert_values(note="x" * 3001), ConvertBlock.NOTE,
     "The note can be at most 3000 characters."),
])
def test_invalid_conversions_keep_the_modal_open_and_change_nothing(
    env: Env, values: dict[str, Any], block: ConvertBlock, message: str | None
) -> None:
    lead_id, _ = owned(env, touches=1)
    before = state(env, lead_id)
    errors = errors_of(submit(env, Callback.CONVERT_MODAL, lead_id, REP1, values))
    assert list(errors) == [block.value]
    assert errors[block.value] == (message or env.services.t("convert.error.amount"))
    assert state(env, lead_id) == before
    assert env.lead(lead_id).status == LeadStatus.WORKING


def test_without_a_currency_the_expected_amount_stays_in_the_record_only(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> None:
    """No ``[outcomes] currency``: a bare number cannot be summed with the CRM's amounts, so
    it is no pipeline; marketing reads it as entered."""
    bare = policy_with(policy, language="en").model_copy(
        update={"outcomes": policy.outcomes.model_copy(update={"currency": None})})
    running = start(fake_slack, sqlite_db, bare, clock)
    try:
        lead_id, _ts = owned(running)
        accepted(submit(running, Callback.CONVERT_MODAL, lead_id, REP1,
                        convert_values(amount="2500")))
        lead = running.lead(lead_id)
        assert (lead.deal_amount, lead.deal_currency) == (None, None)
        (event,) = running.events(lead_id, "convert")
        assert event.data["amount"] == 2500
        running.drain()
        text = shown(marketing(running)[0])
        assert "2,500" in text and "¥" not in text
    finally:
        running.bot.stop()


def test_the_bant_items_required_are_configurable(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> None:
    relaxed = start(fake_slack, sqlite_db,
                    policy_with(policy, language="en", bant_required=("need",)), clock)
    try:
        lead_id, ts = owned(relaxed)
        relaxed.press(Action.CONVERT, lead_id, ts, REP1, "open")
        (call,) = relaxed.fake.wait_for("views.open")
        options = call.args["view"]["blocks"][0]["element"]["options"]
        assert ["description" in o for o in options] == [False, False, True, False]
        assert errors_of(submit(relaxed, Callback.CONVERT_MODAL, lead_id, REP1,
                                convert_values(bant=["budget"]))) == {
            ConvertBlock.BANT.value: "Confirm these before converting: Need."}
        accepted(submit(relaxed, Callback.CONVERT_MODAL, lead_id, REP1,
                        convert_values(bant=["need"], amount="1500.5")))
        (event,) = relaxed.events(lead_id, "convert")
        assert (event.data["bant"], event.data["amount"]) == (["need"], 1500.5)
    finally:
        relaxed.bot.stop()


def test_a_manager_may_convert_for_the_owner(env: Env) -> None:
    lead_id, ts = owned(env, touches=1)
    accepted(submit(env, Callback.CONVERT_MODAL, lead_id, MANAGER, convert_values()))
    lead = env.lead(lead_id)
    assert (lead.status, lead.owner_id) == (LeadStatus.CONVERTED, REP1)
    assert env.events(lead_id, "convert")[0].actor == MANAGER
    env.drain()
    assert f"Converted to SQL by <@{MANAGER}>" in env.fake.thread(CHANNEL, ts)[-1]["text"]


# ---------------------------------------------------------------------------- recycle


def test_recycle_offers_the_configured_reasons_and_asks_why_when_touches_are_few(
    env: Env,
) -> None:
    lead_id, ts = owned(env, touches=2)
    env.press(Action.RECYCLE, lead_id, ts, REP1, "recycle")
    (call,) = env.fake.wait_for("views.open")
    view = call.args["view"]
    assert (view["callback_id"], view["private_metadata"]) == (
        Callback.RECYCLE_MODAL.value, str(lead_id))
    reason, note, fewer = view["blocks"]
    options = reason["element"]["options"]
    assert [o["value"] for o in options] == list(env.services.policy.recycle.reasons)
    assert options[0]["text"]["text"] == "no budget"  # translated, not the code
    assert reason["optional"] is False and note["optional"] is True
    assert fewer["block_id"] == RecycleBlock.FEWER_TOUCHES.value
    assert fewer["label"]["text"] == "Fewer than 5 touches because…"
    assert "2 of the 5 agreed touches" in fewer["hint"]["text"]


def test_after_enough_touches_the_modal_does_not_ask_why(env: Env) -> None:
    lead_id, ts = owned(env, touches=5)
    env.press(Action.RECYCLE, lead_id, ts, REP1, "recycle")
    (call,) = env.fake.wait_for("views.open")
    assert [b["block_id"] for b in call.args["view"]["blocks"]] == [
        RecycleBlock.REASON.value, RecycleBlock.NOTE.value]

    accepted(submit(env, Callback.RECYCLE_MODAL, lead_id, REP1,
                    recycle_values("timing", "Call again in April", with_fewer=False)))
    lead = env.lead(lead_id)
    assert (lead.status, lead.decision_reason) == (LeadStatus.RECYCLED, "timing")
    (event,) = env.events(lead_id, "recycle")
    assert event.data == {"reason": "timing", "note": "Call again in April",
                          "fewer_touches_note": None, "touches": 5}


def test_a_valid_recycle_tells_marketing_why_with_the_notes_and_touches(env: Env) -> None:
    lead_id, ts = owned(env, touches=2)
    accepted(submit(env, Callback.RECYCLE_MODAL, lead_id, REP1, recycle_values(
        "no_budget", "Budget frozen until April", fewer="They said no on the second call")))

    lead = env.lead(lead_id)
    assert (lead.status, lead.decision_reason, lead.decided_at) == (
        LeadStatus.RECYCLED, "no_budget", env.clock.now())
    (event,) = env.events(lead_id, "recycle")
    assert (event.actor, event.from_status, event.to_status) == (REP1, "working", "recycled")
    assert event.data == {"reason": "no_budget", "note": "Budget frozen until April",
                          "fewer_touches_note": "They said no on the second call",
                          "touches": 2}

    env.drain()
    (message,) = env.fake.messages(CHANNEL)
    assert action_ids(message) == [Action.DETAILS.value]
    assert f"Recycled by <@{REP1}> (no budget) · Tue 24 Nov 11:00" in shown(message)
    assert env.fake.thread(CHANNEL, ts)[-1]["text"] == (
        f":recycle: Recycled by <@{REP1}> (no budget) after 2 touches; marketing has been told.")
    (post,) = marketing(env)
    text = shown(post)
    assert post["text"] == (f"Back to marketing: Sato Hanako (Example KK), recycled by "
                            f"<@{REP1}>. Reason: no budget")
    for expected in ("Reason: *no budget*", "*Touches*\\n2 (agreed minimum 5)",
                     "*Rep's note*\\nBudget frozen until April",
                     "*Fewer touches than agreed because*\\nThey said no on the second call",
                     f"<{link(ts)}|Open the hand-off thread>", f"Lead #{lead_id}"):
        assert expected in text, expected


@pytest.mark.parametrize(("values", "block", "message"), [
    (recycle_values(reason=None, fewer="early"), RecycleBlock.REASON, "Choose a reason."),
    (recycle_values(reason="made_up", fewer="early"), RecycleBlock.REASON, "Choose a reason."),
    (recycle_values(fewer=None), RecycleBlock.FEWER_TOUCHES,
     "Only 2 of the 5 agreed touches are logged: say why you are recycling early."),
    (recycle_values(fewer="   "), RecycleBlock.FEWER_TOUCHES,
     "Only 2 of the 5 agreed touches are logged: say why you are recycling early."),
    (recycle_values(note="x" * 3001, fewer="early"), RecycleBlock.NOTE,
     "The note can be at most 3000 characters."),
    (recycle_values(fewer="x" * 3001), RecycleBlock.FEWER_TOUCHES,
     "The note can be at most 3000 characters."),
])
def test_invalid_recycles_keep_the_modal_open_and_change_nothing(
    env: Env, values: dict[str, Any], block: RecycleBlock, message: str
) -> None:
    lead_id, _ = owned(env, touches=2)
    before = state(env, lead_id)
    assert errors_of(submit(env, Callback.RECYCLE_MODAL, lead_id, REP1, values)) == {
        block.value: message}
    assert state(env, lead_id) == before
    assert marketing(env) == []


def test_a_forged_recycle_without_the_fewer_touches_input_is_still_refused(env: Env) -> None:
    lead_id, _ = owned(env, touches=1)
    before = state(env, lead_id)
    assert errors_of(submit(env, Callback.RECYCLE_MODAL, lead_id, REP1,
                            recycle_values(with_fewer=False))) == {
        RecycleBlock.REASON.value:
            "Only 1 of the 5 agreed touches are logged: say why you are recycling early."}
    assert state(env, lead_id) == before


def test_a_custom_reason_without_a_translation_shows_as_configured(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> None:
    custom = start(fake_slack, sqlite_db, policy_with(
        policy, language="en", reasons=("no_budget", "<!channel>_partner_deal")), clock)
    try:
        lead_id, ts = owned(custom, touches=5)
        accepted(submit(custom, Callback.RECYCLE_MODAL, lead_id, REP1,
                        recycle_values("<!channel>_partner_deal", None, with_fewer=False)))
        custom.drain()
        for text in (shown(custom.fake.messages(CHANNEL)[0]), shown(marketing(custom)[0]),
                     custom.fake.thread(CHANNEL, ts)[-1]["text"]):
            assert "&lt;!channel&gt;_partner_deal" in text and "<!channel>" not in text
    finally:
        custom.bot.stop()


# ---------------------------------------------------------------------------- who may decide


@pytest.mark.parametrize("action", [Action.CONVERT, Action.RECYCLE])
def test_another_rep_pressing_is_refused_without_a_modal(env: Env, action: Action) -> None:
    lead_id, ts = owned(env)
    before = state(env, lead_id)
    assert env.press_answered(action, lead_id, ts, REP2, "stranger") == [
        env.services.t("error.not_allowed")]
    assert env.fake.ephemerals[-1]["user"] == REP2
    assert env.fake.calls_to("views.open") == []
    assert state(env, lead_id) == before


def test_a_manager_pressing_gets_the_modal(env: Env) -> None:
    lead_id, ts = owned(env)
    env.press(Action.RECYCLE, lead_id, ts, MANAGER, "manager")
    (call,) = env.fake.wait_for("views.open")
    assert call.args["view"]["callback_id"] == Callback.RECYCLE_MODAL.value


@pytest.mark.parametrize(("callback", "values"), [
    (Callback.CONVERT_MODAL, convert_values()),
    (Callback.RECYCLE_MODAL, recycle_values(fewer="early")),
])
def test_a_submission_naming_another_reps_lead_is_refused(
    env: Env, callback: Callback, values: dict[str, Any]
) -> None:
    lead_id, _ = owned(env)  # REP1's lead; REP2 edits private_metadata to name it
    before = state(env, lead_id)
    first = ConvertBlock.BANT if callback == Callback.CONVERT_MODAL else RecycleBlock.REASON
    assert errors_of(submit(env, callback, lead_id, REP2, values)) == {
        first.value: env.services.t("error.not_allowed")}
    assert errors_of(submit(env, callback, "7; drop table leads", REP1, values)) == {
        first.value: env.services.t("error.not_found")}
    assert state(env, lead_id) == before
    assert marketing(env) == []


# ------------------------------------------------------------------ decided or unowned leads


def test_a_decided_lead_cannot_be_decided_again(env: Env) -> None:
    t = env.services.t
    lead_id, ts = owned(env, touches=1)
    accepted(submit(env, Callback.CONVERT_MODAL, lead_id, REP1, convert_values()))
    env.drain()
    before = state(env, lead_id)
    posts = len(env.fake.calls_to("chat.postMessage"))
    already = t("decide.error.converted", user=f"<@{REP1}>", at="Tue 24 Nov 10:30")

    # the same submission again (a replay) is answered like the first and does nothing
    accepted(submit(env, Callback.CONVERT_MODAL, lead_id, REP1, convert_values()))
    # another modal on the same lead (opened before the decision), and a recycle on top of it
    assert errors_of(submit(env, Callback.CONVERT_MODAL, lead_id, REP1, convert_values(),
                            view_id="V2")) == {ConvertBlock.BANT.value: already}
    assert errors_of(submit(env, Callback.RECYCLE_MODAL, lead_id, MANAGER,
                            recycle_values(fewer="early"), view_id="V3")) == {
        RecycleBlock.REASON.value: already}
    # the buttons of an older copy of the message (e.g. the claim DM) open nothing
    for action in (Action.CONVERT, Action.RECYCLE):
        assert env.press_answered(action, lead_id, ts, REP1, f"again-{action.value}") == [
            already]
    assert env.fake.calls_to("views.open") == []
    env.drain()
    assert state(env, lead_id) == before
    assert len(env.fake.calls_to("chat.postMessage")) == posts
    assert len(marketing(env)) == 1


def test_a_recycled_lead_says_who_recycled_it(env: Env) -> None:
    lead_id, ts = owned(env, touches=5)
    accepted(submit(env, Callback.RECYCLE_MODAL, lead_id, REP1,
                    recycle_values(with_fewer=False)))
    assert env.press_answered(Action.CONVERT, lead_id, ts, REP2, "late") == [
        env.services.t("decide.error.recycled", user=f"<@{REP1}>", at="Tue 24 Nov 12:30")]
    assert env.lead(lead_id).status == LeadStatus.RECYCLED


def test_an_unowned_lead_cannot_be_decided(env: Env) -> None:
    t = env.services.t
    lead_id, ts = env.posted()
    before = state(env, lead_id)
    assert env.press_answered(Action.CONVERT, lead_id, ts, MANAGER, "early") == [
        t("decide.error.not_claimed")]
    assert errors_of(submit(env, Callback.RECYCLE_MODAL, lead_id, MANAGER,
                            recycle_values(fewer="early"))) == {
        RecycleBlock.REASON.value: t("decide.error.not_claimed")}
    assert env.fake.calls_to("views.open") == []
    assert state(env, lead_id) == before


def test_two_submissions_at_once_decide_once(env: Env) -> None:
    lead_id, ts = owned(env, touches=1)
    barrier = Barrier(2)
    responses: list[HttpResponse] = []

    def send(callback: Callback, values: dict[str, Any]) -> None:
        barrier.wait()
        responses.append(submit(env, callback, lead_id, REP1, values))

    threads = [Thread(target=send, args=(Callback.CONVERT_MODAL, convert_values())),
               Thread(target=send, args=(Callback.RECYCLE_MODAL, recycle_values(fewer="x")))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [r for r in responses if "errors" in r.body]
    assert len(responses) == 2 and len(refused) == 1
    assert len(env.events(lead_id, "convert")) + len(env.events(lead_id, "recycle")) == 1
    env.drain()
    assert len(marketing(env)) == 1
    assert len(env.fake.thread(CHANNEL, ts)) == 3  # claim, touch, the one decision


# ------------------------------------------------------------------------------ language


def test_japanese_texts_render(ja_env: Env) -> None:
    env = ja_env
    lead_id, ts = owned(env, touches=1)
    env.press(Action.CONVERT, lead_id, ts, REP1, "ja")
    (call,) = env.fake.wait_for("views.open")
    view = call.args["view"]
    assert view["title"]["text"] == "SQL 化する"
    assert view["blocks"][0]["hint"]["text"] == (
        "SQL 化に必須: 予算（Budget）、決裁権（Authority）、ニーズ（Need）、導入時期（Timeline）")
    assert errors_of(submit(env, Callback.CONVERT_MODAL, lead_id, REP1,
                            convert_values(amount="-1"))) == {
        ConvertBlock.AMOUNT.value:
            "0 以上の数値を入力してください（小数点以下 2 桁まで。例: 1200000、1500.50）。"}

    accepted(submit(env, Callback.CONVERT_MODAL, lead_id, REP1, convert_values()))
    env.drain()
    assert f"{REP1}> が SQL 化しました · 11/24(火) 10:30" in shown(env.fake.messages(CHANNEL)[0])
    assert env.fake.thread(CHANNEL, ts)[-1]["text"] == (
        f":white_check_mark: <@{REP1}> が SQL 化しました — 接触 1回、引き渡しから初回接触まで "
        "30分（営業時間）。")
    (post,) = marketing(env)
    assert post["text"] == f"MQL → SQL: Example KK Sato Hanako 様 を <@{REP1}> が SQL 化しました。"
    assert "引き渡しスレッドを開く" in shown(post)

    other, other_ts = owned(env, touches=0, external_id="hubspot-ja-2")
    env.press(Action.RECYCLE, other, other_ts, REP1, "ja-recycle")
    (_, recycle_call) = env.fake.wait_for("views.open", 2)
    blocks = recycle_call.args["view"]["blocks"]
    assert blocks[0]["element"]["options"][0]["text"]["text"] == "予算なし"
    assert blocks[2]["label"]["text"] == "接触が 5回未満の理由"
    accepted(submit(env, Callback.RECYCLE_MODAL, other, REP1,
                    recycle_values("unreachable", None, fewer="電話がつながらない")))
    env.drain()
    assert "マーケティングに戻りました" in marketing(env)[-1]["text"]
    assert "連絡がつかない" in shown(marketing(env)[-1])
    assert "0回（合意した最低回数 5回）" in shown(marketing(env)[-1])


def test_user_text_pings_nobody(env: Env) -> None:
    lead_id = queue(env.services, "nasty-1",
                    contact={"name": "<!channel> Eve", "title": "CEO"})
    env.drain()
    ts = env.lead(lead_id).message_ts
    assert ts is not None
    claim_by(env, lead_id, ts, REP1)
    accepted(submit(env, Callback.RECYCLE_MODAL, lead_id, REP1, recycle_values(
        "other", "<@U0000MGR1> & <https://evil.example|click>", fewer="<!here>")))
    env.drain()
    text = json.dumps(marketing(env)[0], ensure_ascii=False)
    assert "<!channel>" not in text and "<!here>" not in text and "<@U0000MGR1>" not in text
    assert "&lt;!channel&gt; Eve" in text and "&lt;!here&gt;" in text


# ------------------------------------------------------------------------- the MA tool


def test_each_decision_queues_the_outbound_webhook_in_its_unit_of_work(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> None:
    hooked = policy_with(policy, language="en").model_copy(update={
        "outbound_webhook": OutboundWebhook(url="http://127.0.0.1:9/sla-hook")})
    settings = make_settings(fake_slack, sqlite_db.url, outbound_webhook_secret="hook-secret")
    slack = WebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5)
    services = build_services(settings, hooked, clock, engine=sqlite_db.engine, slack=slack)
    server = BotServer(services, host="127.0.0.1", port=0, start_scheduler=False,
                       start_worker=False).start()
    running = Env(services, server, SlackRequests(f"{server.url}/slack/events", SIGNING_SECRET),
                  fake_slack, clock, make_worker(services, clock, fake_slack))
    try:
        converted, _ = owned(running, touches=1, external_id="hook-1")
        recycled, _ = owned(running, touches=5, external_id="hook-2")
        accepted(submit(running, Callback.CONVERT_MODAL, converted, REP1,
                        convert_values(amount="2500")))
        accepted(submit(running, Callback.RECYCLE_MODAL, recycled, REP1,
                        recycle_values("competitor", with_fewer=False)))
        for lead_id, kind in ((converted, "convert"), (recycled, "recycle")):
            (event,) = running.events(lead_id, kind)
            with running.services.unit_of_work() as uow:
                row = uow.outbox.by_key(delivery_key(lead_id, event.id))
                assert row is not None and row.kind == OutboxKind.WEBHOOK
                body = json.loads(row.payload["body"])
            assert body["lead"]["id"] == lead_id
            if kind == "convert":
                assert (body["outcome"], body["bant"], body["amount"]) == (
                    "converted", BANT, 2500)
            else:
                assert (body["outcome"], body["reason"], body["touches"]) == (
                    "recycled", "competitor", 5)
    finally:
        running.bot.stop()
