"""Convert and Recycle as a rep does them: owned leads, the modals' filled-in forms, their
signed submissions, and what marketing is told."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.ids import Callback, ConvertBlock, RecycleBlock
from bot.workflow import log_touch
from tests.harness import (
    HttpResponse,
    checkboxes,
    number_input,
    plain_text_input,
    state_values,
    static_select,
)
from tests.harness.bot_env import Env, claim_by
from tests.harness.people import CHANNEL, MARKETING, REP1

BANT = ["budget", "authority", "need", "timeline"]


def convert_values(bant: list[str] | None = None, amount: str | None = "1200000",
                   note: str | None = "Budget approved in Q1") -> dict[str, Any]:
    return state_values(
        checkboxes(ConvertBlock.BANT.value, ConvertBlock.BANT.value,
                   BANT if bant is None else bant),
        number_input(ConvertBlock.AMOUNT.value, ConvertBlock.AMOUNT.value, amount),
        plain_text_input(ConvertBlock.NOTE.value, ConvertBlock.NOTE.value, note),
    )


def recycle_values(reason: str | None = "no_budget", note: str | None = "Budget frozen",
                   fewer: str | None = None, with_fewer: bool = True) -> dict[str, Any]:
    entries = [
        static_select(RecycleBlock.REASON.value, RecycleBlock.REASON.value, reason),
        plain_text_input(RecycleBlock.NOTE.value, RecycleBlock.NOTE.value, note),
    ]
    if with_fewer:
        entries.append(plain_text_input(RecycleBlock.FEWER_TOUCHES.value,
                                        RecycleBlock.FEWER_TOUCHES.value, fewer))
    return state_values(*entries)


def submit(env: Env, callback: Callback, lead_id: int | str, user: str,
           values: dict[str, Any], view_id: str = "V1") -> HttpResponse:
    return env.slack.view_submission(callback.value, values, user_id=user,
                                     private_metadata=str(lead_id), view_id=view_id)


def accepted(response: HttpResponse) -> None:
    """The modal closes: an empty ack, nothing to show."""
    assert response.status == 200
    assert "errors" not in response.body, response.body


def owned(env: Env, touches: int = 0, external_id: str = "hubspot-20391") -> tuple[int, str]:
    """A lead claimed by REP1 with ``touches`` calls logged, 30 minutes apart."""
    lead_id, ts = env.posted(external_id)
    claim_by(env, lead_id, ts, REP1)
    for _ in range(touches):
        env.clock.advance(timedelta(minutes=30))
        log_touch(env.services, lead_id, REP1, kind="call", outcome="no_answer", note=None)
    env.drain()
    return lead_id, ts


def marketing(env: Env) -> list[dict[str, Any]]:
    return env.fake.messages(MARKETING)


def link(ts: str) -> str:
    return f"https://slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"
