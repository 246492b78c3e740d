"""What a button's ``value`` or a modal's ``private_metadata`` says, typed: one class per kind.

A client sends these back and can send anything. Each kind is a frozen dataclass that writes
its text (``encode``, called by the views) and reads it back strictly (``parse``: None for
anything the bot would not have written); listeners ``require`` it, which refuses a forged
value with the error the person is shown. A payload only *names* things: the services re-check
all of it against the database. Which kind each action id and modal carries is registered
here, next to ``bot.ids``: ``ACTION_PAYLOADS`` and ``MODAL_PAYLOADS``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Self

from bot.errors import DomainError, NotFound, UnknownProposal
from bot.ids import Action, Callback
from bot.reminders.plan import Promise

#: ASCII digits only: ``str.isdigit`` is true for "²" and "١", which ``int`` refuses or reads
_ID = re.compile(r"[0-9]{1,10}")
#: ids are 32-bit integers on PostgreSQL; a larger value would fail the query
MAX_ID = 2**31 - 1
#: how long a snooze lasts, in minutes: the only values a Snooze button may carry
SNOOZE_MINUTES = (30, 60)
#: the most pages the agreement modal's ``private_metadata`` may name
MAX_AGREEMENT_PAGE = 1000
#: longer agreement metadata was not written by the bot
MAX_PAGE_METADATA = 200


def _id(raw: object, *, ints: bool = False) -> int | None:
    """An id written as ASCII digits (or, with ``ints``, an int), within ``MAX_ID``."""
    text = raw if isinstance(raw, str) else str(raw) if ints and isinstance(raw, int) else ""
    if not _ID.fullmatch(text) or int(text) > MAX_ID:
        return None
    return int(text)


class Payload:
    """The common part of every kind: ``require`` turns a failed ``parse`` into a refusal."""

    #: what a refusal's log line calls it (never shown: the value is the client's text)
    name: ClassVar[str] = "value"

    def encode(self) -> str:
        raise NotImplementedError

    @classmethod
    def parse(cls, raw: object) -> Self | None:
        raise NotImplementedError

    @classmethod
    def refusal(cls, where: str) -> DomainError:
        """What a forged value is answered with: by default, a thing that does not exist."""
        return NotFound(f"bad {cls.name} in {where}")

    @classmethod
    def require(cls, raw: object, where: str = "button value") -> Self:
        """The payload in ``raw``, or the kind's refusal (naming where, not what, was bad)."""
        parsed = cls.parse(raw)
        if parsed is None:
            raise cls.refusal(where)
        return parsed


@dataclass(frozen=True)
class LeadPayload(Payload):
    """A lead's id: the lead buttons (handoff message, DMs, Home) and the lead modals."""

    name: ClassVar[str] = "lead id"
    lead_id: int

    def encode(self) -> str:
        return str(self.lead_id)

    @classmethod
    def parse(cls, raw: object) -> Self | None:
        lead_id = _id(raw, ints=True)
        return None if lead_id is None else cls(lead_id)


@dataclass(frozen=True)
class SnoozePayload(Payload):
    """``lead:clock:minutes`` on a reminder's Snooze buttons; the minutes one of the offered."""

    name: ClassVar[str] = "snooze value"
    lead_id: int
    clock: Promise
    minutes: int

    def encode(self) -> str:
        return f"{self.lead_id}:{self.clock.value}:{self.minutes}"

    @classmethod
    def parse(cls, raw: object) -> Self | None:
        try:
            lead, clock, minutes = str(raw).split(":")
            lead_id = _id(lead)
            parsed = None if lead_id is None else cls(lead_id, Promise(clock), int(minutes))
        except (ValueError, TypeError):
            return None
        if parsed is None or parsed.minutes not in SNOOZE_MINUTES or parsed.lead_id <= 0:
            return None
        return parsed


