"""Log touch, end to end: the button opens the modal, the signed submission is re-checked
against the database, and the channel message and thread follow through the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.ids import Action, Callback, TouchBlock
from bot.lifecycle import Action as Transition
from bot.lifecycle import Surface, apply
from bot.workflow import release
from storage.models import LeadStatus
from tests.harness.blocks import action_ids, shown
from tests.harness.bot_env import Env, claim_by, claimed, errors_of
from tests.harness.held_roles import another_process, hold_the_second_role_lookup, refusal_keys
from tests.harness.people import CHANNEL, MANAGER, MARKETER, REP1, REP2
from tests.harness.touch import form, submit, touches
from tests.harness.waiting import eventually


def test_the_owner_sees_log_touch_and_it_opens_the_modal(env: Env) -> None:
    lead_id, ts = claimed(env)
    (message,) = env.fake.messages(CHANNEL)
    assert Action.LOG_TOUCH.value in action_ids(message)
    assert env.services.t("handoff.touches", count="0") in shown(message)

    assert env.press(Action.LOG_TOUCH, lead_id, ts, REP1, "touch").status == 200
    (call,) = env.fake.wait_for("views.open")
    view = call.args["view"]
    assert view["callback_id"] == Callback.TOUCH_MODAL.value
    assert view["private_metadata"] == str(lead_id)


def test_a_valid_touch_moves_the_lead_to_working_and_tells_the_channel(env: Env) -> None:
    lead_id, ts = claimed(env)
    response = submit(env, lead_id, REP1, form())
    assert response.status == 200 and "errors" not in response.body
    eventually(lambda: len(touches(env, lead_id)) == 1)

    assert [t.kind for t in touches(env, lead_id)] == ["call"]
    (touch,) = touches(env, lead_id)
    assert (touch.rep_id, touch.outcome, touch.note) == (REP1, "connected", "Talked budget")
    lead = env.lead(lead_id)
    assert (lead.status, lead.touch_count) == (LeadStatus.WORKING, 1)
    assert lead.first_touch_at is not None
    (event,) = env.events(lead_id, "touch")
    assert (event.from_status, event.to_status, event.actor) == ("claimed", "working", REP1)

    env.drain()
    t = env.services.t
    replies = [r["text"] for r in env.fake.thread(CHANNEL, ts)]
    assert replies[-1] == t("touch.thread", user=f"<@{REP1}>", kind=t("touch_kind.call"),
                            outcome=t("touch_outcome.connected"))
    (message,) = env.fake.messages(CHANNEL)
    assert t("handoff.touches", count="1") in shown(message)

    first = lead.first_touch_at
    submit(env, lead_id, REP1, form("email", "replied", None))
    eventually(lambda: env.lead(lead_id).touch_count == 2)
    lead = env.lead(lead_id)
    assert (lead.status, lead.touch_count, lead.first_touch_at) == (
        LeadStatus.WORKING, 2, first
    )


def test_invalid_inputs_keep_the_modal_open_and_change_nothing(env: Env) -> None:
    lead_id, _ = claimed(env)
    rows = env.outbox_count(lead_id)
    t = env.services.t
    assert errors_of(submit(env, lead_id, REP1, form(kind=None))) == {
        TouchBlock.KIND.value: t("touch.error.kind")
    }
    assert TouchBlock.OUTCOME.value in errors_of(submit(env, lead_id, REP1, form(outcome="nope")))
    assert TouchBlock.NOTE.value in errors_of(submit(env, lead_id, REP1, form(note="x" * 3001)))
    assert touches(env, lead_id) == []
    lead = env.lead(lead_id)
    assert (lead.status, lead.touch_count, lead.first_touch_at) == (LeadStatus.CLAIMED, 0, None)
    assert env.outbox_count(lead_id) == rows


def test_another_reps_forged_submission_is_refused(env: Env) -> None:
    lead_id, _ = claimed(env)
    rows = env.outbox_count(lead_id)
    assert errors_of(submit(env, lead_id, REP2, form())) == {
        TouchBlock.KIND.value: env.services.t("error.not_allowed")
    }
    assert errors_of(submit(env, "12; drop", REP1, form())) == {
        TouchBlock.KIND.value: env.services.t("error.not_found")
    }
    assert touches(env, lead_id) == []
    assert env.lead(lead_id).status == LeadStatus.CLAIMED
    assert env.outbox_count(lead_id) == rows


def test_an_unowned_lead_cannot_be_touched(env: Env) -> None:
    lead_id, _ = env.posted()
    assert errors_of(submit(env, lead_id, MANAGER, form())) == {
        TouchBlock.KIND.value: env.services.t("error.illegal_transition", status="posted")
    }
    assert touches(env, lead_id) == []


def test_a_manager_may_log_a_touch(env: Env) -> None:
    lead_id, _ = claimed(env)
    assert submit(env, lead_id, MANAGER, form("meeting", "connected", "")).status == 200
    eventually(lambda: len(touches(env, lead_id)) == 1)
    (touch,) = touches(env, lead_id)
    assert (touch.rep_id, touch.kind, touch.note) == (MANAGER, "meeting", None)
    lead = env.lead(lead_id)
    assert (lead.status, lead.owner_id, lead.touch_count) == (LeadStatus.WORKING, REP1, 1)


# ------------------------------------------------------------------ pressing Log touch


@pytest.mark.parametrize(
    "forged", ["²", "١٢", "+1", " 1", "1_0", "2147483648", "9" * 30, "-1", ""],
    ids=["superscript", "arabic-indic", "plus", "space", "underscore", "over-int4", "huge",
         "negative", "empty"],
)
def test_forged_private_metadata_is_refused_as_not_found_on_each_database(
    any_env: Env, forged: str
) -> None:
    """``"²".isdigit()`` is true yet ``int("²")`` raises, and a huge id overflows the column:
    whatever a client puts in ``private_metadata``, the modal says "not found", never a 500."""
    lead_id, _ = claimed(any_env)
    rows = any_env.outbox_count(lead_id)
    assert errors_of(submit(any_env, forged, REP1, form())) == {
        TouchBlock.KIND.value: any_env.services.t("error.not_found")
    }
    assert touches(any_env, lead_id) == []
    assert any_env.outbox_count(lead_id) == rows


def decide(env: Env, lead_id: int) -> None:
    """The lead is converted (as the Convert modal would), through the lifecycle."""
    with env.services.unit_of_work() as uow:
        lead = uow.leads.get_for_update(lead_id)
        assert lead is not None
        apply(lead, Transition.CONVERT, at=env.clock.now(), surface=Surface.MODAL, actor=REP1)
        lead.decided_at = env.clock.now()
        uow.commit()


def pressed(env: Env, lead_id: int, ts: str, user: str, name: str) -> list[str]:
    """Press Log touch; what the presser was told (the listener answers after the ack)."""
    answers = env.press_answered(Action.LOG_TOUCH, lead_id, ts, user, name)
    assert env.fake.ephemerals[-1]["user"] == user
    return answers


@pytest.mark.parametrize("presser", [REP2, MARKETER])
def test_log_touch_refuses_anyone_but_the_owner_or_a_manager_at_the_press(
    any_env: Env, presser: str
) -> None:
    env = any_env
    lead_id, ts = claimed(env)
    assert pressed(env, lead_id, ts, presser, "stranger") == [env.services.t("error.not_allowed")]
    assert env.fake.calls_to("views.open") == []

    assert env.press(Action.LOG_TOUCH, lead_id, ts, MANAGER, "manager").status == 200
    (call,) = env.fake.wait_for("views.open")
    assert call.args["view"]["callback_id"] == Callback.TOUCH_MODAL.value
    assert env.answers("manager") == []


def test_log_touch_on_a_decided_or_released_lead_says_why(any_env: Env) -> None:
    env, t = any_env, any_env.services.t
    lead_id, ts = claimed(env)
    decide(env, lead_id)
    decided = t("touch_guard.decided", status=t("lead_status.converted"))
    assert pressed(env, lead_id, ts, REP1, "owner") == [decided]
    assert pressed(env, lead_id, ts, REP2, "other") == [decided]  # not "not yours"

    other, other_ts = env.posted("released-lead")
    claim_by(env, other, other_ts, REP1)
    release(env.services, other, REP1)
    assert pressed(env, other, other_ts, REP1, "released") == [
        t("touch_guard.not_owned", status=t("lead_status.posted"))
    ]
    assert env.fake.calls_to("views.open") == []
    assert touches(env, lead_id) == [] and touches(env, other) == []


def test_a_touch_refused_after_the_check_is_told_to_the_rep_by_dm(group_env: Env) -> None:
    env, t = group_env, group_env.services.t
    lead_id, _ = claimed(env)
    lookups = hold_the_second_role_lookup(env)

    response = submit(env, lead_id, REP1, form(note="Call went well, send the deck"))
    assert response.status == 200 and "errors" not in response.body  # the check passed
    env.fake.wait_for_arrival("usergroups.users.list", lookups + 2)
    release(another_process(env), lead_id, REP1)  # meanwhile, the lead is released
    eventually(lambda: len(refusal_keys(env)) == 1, timeout=10)
    env.drain()

    assert touches(env, lead_id) == []
    lead = env.lead(lead_id)
    assert (lead.status, lead.touch_count, lead.owner_id) == (LeadStatus.POSTED, 0, None)
    assert env.events(lead_id, "touch") == []
    dm = env.fake.dms(REP1)[-1]
    reason = t("touch_guard.not_owned", status=t("lead_status.posted"))
    assert dm["text"] == t("touch_guard.dm", name="Sato Hanako", reason=reason)
    assert "Call went well, send the deck" in shown(dm)  # the note is not lost


def test_an_expired_trigger_offers_a_retry_that_opens_the_modal(any_env: Env) -> None:
    env, t = any_env, any_env.services.t
    lead_id, ts = claimed(env)
    env.fake.fail("views.open", error="expired_trigger_id")
    assert env.press_answered(Action.LOG_TOUCH, lead_id, ts, REP1, "slow") == [t("modal.expired")]
    (offer,) = [e for e in env.fake.ephemerals if e.get("_name") == "slow"]
    assert offer["user"] == REP1
    (button,) = [e for b in offer["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (button["action_id"], button["value"]) == (Action.LOG_TOUCH.value, str(lead_id))
    (failed,) = env.fake.calls_to("views.open")
    assert failed.response == {"ok": False, "error": "expired_trigger_id"}

    env.slack.block_action(button["action_id"], button["value"], user_id=REP1,
                           channel_id=CHANNEL, message_ts=offer["message_ts"],
                           response_url=env.fake.response_url("retry", user=REP1))
    calls = env.fake.wait_for("views.open", 2)
    view = calls[1].args["view"]
    assert (view["callback_id"], view["private_metadata"]) == (
        Callback.TOUCH_MODAL.value, str(lead_id)
    )
    assert calls[1].response is not None and calls[1].response["ok"] is True
    assert env.answers("retry") == []


def test_after_a_touch_the_message_names_the_next_follow_up_until_enough_are_logged(
    env: Env,
) -> None:
    """Follow-ups are owed while touches < min_touches: "Next: decision" would tell the rep
    the opposite of the agreement (first-hour issue, point 9)."""
    from bot.deadlines import decision_due_from
    from bot.i18n import format_datetime

    policy, t = env.services.policy, env.services.t
    minimum = policy.agreement.min_touches
    assert minimum > 1
    lead_id, _ts = claimed(env)
    submit(env, lead_id, REP1, form())
    eventually(lambda: env.lead(lead_id).touch_count == 1)
    env.drain()
    lead = env.lead(lead_id)
    due = policy.business_calendar.add(
        lead.last_touch_at, timedelta(hours=policy.agreement.follow_up_every_business_hours))
    (message,) = env.fake.messages(CHANNEL)
    assert t("handoff.next_follow_up", due=format_datetime(due, t.language, policy.tz),
             touch="2", target=str(minimum)) in shown(message)
    decision = t("handoff.next_decision", due=format_datetime(
        decision_due_from(lead.posted_at, policy), t.language, policy.tz))
    assert decision not in shown(message)

    for count in range(2, minimum + 1):
        submit(env, lead_id, REP1, form("email", "replied", f"follow-up {count}"))
        eventually(lambda count=count: env.lead(lead_id).touch_count == count)
    env.drain()
    (message,) = env.fake.messages(CHANNEL)
    assert decision in shown(message)
    assert t("handoff.next_follow_up", due=format_datetime(due, t.language, policy.tz),
             touch="2", target=str(minimum)) not in shown(message)
