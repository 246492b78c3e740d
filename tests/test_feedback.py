"""Thread replies kept as feedback, end to end: signed ``message`` events to the running bot,
on SQLite and PostgreSQL.

What matters to people: a marketer's question and a rep's answer under a lead are kept on
that lead (also under the bot's posts in the marketing channel); bots, our own posts and
top-level chatter are not; an edit replaces the words and a delete forgets them; and Slack's
redeliveries — one after another or ten at once — never store a reply twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from threading import Barrier, Thread
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy import text as sql

from bot.feedback import PROCESSED_EVENT_TTL, prune_processed_events
from bot.lead_messages import queue_call
from storage.models import Feedback, ProcessedEvent
from tests.harness.bot_env import Env, claim_by
from tests.harness.feedback import deliver, new_event_id, new_ts, reply, settle
from tests.harness.people import CHANNEL, MARKETER, MARKETING, REP1

OTHER_BOT = "B0000OTHER"


@pytest.fixture
def fenv(any_env: Env) -> Env:
    """The bot on each kind of database."""
    return any_env


# ------------------------------------------------------------------------------ helpers


def edited(original: dict[str, Any], text: str) -> dict[str, Any]:
    """The ``message_changed`` event of an edit to ``original``."""
    at = new_ts()
    message = {k: v for k, v in original.items() if k not in ("channel", "event_ts")}
    message.update(text=text, edited={"user": original.get("user"), "ts": at})
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": original["channel"],
        "ts": at,
        "message": message,
        "previous_message": {k: v for k, v in original.items() if k != "channel"},
        "channel_type": "channel",
    }


def deleted(original: dict[str, Any]) -> dict[str, Any]:
    """The ``message_deleted`` event of ``original``."""
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": original["channel"],
        "ts": new_ts(),
        "deleted_ts": original["ts"],
        "previous_message": {k: v for k, v in original.items() if k != "channel"},
        "channel_type": "channel",
    }


def feedback(env: Env, lead_id: int | None = None) -> list[Feedback]:
    with env.services.unit_of_work() as uow:
        query = select(Feedback).order_by(Feedback.id)
        if lead_id is not None:
            query = query.where(Feedback.lead_id == lead_id)
        rows = list(uow.session.scalars(query))
        uow.session.expunge_all()
        return rows


def processed(env: Env) -> list[str]:
    with env.services.unit_of_work() as uow:
        return list(uow.session.scalars(select(ProcessedEvent.event_id)))


def posted_calls(env: Env) -> int:
    return len(env.fake.calls_to("chat.postMessage")) + len(env.fake.calls_to("chat.update"))


def post_to_marketing(env: Env, lead_id: int, key: str) -> str:
    """A bot post about the lead in the marketing channel (as a recycle notice would be),
    sent through the outbox; returns its ts."""
    with env.services.unit_of_work() as uow:
        lead = uow.leads.get(lead_id)
        queue_call(env.services, uow, lead, key, "chat.postMessage",
                   {"channel": MARKETING, "text": "Recycled: no budget this year"})
        uow.commit()
    env.drain()
    return str(env.fake.messages(MARKETING)[-1]["ts"])


# ------------------------------------------------------------------------------ replies


def test_a_marketers_reply_and_a_reps_answer_are_kept_on_the_lead(fenv: Env) -> None:
    lead_id, ts = fenv.posted()
    before = posted_calls(fenv)
    question = reply(CHANNEL, ts, MARKETER, "Did they mention the <!channel> webinar?")
    answer = reply(CHANNEL, ts, REP1, "Yes — booked a demo 来週")

    deliver(fenv, question)
    deliver(fenv, answer)

    rows = feedback(fenv, lead_id)
    assert [(r.author_id, r.text, r.channel_id, r.ts, r.thread_ts) for r in rows] == [
        (MARKETER, "Did they mention the <!channel> webinar?", CHANNEL, question["ts"], ts),
        (REP1, "Yes — booked a demo 来週", CHANNEL, answer["ts"], ts),
    ]
    assert all(r.at == fenv.clock.now() and r.edited_at is None and r.deleted_at is None
               for r in rows)
    assert posted_calls(fenv) == before  # kept quietly: nobody is pinged


def test_a_broadcast_reply_counts_as_a_reply(fenv: Env) -> None:
    lead_id, ts = fenv.posted()
    deliver(fenv, reply(CHANNEL, ts, MARKETER, "Also sent to channel",
                        subtype="thread_broadcast"))
    assert [r.text for r in feedback(fenv, lead_id)] == ["Also sent to channel"]


def test_a_reply_under_the_marketing_channel_post_is_kept_on_that_lead(fenv: Env) -> None:
    first, _ = fenv.posted("hubspot-1")
    second, _ = fenv.posted("hubspot-2")
    notice_ts = post_to_marketing(fenv, second, f"recycle:{second}:test:marketing")

    deliver(fenv, reply(MARKETING, notice_ts, MARKETER, "Which budget cycle?"))
    # the same ts in another channel is another message: not a thread we know
    deliver(fenv, reply("C0000ELSE", notice_ts, MARKETER, "Unrelated"))

    assert feedback(fenv, first) == []
    (row,) = feedback(fenv)
    assert (row.lead_id, row.channel_id, row.thread_ts, row.text) == (
        second, MARKETING, notice_ts, "Which budget cycle?"
    )


# ------------------------------------------------------------------------------ ignored


def test_messages_by_other_bots_in_the_thread_are_ignored(fenv: Env) -> None:
    lead_id, ts = fenv.posted()
    deliver(fenv, reply(CHANNEL, ts, "", "CRM sync done", subtype="bot_message",
                        bot_id=OTHER_BOT, username="crm"))
    deliver(fenv, reply(CHANNEL, ts, "U0000APPBOT", "Workflow step", bot_id=OTHER_BOT,
                        app_id="A0000OTHER", bot_profile={"id": OTHER_BOT}))
    deliver(fenv, reply(CHANNEL, ts, "U0000APPBOT", "Posted by an app", app_id="A0000OTHER"))
    deliver(fenv, reply(CHANNEL, ts, MARKETER, "A person"))
    assert [r.text for r in feedback(fenv, lead_id)] == ["A person"]


def test_our_own_posts_in_the_thread_are_ignored(fenv: Env) -> None:
    lead_id, ts = fenv.posted()
    claim_by(fenv, lead_id, ts, REP1)
    (ours,) = fenv.fake.thread(CHANNEL, ts)  # the claim notice, as Slack stores it
    assert ours.get("bot_id")
    event = {k: v for k, v in ours.items() if not k.startswith("_")} | {"channel": CHANNEL}
    deliver(fenv, event)
    # without bot_id or app_id, our bot user (from the event's authorizations) is still us
    deliver(fenv, reply(CHANNEL, ts, fenv.slack.bot_user_id, "Reminder: unclaimed"))
    # an edit of our own post is not an edit of feedback either
    deliver(fenv, edited(event, "changed"))
    assert feedback(fenv) == []
    assert processed(fenv) == []


def test_top_level_messages_and_other_threads_are_ignored(fenv: Env) -> None:
    _, ts = fenv.posted()
    deliver(fenv, reply(CHANNEL, None, MARKETER, "Morning all"))
    deliver(fenv, reply(CHANNEL, "1795000000.999999", MARKETER, "In another thread"))
    deliver(fenv, reply(CHANNEL, ts, MARKETER, "the parent itself", ts=ts))
    deliver(fenv, reply(CHANNEL, ts, MARKETER, "", subtype="channel_join"))
    deliver(fenv, reply(CHANNEL, ts, MARKETER, "", subtype="thread_reply_without_type"))
    assert feedback(fenv) == []
    assert processed(fenv) == []


# ------------------------------------------------------------------------------ edits, deletes


def test_an_edit_replaces_the_stored_text(fenv: Env) -> None:
    lead_id, ts = fenv.posted()
    original = reply(CHANNEL, ts, MARKETER, "They use Salesforse")
    deliver(fenv, original)
    fenv.clock.advance(timedelta(minutes=3))

    deliver(fenv, edited(original, "They use Salesforce"))

    (row,) = feedback(fenv, lead_id)
    assert (row.text, row.ts, row.author_id) == ("They use Salesforce", original["ts"], MARKETER)
    assert row.edited_at == fenv.clock.now() and row.at == fenv.clock.now() - timedelta(minutes=3)


def test_a_retried_older_edit_does_not_undo_a_newer_one(fenv: Env) -> None:
    lead_id, ts = fenv.posted()
    original = reply(CHANNEL, ts, MARKETER, "v1")
    deliver(fenv, original)
    first_edit, first_id = edited(original, "v2"), new_event_id()
    deliver(fenv, first_edit, first_id)
    deliver(fenv, edited(original, "v3"))
    deliver(fenv, first_edit, first_id, retry_num=1)  # Slack redelivers the first edit
    assert [r.text for r in feedback(fenv, lead_id)] == ["v3"]


def test_a_delete_forgets_the_text_for_good(fenv: Env) -> None:
    lead_id, ts = fenv.posted()
    original = reply(CHANNEL, ts, MARKETER, "Call me on +81-90-0000-0000")
    original_id = new_event_id()
    deliver(fenv, original, original_id)
    fenv.clock.advance(timedelta(minutes=1))

    deliver(fenv, deleted(original))

    (row,) = feedback(fenv, lead_id)
    assert row.text == "" and row.deleted_at == fenv.clock.now()
    # neither a late redelivery of the original (same or new event id) nor an edit revives it
    deliver(fenv, original, original_id, retry_num=3)
    deliver(fenv, original)
    deliver(fenv, edited(original, "Call me on +81-90-1111-1111"))
    (row,) = feedback(fenv, lead_id)
    assert row.text == "" and row.deleted_at is not None and row.edited_at is None


def test_edits_and_deletes_of_messages_never_stored_are_ignored(fenv: Env) -> None:
    _, ts = fenv.posted()
    top_level = reply(CHANNEL, None, MARKETER, "Morning all")
    unseen = reply(CHANNEL, ts, MARKETER, "Missed while we were down")
    deliver(fenv, edited(top_level, "Morning, all"))
    deliver(fenv, edited(unseen, "edited"))
    deliver(fenv, deleted(unseen))
    assert feedback(fenv) == []
    assert processed(fenv) == []


# ------------------------------------------------------------------------------ redelivery


def test_slack_retries_of_one_event_store_one_reply(fenv: Env) -> None:
    lead_id, ts = fenv.posted()
    event, event_id = reply(CHANNEL, ts, MARKETER, "Is the budget confirmed?"), new_event_id()
    deliver(fenv, event, event_id)
    for retry in (1, 2, 3):
        deliver(fenv, event, event_id, retry_num=retry)
    assert [r.text for r in feedback(fenv, lead_id)] == ["Is the budget confirmed?"]
    assert processed(fenv) == [event_id]


def test_ten_concurrent_deliveries_of_one_event_store_one_reply(
    fenv: Env, caplog: pytest.LogCaptureFixture
) -> None:
    lead_id, ts = fenv.posted()
    event, event_id = reply(CHANNEL, ts, MARKETER, "Any news?"), new_event_id()
    body, content_type = fenv.slack.build_event(event, event_id=event_id)
    barrier = Barrier(10)
    statuses: list[int] = []

    def send(retry: int) -> None:
        barrier.wait()
        headers = {"X-Slack-Retry-Num": str(retry)} if retry else None
        statuses.append(fenv.slack.send(body, content_type, extra_headers=headers).status)

    with caplog.at_level(logging.INFO):
        senders = [Thread(target=send, args=(i % 4,)) for i in range(10)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(30)
        settle(fenv)

    assert statuses == [200] * 10
    (row,) = feedback(fenv, lead_id)
    assert row.text == "Any news?"
    assert processed(fenv) == [event_id]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Any news?" not in caplog.text and MARKETER not in caplog.text  # ids only


# ------------------------------------------------------------------------------ pruning


def test_processed_event_ids_are_pruned_after_a_few_days(fenv: Env) -> None:
    _, ts = fenv.posted()
    old_id = new_event_id()
    deliver(fenv, reply(CHANNEL, ts, MARKETER, "old"), old_id)
    fenv.clock.advance(PROCESSED_EVENT_TTL - timedelta(hours=1))
    recent_id = new_event_id()
    deliver(fenv, reply(CHANNEL, ts, MARKETER, "recent"), recent_id)
    fenv.clock.advance(timedelta(hours=2))

    assert prune_processed_events(fenv.services) == 1
    assert processed(fenv) == [recent_id]
    assert prune_processed_events(fenv.services) == 0
    # as a scheduler sweep step, with the sweep's ``now``
    assert prune_processed_events(fenv.services, fenv.clock.now() + timedelta(days=3)) == 1
    assert processed(fenv) == []
    with fenv.services.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Feedback)) == 2


def test_a_database_failure_is_logged_without_the_reply(
    fenv: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """A database error quotes the statement's parameters; the log must not."""
    _, ts = fenv.posted()
    with fenv.services.engine.begin() as connection:
        connection.execute(sql("DROP TABLE feedback"))
    with caplog.at_level(logging.INFO):
        deliver(fenv, reply(CHANNEL, ts, MARKETER, "My number is 090-0000-0000"))
    assert "FeedbackNotRecorded" in caplog.text  # it was reported...
    assert "090-0000-0000" not in caplog.text and MARKETER not in caplog.text  # ...by ids only
    assert processed(fenv) == []  # rolled back: a redelivery may still store it
