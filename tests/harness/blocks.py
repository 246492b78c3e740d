"""Reading what the bot sent: a message's blocks as text, its buttons, every text object."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def shown(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def action_ids(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions"
            for e in b["elements"]]


def text_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every Block Kit text object in the payload."""
    if isinstance(node, dict):
        if node.get("type") in {"plain_text", "mrkdwn"} and "text" in node:
            yield node
        for value in node.values():
            yield from text_objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from text_objects(item)
