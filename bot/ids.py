"""Every slash command, action id, callback id and block id, named once.

Views and handlers both import these, so a renamed button cannot silently stop working;
a test checks ``manifest.yml`` declares exactly the commands listed here.
"""

from __future__ import annotations

from enum import StrEnum


class Command(StrEnum):
    SLA_STATUS = "/sla-status"
    MQL = "/mql"
    SLA_AGREEMENT = "/sla-agreement"


class Action(StrEnum):
    """``action_id`` of interactive elements; the listener for each is registered by value."""

    CLAIM = "lead.claim"
    RELEASE = "lead.release"
    LOG_TOUCH = "lead.log_touch"
    CONVERT = "lead.convert"
    RECYCLE = "lead.recycle"
    REASSIGN = "lead.reassign"  # managers only
    DETAILS = "lead.details"  # anyone: the whole history, read-only
    SNOOZE = "notice.snooze"  # on a reminder DM: remind me again later (not past the deadline)
    # on an agreement proposal (SPEC 9): approvers of each side; Withdraw: its proposer
    PROPOSAL_APPROVE = "agreement.approve"
    PROPOSAL_REQUEST_CHANGES = "agreement.request_changes"
    PROPOSAL_WITHDRAW = "agreement.withdraw"
    AGREEMENT_OPEN = "agreement.open"  # anyone: the whole agreement in a modal
    AGREEMENT_PREVIOUS = "agreement.previous"  # the modal's pages
    AGREEMENT_NEXT = "agreement.next"


class Block(StrEnum):
    """``block_id`` of blocks that handlers read back (e.g. from ``state.values``)."""

    HANDOFF_ACTIONS = "handoff.actions"


class Shortcut(StrEnum):
    """``callback_id`` of global shortcuts (declared in ``manifest.yml``)."""

    MQL_HANDOFF = "mql.handoff"


class Callback(StrEnum):
    """``callback_id`` of modals, so a submission finds its listener."""

    MQL_MODAL = "mql.modal"
    MQL_REFUSED = "mql.refused"
    TOUCH_MODAL = "touch.modal"
    CONVERT_MODAL = "convert.modal"
    RECYCLE_MODAL = "recycle.modal"
    REASSIGN_MODAL = "reassign.modal"
    DETAILS_MODAL = "details.modal"
    PROPOSAL_CHANGES_MODAL = "agreement.changes.modal"
    AGREEMENT_MODAL = "agreement.modal"


class MqlBlock(StrEnum):
    """``block_id`` of the MQL hand-off modal's inputs; each input's ``action_id`` is the same.

    The behaviour rows repeat: ``row(MqlBlock.ACTIVITY_TYPE, 1)`` is the first row's type.
    """

    NAME = "mql.name"
    EMAIL = "mql.email"
    TITLE = "mql.title"
    PHONE = "mql.phone"
    COMPANY = "mql.company"
    INDUSTRY = "mql.industry"
    EMPLOYEES = "mql.employees"
    SCORE = "mql.score"
    SOURCE = "mql.source"
    ACTIVITY_TYPE = "mql.activity.type"
    ACTIVITY_DATE = "mql.activity.date"
    ACTIVITY_DETAIL = "mql.activity.detail"
    NOTE = "mql.note"


class TouchBlock(StrEnum):
    """``block_id`` of the Log touch modal's inputs; each input's ``action_id`` is the same."""

    KIND = "touch.kind"
    OUTCOME = "touch.outcome"
    NOTE = "touch.note"


class ConvertBlock(StrEnum):
    """``block_id`` of the Convert to SQL modal's inputs; each input's ``action_id`` is the same."""

    BANT = "convert.bant"
    AMOUNT = "convert.amount"
    NOTE = "convert.note"


class RecycleBlock(StrEnum):
    """``block_id`` of the Recycle modal's inputs; each input's ``action_id`` is the same."""

    REASON = "recycle.reason"
    NOTE = "recycle.note"
    FEWER_TOUCHES = "recycle.fewer_touches"


class ReassignBlock(StrEnum):
    """``block_id`` of the Reassign modal's inputs; each input's ``action_id`` is the same."""

    REP = "reassign.rep"
    REASON = "reassign.reason"


class ProposalBlock(StrEnum):
    """``block_id`` of the Request changes modal's input; its ``action_id`` is the same."""

    COMMENT = "agreement.changes.comment"


def row(block: StrEnum, index: int) -> str:
    """The id of ``block`` in repeated row ``index`` (1-based), e.g. ``mql.activity.type.1``."""
    return f"{block.value}.{index}"
