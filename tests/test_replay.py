"""A captured signed modal submission, replayed within Slack's 5 minutes, changes nothing.

Every request here is the identical signed request (same body, same signature headers) sent
again, as someone who captured it would; the bot answers it like the first one (an empty 200
that closes the modal) and acts on it once, on both databases.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any
from urllib.parse import parse_qs

import pytest

from bot.ids import Callback, MqlBlock
from bot.submissions import already_handled
from handlers.payloads import submission_key
from storage.models import LeadStatus
from tests.harness import (
    HttpResponse,
    http_post,
    plain_text_input,
    slack_signature_headers,
    state_values,
)
from tests.harness.bot_env import Env, claimed
from tests.harness.decisions import convert_values, owned, recycle_values
from tests.harness.people import CHANNEL, MANAGER, MARKETER, REP1, REP2
from tests.harness.reassign import form as reassign_form
from tests.harness.touch import form as touch_form
from tests.harness.touch import touches
from tests.harness.waiting import eventually


@pytest.fixture
def env(any_env: Env) -> Env:
    """The bot on each kind of database."""
    return any_env


class Captured:
    """One signed submission, as it went over the wire: sent again byte for byte."""

    def __init__(self, env: Env, callback: Callback, lead_id: int | None, user: str,
                 values: dict[str, Any], view_id: str = "V1") -> None:
        self.env = env
        self.body, content_type = env.slack.build_view_submission(
            callback.value, values, user_id=user,
            private_metadata="" if lead_id is None else str(lead_id), view_id=view_id)
        self.headers = slack_signature_headers(self.body, env.slack.signing_secret,
                                               content_type=content_type)

    @property
    def key(self) -> str | None:
        """The submission's key, as the bot computes it from the view."""
        view = json.loads(parse_qs(self.body)["payload"][0])["view"]
        return submission_key(view)

    def send(self) -> HttpResponse:
        response = http_post(self.env.slack.events_url, self.body, dict(self.headers))
        assert response.status == 200 and response.body in ("", b""), response.body
        return response


def settled(env: Env) -> None:
    """Every listener started by the requests so far has finished (a replay starts none)."""
    eventually(lambda: env.bot.ack_first.listeners == 0)
    env.drain()


def thread_replies(env: Env, ts: str) -> list[str]:
    return [reply["text"] for reply in env.fake.thread(CHANNEL, ts)]


def test_a_replayed_log_touch_records_one_touch_and_one_thread_reply(env: Env) -> None:
    lead_id, ts = claimed(env)
    captured = Captured(env, Callback.TOUCH_MODAL, lead_id, REP1, touch_form())
    captured.send()
    eventually(lambda: len(touches(env, lead_id)) == 1)
    settled(env)
    replies, rows = thread_replies(env, ts), env.outbox_count(lead_id)

    captured.send()
    captured.send()
    settled(env)
    assert len(touches(env, lead_id)) == 1
    assert env.lead(lead_id).touch_count == 1
    assert len(env.events(lead_id, "touch")) == 1
    assert thread_replies(env, ts) == replies
    assert env.outbox_count(lead_id) == rows


def test_other_submissions_still_count(env: Env) -> None:
    """Corrected after an error, or the modal opened again (a new view id): real touches."""
    lead_id, _ = claimed(env)
    refused = Captured(env, Callback.TOUCH_MODAL, lead_id, REP1, touch_form(kind=None))
    answer = http_post(env.slack.events_url, refused.body, dict(refused.headers)).json()
    assert answer["response_action"] == "errors"
    Captured(env, Callback.TOUCH_MODAL, lead_id, REP1, touch_form()).send()  # same view, fixed
    eventually(lambda: len(touches(env, lead_id)) == 1)
    Captured(env, Callback.TOUCH_MODAL, lead_id, REP1, touch_form(), view_id="V2").send()
    eventually(lambda: len(touches(env, lead_id)) == 2)
    settled(env)
    assert env.lead(lead_id).touch_count == 2


