"""Every slash command, action id, callback id and block id, named once.

Views and handlers both import these, so a renamed button cannot silently stop working;
a test checks ``manifest.yml`` declares exactly the commands listed here.
"""

from __future__ import annotations

from enum import StrEnum


class Command(StrEnum):
    SLA_STATUS = "/sla-status"
