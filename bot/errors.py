"""Domain errors: what can go wrong in a use case, in terms a user can be told."""

from __future__ import annotations


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
