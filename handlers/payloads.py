"""Reading what a client sends back to us: button values and modal ``private_metadata``.

Both only *name* a lead; a client can send anything, so the id is parsed in one place and
everything else is re-checked against the database by the services.
"""

from __future__ import annotations

import re

from bot.errors import NotFound

#: ASCII digits only: ``str.isdigit`` is true for "²" and "١", which ``int`` refuses or reads
_ID = re.compile(r"[0-9]{1,10}")
#: ``leads.id`` is a 32-bit integer on PostgreSQL; a larger value would fail the query
MAX_LEAD_ID = 2**31 - 1


def lead_id(value: object, where: str = "button value") -> int:
    """The lead id in ``value``; anything that is not an id is treated as a vanished lead.

    The refusal names where the bad id was, not what it was: the value is the client's text.
    """
    text = value if isinstance(value, str) else str(value) if isinstance(value, int) else ""
    if not _ID.fullmatch(text) or int(text) > MAX_LEAD_ID:
        raise NotFound(f"bad lead id in {where}")
    return int(text)
