"""Reassign, end to end: a manager's button opens the modal, the signed submission is checked
again from the database and the policy's roles, and the channel, the thread and both owners
hear about it through the outbox. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.i18n import format_datetime
from bot.ids import Action, Callback, ReassignBlock
from bot.policy import Policy
from bot.workflow import release
from storage.models import LeadStatus
from tests.harness import FakeSlack, HttpResponse
from tests.harness.blocks import action_ids, shown
from tests.harness.bot_env import OWNER_ACTIONS, Env, claimed, errors_of, start
from tests.harness.databases import Database
from tests.harness.held_roles import another_process, hold_the_second_role_lookup, refusal_keys
from tests.harness.people import CHANNEL, MANAGER, MARKETER, REP1, REP2
from tests.harness.policies import with_reps
from tests.harness.reassign import form
from tests.harness.waiting import eventually


@pytest.fixture
def env(any_env: Env) -> Env:
    """The bot on each kind of database."""
    return any_env


def submit(env: Env, lead_id: int | str, user: str, values: dict[str, Any],
           view_id: str = "V1") -> HttpResponse:
    return env.slack.view_submission(Callback.REASSIGN_MODAL.value, values, user_id=user,
                                     private_metadata=str(lead_id), view_id=view_id)


def owner_section(message: dict[str, Any]) -> str:
    """The section of the handoff message that says who owns the lead."""
    return next(b["text"]["text"] for b in message["blocks"]
                if b["type"] == "section" and "text" in b and "<@" in b["text"]["text"])


def deadline_blocks(message: dict[str, Any], heading: str) -> list[dict[str, Any]]:
    return [b for b in message["blocks"] if b["type"] == "section" and "text" in b
            and b["text"]["text"].startswith(f"*{heading}*")]


def test_a_manager_reassigns_and_everyone_concerned_hears(env: Env) -> None:
    t = env.services.t
    lead_id, ts = claimed(env)
    before = env.lead(lead_id)
    deadlines = deadline_blocks(env.fake.messages(CHANNEL)[0], t("handoff.deadlines"))
    assert len(deadlines) == 1
    env.clock.advance(timedelta(minutes=30))

    assert env.press(Action.REASSIGN, lead_id, ts, MANAGER, "reassign").status == 200
    (call,) = env.fake.wait_for("views.open")
    view = call.args["view"]
    assert view["callback_id"] == Callback.REASSIGN_MODAL.value
    assert view["private_metadata"] == str(lead_id)
    assert f"<@{REP1}>" in view["blocks"][0]["text"]["text"]
    assert [b.get("block_id") for b in view["blocks"][1:]] == [
        ReassignBlock.REP.value, ReassignBlock.REASON.value
    ]

    response = submit(env, lead_id, MANAGER, form(REP2, "  Rep1   on leave "))
    assert response.status == 200 and "errors" not in response.body
    eventually(lambda: env.lead(lead_id).owner_id == REP2)
    env.drain()

    lead = env.lead(lead_id)
    (event,) = env.events(lead_id, "reassign")
    assert (lead.status, lead.owner_id) == (LeadStatus.CLAIMED, REP2)
    assert before.claimed_at is not None
    assert lead.claimed_at == event.at >= before.claimed_at + timedelta(minutes=30)
    assert lead.posted_at == before.posted_at  # the deadlines still count from the hand-off
    assert (event.actor, event.surface, event.from_status, event.to_status) == (
        MANAGER, "modal", "claimed", "claimed"
    )
    assert event.data == {"previous_owner": REP1, "new_owner": REP2, "reason": "Rep1 on leave"}

    (message,) = env.fake.messages(CHANNEL)
    owner = owner_section(message)
    assert f"<@{REP2}>" in owner and f"<@{REP1}>" not in owner
    assert format_datetime(event.at, t.language, env.services.policy.tz) in owner
    assert action_ids(message) == OWNER_ACTIONS
    assert deadline_blocks(message, t("handoff.deadlines")) == deadlines

    replies = [r["text"] for r in env.fake.thread(CHANNEL, ts)]
    assert replies[-1] == t("reassign.thread_reason", manager=f"<@{MANAGER}>",
                            previous=f"<@{REP1}>", owner=f"<@{REP2}>", reason="Rep1 on leave")

    (new_dm,) = env.fake.dms(REP2)
    assert "Sato Hanako" in new_dm["text"] and f"<@{MANAGER}>" in new_dm["text"]
    assert "Rep1 on leave" in shown(new_dm)
    assert action_ids(new_dm) == OWNER_ACTIONS  # the card with the owner's actions
    _claim_dm, told = env.fake.dms(REP1)
    assert told["text"] == t("reassign.dm_previous_reason", manager=f"<@{MANAGER}>",
                             name="Sato Hanako", owner=f"<@{REP2}>", reason="Rep1 on leave")
    published = {c.args["user_id"] for c in env.fake.calls_to("views.publish")}
    assert {REP1, REP2, MANAGER} <= published

    # the new owner can work it; the previous one no longer can
    assert env.press_answered(Action.RELEASE, lead_id, ts, REP1, "old-owner") == (
        [t("error.not_allowed")])


def test_without_a_reason_the_thread_says_so_plainly(env: Env) -> None:
    t = env.services.t
    lead_id, ts = claimed(env)
    assert submit(env, lead_id, MANAGER, form(REP2)).status == 200
    eventually(lambda: env.lead(lead_id).owner_id == REP2)
    env.drain()
    assert env.fake.thread(CHANNEL, ts)[-1]["text"] == t(
        "reassign.thread", manager=f"<@{MANAGER}>", previous=f"<@{REP1}>", owner=f"<@{REP2}>"
    )
    assert env.fake.dms(REP1)[-1]["text"] == t(
        "reassign.dm_previous", manager=f"<@{MANAGER}>", name="Sato Hanako", owner=f"<@{REP2}>"
    )
    assert env.events(lead_id, "reassign")[0].data["reason"] is None
    # a manager may also take the lead over themselves
    assert submit(env, lead_id, MANAGER, form(MANAGER), view_id="V2").status == 200
    eventually(lambda: env.lead(lead_id).owner_id == MANAGER)


@pytest.mark.parametrize("presser", [REP1, REP2, MARKETER])
def test_only_managers_get_the_modal(env: Env, presser: str) -> None:
    lead_id, ts = claimed(env)
    rows = env.outbox_count(lead_id)
    assert env.press_answered(Action.REASSIGN, lead_id, ts, presser, "press") == (
        [env.services.t("reassign.not_manager")])
    assert env.fake.ephemerals[-1]["user"] == presser
    assert env.fake.calls_to("views.open") == []
    assert env.outbox_count(lead_id) == rows


def test_a_forged_submission_by_a_non_manager_changes_nothing(env: Env) -> None:
    lead_id, _ = claimed(env)
    rows = env.outbox_count(lead_id)
    t = env.services.t
    for user in (REP2, REP1, MARKETER):
        assert errors_of(submit(env, lead_id, user, form(REP2))) == {
            ReassignBlock.REP.value: t("reassign.not_manager")
        }
    assert errors_of(submit(env, "7; drop table", MANAGER, form(REP2))) == {
        ReassignBlock.REP.value: t("error.not_found")
    }
    lead = env.lead(lead_id)
    assert (lead.status, lead.owner_id) == (LeadStatus.CLAIMED, REP1)
    assert env.events(lead_id, "reassign") == []
    assert env.outbox_count(lead_id) == rows


def test_invalid_choices_are_answered_in_the_modal(env: Env) -> None:
    lead_id, ts = claimed(env)
    rows = env.outbox_count(lead_id)
    t = env.services.t
    rep = ReassignBlock.REP.value
    assert errors_of(submit(env, lead_id, MANAGER, form(None))) == {
        rep: t("reassign.error.choose")
    }
    assert errors_of(submit(env, lead_id, MANAGER, form(MARKETER))) == {
        rep: t("reassign.error.not_assignee")
    }
    assert errors_of(submit(env, lead_id, MANAGER, form("U0000NOBODY"))) == {
        rep: t("reassign.error.not_assignee")
    }
    assert errors_of(submit(env, lead_id, MANAGER, form(REP1))) == {
        rep: t("reassign.error.same_owner")
    }
    assert errors_of(submit(env, lead_id, MANAGER, form(REP2, "x" * 501))) == {
        ReassignBlock.REASON.value: t("reassign.error.reason_too_long", limit=500)
    }
    lead = env.lead(lead_id)
    assert (lead.status, lead.owner_id) == (LeadStatus.CLAIMED, REP1)
    assert env.events(lead_id, "reassign") == []
    assert env.outbox_count(lead_id) == rows

    # once released, there is nothing to reassign: not in the modal, not at the button
    env.press(Action.RELEASE, lead_id, ts, REP1, "release")
    eventually(lambda: env.lead(lead_id).status == LeadStatus.POSTED)
    not_owned = t("reassign.error.not_owned", status=t("lead_status.posted"))
    assert errors_of(submit(env, lead_id, MANAGER, form(REP2))) == {rep: not_owned}
    assert env.press_answered(Action.REASSIGN, lead_id, ts, MANAGER, "unowned") == [not_owned]
    assert env.fake.calls_to("views.open") == []
    assert env.lead(lead_id).owner_id is None


def test_the_new_owners_open_lead_cap_is_respected(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    capped = start(fake_slack, db, with_reps(policy, max_open=1), clock)
    try:
        first, _ = claimed(capped, "cap-1", REP1)
        claimed(capped, "cap-2", REP2)
        assert errors_of(submit(capped, first, MANAGER, form(REP2))) == {
            ReassignBlock.REP.value: capped.services.t(
                "reassign.error.open_lead_limit", count=1, limit=1
            )
        }
        assert capped.lead(first).owner_id == REP1
        assert capped.events(first, "reassign") == []
    finally:
        capped.bot.stop()


def test_a_reassignment_refused_after_the_check_is_told_to_the_manager(group_env: Env) -> None:
    env, t = group_env, group_env.services.t
    lead_id, _ = claimed(env)
    lookups = hold_the_second_role_lookup(env)

    response = submit(env, lead_id, MANAGER, form(REP2, "coverage"))
    assert response.status == 200 and "errors" not in response.body  # the check passed
    env.fake.wait_for_arrival("usergroups.users.list", lookups + 2)
    release(another_process(env), lead_id, REP1)  # meanwhile, the owner lets it go
    eventually(lambda: len(refusal_keys(env)) == 1, timeout=10)
    env.drain()

    lead = env.lead(lead_id)
    assert (lead.status, lead.owner_id) == (LeadStatus.POSTED, None)
    assert env.events(lead_id, "reassign") == [] and env.fake.dms(REP2) == []
    reason = t("reassign.error.not_owned", status=t("lead_status.posted"))
    assert env.fake.dms(MANAGER)[-1]["text"] == t("reassign.refused_dm", name="Sato Hanako",
                                                  reason=reason)
