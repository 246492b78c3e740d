"""Log touch, end to end: the button opens the modal, the signed submission is re-checked
against the database, and the channel message and thread follow through the outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.ids import Action, Callback, TouchBlock
from storage.models import LeadStatus, Touch
from tests.harness.slack_requests import (
    HttpResponse,
    plain_text_input,
    state_values,
    static_select,
)
from tests.test_claim import (
    MANAGER,
    REP1,
    REP2,
    Env,
    action_ids,
    claim_by,
    env,
    eventually,
    shown,
)
from tests.test_outbox import CHANNEL

__all__ = ["env"]  # the fixture, re-used


def form(kind: str | None = "call", outcome: str | None = "connected",
         note: str | None = "Talked budget") -> dict[str, Any]:
    return state_values(
        static_select(TouchBlock.KIND.value, TouchBlock.KIND.value, kind),
        static_select(TouchBlock.OUTCOME.value, TouchBlock.OUTCOME.value, outcome),
        plain_text_input(TouchBlock.NOTE.value, TouchBlock.NOTE.value, note),
    )


def submit(env: Env, lead_id: int | str, user: str, values: dict[str, Any]) -> HttpResponse:
    return env.slack.view_submission(Callback.TOUCH_MODAL.value, values, user_id=user,
                                     private_metadata=str(lead_id))


def touches(env: Env, lead_id: int) -> list[Touch]:
    with env.services.unit_of_work() as uow:
        rows = uow.session.scalars(select(Touch).where(Touch.lead_id == lead_id)).all()
        uow.session.expunge_all()
        return list(rows)


def claimed(env: Env) -> tuple[int, str]:
    lead_id, ts = env.posted()
    claim_by(env, lead_id, ts, REP1)
    return lead_id, ts


def errors_of(response: HttpResponse) -> dict[str, str]:
    assert response.status == 200
    body = response.json()
    assert body["response_action"] == "errors"
    return body["errors"]


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
