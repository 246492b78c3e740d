"""Domain errors: what can go wrong in a use case, in terms a user can be told."""

from __future__ import annotations

from storage.models import LeadStatus


class DomainError(Exception):
    """A known failure that becomes a friendly message, never a stack trace."""

    #: message catalog key for the user-facing text (see ``bot.i18n``)
    message_key = "error.generic"

    def __init__(self, detail: str = "", **params: object) -> None:
        super().__init__(detail or self.message_key)
        self.params = params


class IllegalTransition(DomainError):
    """A lead was asked to move to a state its lifecycle does not allow from where it is."""

    message_key = "error.illegal_transition"


class NotAllowed(DomainError):
    """The person is not allowed to do this (not the owner, not a manager...)."""

    message_key = "error.not_allowed"


class NotFound(DomainError):
    message_key = "error.not_found"


class NotARep(NotAllowed):
    """Only reps and managers may take leads."""

    message_key = "error.not_a_rep"


class OpenLeadLimit(DomainError):
    """The rep already owns as many open leads as the agreement allows."""

    message_key = "error.open_lead_limit"


class InvalidTouch(DomainError):
    """A touch with an unknown kind or outcome, or a note that is too long."""

    message_key = "error.invalid_touch"


class SnoozeRefused(DomainError):
    """A reminder cannot be snoozed past its own deadline, or there is nothing left to snooze."""

    message_key = "notice.snooze_past_deadline"


class NothingToSnooze(DomainError):
    message_key = "notice.more.nothing_to_snooze"


class NotAManager(NotAllowed):
    """Only managers may reassign a lead."""

    message_key = "reassign.not_manager"


class NotAnAssignee(DomainError):
    """The chosen person is neither a rep nor a manager, so cannot own leads."""

    message_key = "reassign.error.not_assignee"


class SameOwner(DomainError):
    """The chosen person already owns the lead."""

    message_key = "reassign.error.same_owner"


class AssigneeAtLimit(OpenLeadLimit):
    """The chosen person already owns as many open leads as the agreement allows."""

    message_key = "reassign.error.open_lead_limit"


class DetailsNotAllowed(NotAllowed):
    """The lead's record holds personal data: only reps, managers and marketers may read it."""

    message_key = "details.not_allowed"


class AlreadyDecided(IllegalTransition):
    """The lead was converted or recycled already: says by whom and when."""

    def __init__(self, detail: str, *, status: LeadStatus, user: str, at: str) -> None:
        super().__init__(detail, user=user, at=at)
        self.message_key = f"decide.error.{status.value}"


class NotClaimed(IllegalTransition):
    """Nobody owns the lead (posted, queued...): there is nothing to decide yet."""

    message_key = "decide.error.not_claimed"


class InvalidDecision(DomainError):
    """A decision the agreement does not accept (missing BANT item, unknown reason...)."""

    message_key = "decide.error.invalid"


class FewerTouchesNoteMissing(DomainError):
    """Recycling before the agreed number of touches needs the rep to say why."""

    message_key = "recycle.error.fewer_touches"


class OtherRepRefused(NotAllowed):
    """A rep asked for someone else's figures: only managers may."""

    message_key = "status_report.not_allowed"


class NotAnApprover(NotAllowed):
    """Only the approvers of a side (``[governance]``) may approve or ask for changes."""

    message_key = "agreement.proposal.error.not_approver"


class NotTheProposer(NotAllowed):
    """Only the proposer withdraws a proposal (any approver, for one of the policy file)."""

    message_key = "agreement.proposal.error.not_proposer"


class ProposalClosed(DomainError):
    """The proposal is no longer open: superseded, withdrawn, rejected or in effect."""

    def __init__(self, detail: str, *, status: str, number: int, newer: int | None = None) -> None:
        super().__init__(detail, number=number, newer=newer or "")
        suffix = "_by" if status == "superseded" and newer else ""
        self.message_key = f"agreement.proposal.error.{status}{suffix}"


class UnknownProposal(NotFound):
    """A button or modal named no proposal this bot recorded (a forged or stale value)."""

    message_key = "agreement.proposal.error.unknown"
