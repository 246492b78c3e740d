"""The key of a modal submission, from what the client sent back.

What button values and ``private_metadata`` name is typed in ``bot.action_payloads``; this is
the one thing read from a submission as a whole: its key, so a replay is acted on once
(``bot.submissions``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: ``processed_events`` keys are at most 64 characters
SUBMISSION_KEY_PREFIX = "view:"


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
