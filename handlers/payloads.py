"""Reading what a client sends back to us: button values and modal ``private_metadata``.

Both only *name* a lead; a client can send anything, so the id is parsed in one place and
everything else is re-checked against the database by the services.
"""

from __future__ import annotations

from bot.errors import NotFound


def lead_id(value: object, where: str = "button value") -> int:
    """The lead id in ``value``; anything that is not an id is treated as a vanished lead."""
    text = str(value or "")
    if not text.isdigit():
        raise NotFound(f"bad lead id in {where}: {text[:40]!r}")
    return int(text)
