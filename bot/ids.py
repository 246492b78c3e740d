"""Every slash command, action id, callback id and block id, named once.

Views and handlers both import these, so a renamed button cannot silently stop working;
a test checks ``manifest.yml`` declares exactly the commands listed here.
"""

from __future__ import annotations

from enum import StrEnum


class Command(StrEnum):
    SLA_STATUS = "/sla-status"


class Action(StrEnum):
    """``action_id`` of interactive elements; the listener for each is registered by value."""

    CLAIM = "lead.claim"


class Block(StrEnum):
    """``block_id`` of blocks that handlers read back (e.g. from ``state.values``)."""

    HANDOFF_ACTIONS = "handoff.actions"