def test_concurrent_replays_record_one_touch(env: Env) -> None:
    lead_id, _ = claimed(env)
    captured = Captured(env, Callback.TOUCH_MODAL, lead_id, REP1, touch_form())
    start = threading.Barrier(4)

    def replay() -> None:
        start.wait(5)
        captured.send()

    threads = [threading.Thread(target=replay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    eventually(lambda: len(touches(env, lead_id)) >= 1)
    settled(env)
    assert len(touches(env, lead_id)) == 1
    assert len(env.events(lead_id, "touch")) == 1


@pytest.mark.parametrize("decision", ["convert", "recycle"])
def test_a_replayed_decision_is_answered_and_decides_nothing_again(
    env: Env, decision: str
) -> None:
    lead_id, ts = owned(env, touches=5)
    if decision == "convert":
        captured = Captured(env, Callback.CONVERT_MODAL, lead_id, REP1, convert_values())
    else:
        captured = Captured(env, Callback.RECYCLE_MODAL, lead_id, REP1,
                            recycle_values(with_fewer=False))
    captured.send()
    settled(env)
    lead = env.lead(lead_id)
    assert lead.status == (LeadStatus.CONVERTED if decision == "convert" else
                           LeadStatus.RECYCLED)
    replies, posts = thread_replies(env, ts), len(env.fake.calls_to("chat.postMessage"))

    captured.send()  # an empty 200, not "already decided": the modal closes as the first time
    settled(env)
    assert len(env.events(lead_id, decision)) == 1
    assert env.lead(lead_id).decided_at == lead.decided_at
    assert thread_replies(env, ts) == replies
    assert len(env.fake.calls_to("chat.postMessage")) == posts


def test_a_replayed_reassignment_is_answered_and_changes_nothing(env: Env) -> None:
    lead_id, ts = claimed(env)
    captured = Captured(env, Callback.REASSIGN_MODAL, lead_id, MANAGER,
                        reassign_form(REP2, "on leave"))
    captured.send()
    eventually(lambda: env.lead(lead_id).owner_id == REP2)
    settled(env)
    replies, claimed_at = thread_replies(env, ts), env.lead(lead_id).claimed_at

    captured.send()  # not "already the owner": answered as the first one was
    settled(env)
    assert len(env.events(lead_id, "reassign")) == 1
    assert env.lead(lead_id).claimed_at == claimed_at
    assert thread_replies(env, ts) == replies


def handed_off(env: Env, view_id: str = "V1") -> int | None:
    """The id of the lead the MQL modal ``view_id`` handed off, once its DM is queued."""
    with env.services.unit_of_work() as uow:
        lead = uow.leads.by_external_id(f"slack:{view_id}")
        dm = uow.outbox.by_key(f"mql-modal:{view_id}")
        return lead.id if lead is not None and dm is not None else None


def test_a_replayed_mql_handoff_is_answered_and_reaches_no_listener(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """The hand-off records its key with the lead, so a replay stops before the listener: no
    role lookup, no intake, no outcome DM; one lead per view stays the intake's own rule."""
    values = state_values(plain_text_input(MqlBlock.NAME, MqlBlock.NAME, "Sato Hanako"))
    captured = Captured(env, Callback.MQL_MODAL, None, MARKETER, values)
    captured.send()
    lead_id = eventually(lambda: handed_off(env))
    settled(env)
    assert captured.key is not None and already_handled(env.services.uow, captured.key)
    rows, dms = env.outbox_count(lead_id), len(env.fake.dms(MARKETER))

    with caplog.at_level(logging.WARNING, logger="handlers.app"):
        captured.send()
        captured.send()
        settled(env)
    assert caplog.text.count("already acted on came again") == 2
    assert env.outbox_count(lead_id) == rows
    assert len(env.fake.dms(MARKETER)) == dms


def test_the_key_is_recorded_with_the_effect_and_only_with_it(env: Env) -> None:
    """Services: a second call with the same key does nothing; a refused one records none."""
    from bot.decisions import BANT, convert
    from bot.errors import NotClaimed
    from bot.submissions import already_handled
    from bot.workflow import log_touch

    lead_id, _ = claimed(env)
    first = log_touch(env.services, lead_id, REP1, kind="call", outcome="connected", note=None,
                      submission="view:k1")
    assert first is not None and already_handled(env.services.uow, "view:k1")
    assert log_touch(env.services, lead_id, REP1, kind="call", outcome="connected", note=None,
                     submission="view:k1") is None
    assert len(touches(env, lead_id)) == 1

    unowned, _ = env.posted("hubspot-other")
    with pytest.raises(NotClaimed):
        convert(env.services, unowned, REP1, bant=BANT, submission="view:k2")
    assert not already_handled(env.services.uow, "view:k2")
