"""The Details modal as a reader opens it, and Slack's limits for any modal."""

from __future__ import annotations

from typing import Any

from bot.ids import Action, Callback
from tests.harness.bot_env import Env


def open_details(env: Env, lead_id: int, ts: str, user: str, name: str = "details",
                 count: int = 1) -> dict[str, Any]:
    """Press Details as ``user`` and return the modal Slack was asked to open."""
    assert env.press(Action.DETAILS, lead_id, ts, user, name).status == 200
    calls = env.fake.wait_for("views.open", count)
    view = calls[count - 1].args["view"]
    assert view["callback_id"] == Callback.DETAILS_MODAL.value
    return view


def utf16(text: str) -> int:
    """A text's length as Slack counts it."""
    return len(text.encode("utf-16-le")) // 2


def assert_within_modal_limits(view: dict[str, Any]) -> None:
    """Slack's documented limits for a modal: the whole view is refused beyond any of them."""
    assert view["type"] == "modal"
    assert len(view["blocks"]) <= 100
    assert utf16(view["title"]["text"]) <= 24 and utf16(view["close"]["text"]) <= 24
    assert "submit" not in view  # read-only: nothing to submit
    for block in view["blocks"]:
        if block["type"] == "header":
            assert utf16(block["text"]["text"]) <= 150
        if block["type"] == "section":
            if "text" in block:
                assert 0 < utf16(block["text"]["text"]) <= 3000
            fields = block.get("fields", [])
            assert len(fields) <= 10
            assert all(0 < utf16(f["text"]) <= 2000 for f in fields)