@dataclass(frozen=True)
class ProposalPayload(Payload):
    """An agreement version that is proposed: its buttons and its Request changes modal."""

    name: ClassVar[str] = "version id"
    version_id: int

    def encode(self) -> str:
        return str(self.version_id)

    @classmethod
    def parse(cls, raw: object) -> Self | None:
        version_id = _id(raw)
        return None if version_id is None else cls(version_id)

    @classmethod
    def refusal(cls, where: str) -> DomainError:
        """A forged version is a proposal this bot never recorded."""
        return UnknownProposal(f"bad {cls.name} in {where}")


@dataclass(frozen=True)
class AgreementPayload(Payload):
    """The version the Open agreement button shows; ``0``: the one in effect (or none yet)."""

    name: ClassVar[str] = "agreement version"
    version: int

    def encode(self) -> str:
        return str(self.version)

    @classmethod
    def parse(cls, raw: object) -> Self | None:
        version = _id(raw)
        return None if version is None else cls(version)


@dataclass(frozen=True)
class AgreementPage(Payload):
    """The agreement modal's version (0: none stored when opened) and the page it shows."""

    name: ClassVar[str] = "agreement page"
    version: int
    page: int

    def encode(self) -> str:
        return json.dumps({"version": self.version, "page": self.page}, separators=(",", ":"))

    @classmethod
    def parse(cls, raw: object) -> Self | None:
        if not isinstance(raw, str) or len(raw) > MAX_PAGE_METADATA:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict) or set(data) != {"version", "page"}:
            return None
        version, page = data["version"], data["page"]
        if not all(type(v) is int for v in (version, page)):  # bool is an int: refused too
            return None
        if not (0 <= version <= MAX_ID and 0 <= page < MAX_AGREEMENT_PAGE):
            return None
        return cls(version, page)


@dataclass(frozen=True)
class NoSubject(Payload):
    """A modal that names nothing: the MQL modal, whose view id is its lead's ``external_id``.

    The bot writes no metadata there and reads none, so there is nothing to forge: whatever a
    client sends is ignored.
    """

    name: ClassVar[str] = "nothing"

    def encode(self) -> str:
        return ""

    @classmethod
    def parse(cls, raw: object) -> Self | None:
        return cls()


#: what each button's value carries; its listener parses it with this kind
ACTION_PAYLOADS: Mapping[Action, type[Payload]] = MappingProxyType({
    Action.CLAIM: LeadPayload,
    Action.RELEASE: LeadPayload,
    Action.LOG_TOUCH: LeadPayload,
    Action.CONVERT: LeadPayload,
    Action.RECYCLE: LeadPayload,
    Action.REASSIGN: LeadPayload,
    Action.DETAILS: LeadPayload,
    Action.SNOOZE: SnoozePayload,
    Action.PROPOSAL_APPROVE: ProposalPayload,
    Action.PROPOSAL_REQUEST_CHANGES: ProposalPayload,
    Action.PROPOSAL_WITHDRAW: ProposalPayload,
    Action.AGREEMENT_OPEN: AgreementPayload,
})
#: buttons whose value says nothing: the agreement's pages are in the modal's metadata
VALUELESS_ACTIONS = frozenset({Action.AGREEMENT_PREVIOUS, Action.AGREEMENT_NEXT})

#: what each modal's ``private_metadata`` carries
MODAL_PAYLOADS: Mapping[Callback, type[Payload]] = MappingProxyType({
    Callback.TOUCH_MODAL: LeadPayload,
    Callback.CONVERT_MODAL: LeadPayload,
    Callback.RECYCLE_MODAL: LeadPayload,
    Callback.REASSIGN_MODAL: LeadPayload,
    Callback.DETAILS_MODAL: LeadPayload,
    Callback.PROPOSAL_CHANGES_MODAL: ProposalPayload,
    Callback.AGREEMENT_MODAL: AgreementPage,
    Callback.MQL_MODAL: NoSubject,
})
#: modals that carry nothing and are never submitted (no Submit button)
UNNAMED_MODALS = frozenset({Callback.MQL_REFUSED})
