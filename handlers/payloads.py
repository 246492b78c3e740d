"""Reading what a client sends back to us: button values and modal ``private_metadata``.

Both only *name* a lead; a client can send anything, so the id is parsed in one place and
everything else is re-checked against the database by the services.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from bot.errors import NotFound, UnknownProposal

#: ASCII digits only: ``str.isdigit`` is true for "²" and "١", which ``int`` refuses or reads
_ID = re.compile(r"[0-9]{1,10}")
#: ``leads.id`` is a 32-bit integer on PostgreSQL; a larger value would fail the query
MAX_LEAD_ID = 2**31 - 1
#: ``processed_events`` keys are at most 64 characters
SUBMISSION_KEY_PREFIX = "view:"


def lead_id(value: object, where: str = "button value") -> int:
    """The lead id in ``value``; anything that is not an id is treated as a vanished lead.

    The refusal names where the bad id was, not what it was: the value is the client's text.
    """
    text = value if isinstance(value, str) else str(value) if isinstance(value, int) else ""
    if not _ID.fullmatch(text) or int(text) > MAX_LEAD_ID:
        raise NotFound(f"bad lead id in {where}")
    return int(text)


def version_id(value: object, where: str = "button value") -> int:
    """The agreement version id in ``value``, parsed like a lead id; anything else is a
    proposal this bot never recorded."""
    text = value if isinstance(value, str) else ""
    if not _ID.fullmatch(text) or int(text) > MAX_LEAD_ID:
        raise UnknownProposal(f"bad version id in {where}")
    return int(text)


def submission_key(view: dict[str, Any]) -> str | None:
    """One key per submission of one modal: the view's id and hash and what was submitted.

    A replay of the same signed request has the same key; Slack sends one submission per
    press of Submit, and a corrected submission (after ``response_action: errors``) or a
    modal opened again (a new view id) has another. None when the view has no id.
    """
    view_id = view.get("id")
    if not isinstance(view_id, str) or not view_id:
        return None
    values = (view.get("state") or {}).get("values") or {}
    submitted = json.dumps([view_id, str(view.get("hash") or ""), values], sort_keys=True,
                           ensure_ascii=False, separators=(",", ":"), default=str)
    digest = hashlib.sha256(submitted.encode()).hexdigest()
    return SUBMISSION_KEY_PREFIX + digest[: 64 - len(SUBMISSION_KEY_PREFIX)]


#: what the agreement modal's ``private_metadata`` may name (``bot.views.agreement``)
MAX_AGREEMENT_PAGE = 1000


def agreement_page(metadata: object) -> tuple[int, int] | None:
    """The version (0: none stored when opened) and page the agreement modal shows, from its
    ``private_metadata``; None for anything the bot did not write there."""
    if not isinstance(metadata, str) or len(metadata) > 200:
        return None
    try:
        data = json.loads(metadata)
    except ValueError:
        return None
    if not isinstance(data, dict) or set(data) != {"version", "page"}:
        return None
    version, page = data["version"], data["page"]
    if not all(type(v) is int for v in (version, page)):  # bool is an int: refused too
        return None
    if not (0 <= version <= MAX_LEAD_ID and 0 <= page < MAX_AGREEMENT_PAGE):
        return None
    return version, page


def agreement_version(value: object) -> int:
    """The version a button names (``0``: the one in effect); a forged value is refused."""
    text = value if isinstance(value, str) else ""
    if not _ID.fullmatch(text) or int(text) > MAX_LEAD_ID:
        raise NotFound("bad agreement version in button value")
    return int(text)
