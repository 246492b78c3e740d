"""Reassign as a manager does it: the modal's filled-in form."""

from __future__ import annotations

from typing import Any

from bot.ids import ReassignBlock
from tests.harness import plain_text_input, state_values, users_select


def form(rep: str | None, reason: str | None = None) -> dict[str, Any]:
    return state_values(
        users_select(ReassignBlock.REP.value, ReassignBlock.REP.value, rep),
        plain_text_input(ReassignBlock.REASON.value, ReassignBlock.REASON.value, reason),
    )
