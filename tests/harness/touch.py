"""Log touch as a rep does it: the modal's filled-in form, its signed submission, the rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.ids import Callback, TouchBlock
from storage.models import Touch
from tests.harness import HttpResponse, plain_text_input, state_values, static_select
from tests.harness.bot_env import Env


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
