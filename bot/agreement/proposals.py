"""Proposing a new agreement and approving it (SPEC 9 "Proposing").

A proposal is an agreement version with status ``proposed``. Recording it, superseding the
open one and queuing its posts to both channels is one transaction, so a proposal is never
recorded unposted nor posted unrecorded. Its change list and its impact on last month's leads
are computed once, when it is proposed, and kept with the version: every later rendering of
the post (approvals, withdrawal, supersession) shows the same facts, in the policy's language.

The posts are rendered by the outbox worker when they are sent (kind ``agreement_proposal``), from
the version's state then, so a post sent late already shows who approved. An update or a
thread reply needs the post's ``ts``: it waits until its channel's post is sent.

Who may press what is decided here, from the database and the directory, never from what the
client sends back: Approve and Request changes are for the approvers of each side; Withdraw
for the proposer, and for a proposal of the policy file (proposer "operator") for any
approver, since nobody in Slack is its author. A person on both sides' lists approves once,
for the side still missing: both sides' consent takes two people. When one approver of each
side has approved, the version's ``effective_at`` is set (now, or the start of the next
business day) and it stays ``proposed``: the activation sweep makes it active when due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError

from bot.agreement.activation import notice_channels
from bot.agreement.changes import AgreementChange, agreement_changes
from bot.agreement.document import agreement_document, policy_with_agreement
from bot.agreement.impact import Impact, replay_month
from bot.agreement.versions import OPERATOR
from bot.errors import NotAnApprover, NotTheProposer, ProposalClosed, UnknownProposal
from bot.i18n import Translator
from bot.mrkdwn import escape
from bot.policy import Policy
from bot.roles import SIDES, Directory, Side
from bot.services import Services
from storage.models import (
    AgreementApproval,
    AgreementStatus,
    AgreementVersion,
    OutboxMessage,
    OutboxStatus,
)
from storage.outbox_kind import OutboxKind
from storage.unit_of_work import UnitOfWork

__all__ = [
    "ApproveResult",
    "PostGone",
    "PostNotSentYet",
    "ProposalState",
    "ProposeResult",
    "approve",
    "check_can_request_changes",
    "proposal_call",
    "propose",
    "request_changes",
    "withdraw",
]

log = logging.getLogger("sla_bot")

#: how long an update or a reply waits before looking again for its channel's post
WAIT_FOR_POST = timedelta(seconds=5)
_ATTEMPTS = 5


class PostNotSentYet(Exception):
    """An update or reply whose channel's post is not sent yet: try again a little later."""


class PostGone(Exception):
    """The post it belongs to was never sent (it failed): nothing to update or reply under."""


@dataclass(frozen=True)
class ProposeResult:
    """What ``propose`` did. ``recorded`` False: the agreement in force (``same_as_active``)
    or the open proposal (``same_as_open``) is this very agreement; ``number`` names it."""

    recorded: bool
    outcome: Literal["proposed", "same_as_active", "same_as_open"]
    number: int | None
    version_id: int | None = None
    superseded: int | None = None
    changes: tuple[AgreementChange, ...] = ()
    impact: Impact | None = None


@dataclass(frozen=True)
class Approval:
    user_id: str
    side: str
    at: datetime


@dataclass(frozen=True)
class ProposalState:
    """A proposal as its post shows it (built from the database, handed to the view)."""

    version_id: int
    number: int
    status: str
    proposer: str | None
    note: str | None
    created_at: datetime
    effective_at: datetime | None
    base: int | None
    changes: tuple[AgreementChange, ...]
    impact: Impact | None
    approvals: tuple[Approval, ...]
    newer: int | None = None
    withdrawn_by: str | None = None

    @property
    def approved(self) -> bool:
        """One approver of each side has approved."""
        return {a.side for a in self.approvals} >= set(SIDES)

    @property
    def by_operator(self) -> bool:
        return self.proposer == OPERATOR


@dataclass(frozen=True)
class ApproveResult:
    number: int
    side: str
    already: bool = False
    #: set when this approval completed the set: when the version takes effect
    effective_at: datetime | None = None


# ------------------------------------------------------------------------------ proposing


def propose(services: Services, policy: Policy, *, proposer: str,
            note: str | None = None) -> ProposeResult:
    """Record ``policy``'s agreement as a proposal, supersede the open one and queue its posts
    to the hand-off and marketing channels, in one transaction."""
    document = agreement_document(policy)
    now = services.clock.now()
    with services.unit_of_work() as uow:  # read first: the replay must not hold the lock
        active = uow.agreements.active()
        base_number = active.number if active is not None else None
        current = (policy_with_agreement(services.policy, active.policy_text) if active is not None
                   else services.policy)
        unchanged = _unchanged(uow, document.hash, current)
        if unchanged is not None:
            return unchanged
        changes = tuple(agreement_changes(current, policy))
        impact = replay_month(uow, current, policy, now)
        uow.rollback()
    summary = {"base": base_number, "changes": [c.as_json() for c in changes],
               "impact": impact.as_json()}
    for attempt in range(_ATTEMPTS):
        with services.unit_of_work() as uow:
            uow.agreements.lock()
            active = uow.agreements.active()
            if (active.number if active is not None else None) != base_number:
                break  # the agreement in force changed meanwhile: compare with it again
            unchanged = _unchanged(uow, document.hash, current)
            if unchanged is not None:
                return unchanged
            version = AgreementVersion(
                number=uow.agreements.latest_number() + 1, policy_text=document.text,
                policy_hash=document.hash, status=AgreementStatus.PROPOSED,
                proposer=proposer, note=(note or "").strip() or None, effective_at=None,
                created_at=now, proposal=summary,
            )
            try:
                open_before = uow.agreements.open_proposal()
                uow.agreements.add(version)
            except IntegrityError:
                log.debug("agreement proposal race lost (attempt %d)", attempt + 1)
                continue
            superseded = None
            rows = [_row(version.id, channel, "post")
                    for channel in notice_channels(services.policy)]
            if open_before is not None:
                open_before.status = AgreementStatus.SUPERSEDED
                superseded = open_before.number
                rows += [_row(open_before.id, channel, "update", f"superseded:{version.number}")
                         for channel in notice_channels(services.policy)]
            uow.outbox.enqueue_many(rows, now)
            uow.commit()
            services.outbox_ready.set()
            log.info("agreement v%d proposed%s", version.number,
                     f" (v{superseded} superseded)" if superseded else "")
            return ProposeResult(True, "proposed", version.number, version.id, superseded,
                                 changes, impact)
    else:
        raise RuntimeError("could not record the proposal: too many concurrent changes")
    return propose(services, policy, proposer=proposer, note=note)


def _unchanged(uow: UnitOfWork, digest: str, current: Policy) -> ProposeResult | None:
    active = uow.agreements.active()
    in_force = active.policy_hash if active is not None else agreement_document(current).hash
    if digest == in_force:
        return ProposeResult(False, "same_as_active", active.number if active else None)
    open_proposal = uow.agreements.open_proposal()
    if open_proposal is not None and open_proposal.policy_hash == digest:
        return ProposeResult(False, "same_as_open", open_proposal.number, open_proposal.id)
    return None


def post_key(version_id: int, channel: str) -> str:
    return f"agreement:{version_id}:post:{channel}"


def _row(version_id: int, channel: str, mode: str, event: str = "",
         text: str | None = None) -> dict[str, Any]:
    key = post_key(version_id, channel) if mode == "post" else \
        f"agreement:{version_id}:{mode}:{channel}:{event}"
    payload: dict[str, Any] = {"version_id": version_id, "mode": mode}
    if text is not None:
        payload["text"] = text
    return {"key": key[:255], "kind": OutboxKind.AGREEMENT_PROPOSAL, "channel": channel,
            "payload": payload}


# ------------------------------------------------------------------------------ buttons


def _open_version(uow: UnitOfWork, version_id: int) -> AgreementVersion:
    """The version, if it is the open proposal; otherwise why not, for the presser."""
    version = uow.agreements.get(version_id)
    if version is None:
        raise UnknownProposal(f"no agreement version {version_id}")
    if version.status != AgreementStatus.PROPOSED:
        newer = uow.agreements.number_after(version.number)
        raise ProposalClosed(f"v{version.number} is {version.status}", status=version.status,
                             number=version.number, newer=newer)
    return version


def _sides(directory: Directory, user_id: str) -> tuple[Side, ...]:
    sides = directory.approver_sides(user_id)  # may ask Slack: before any lock
    if not sides:
        raise NotAnApprover(f"{user_id} approves for no side")
    return sides


def approve(services: Services, version_id: int, user_id: str) -> ApproveResult:
    """Record ``user_id``'s approval for their side; a second press changes nothing."""
    sides = _sides(services.directory, user_id)
    now = services.clock.now()
    with services.unit_of_work() as uow:
        uow.agreements.lock()
        version = _open_version(uow, version_id)
        approvals = uow.agreements.approvals(version.id)
        mine = next((a for a in approvals if a.user_id == user_id), None)
        if mine is not None:
            return ApproveResult(version.number, mine.side, already=True)
        approved = {a.side for a in approvals}
        side = next((s for s in sides if s not in approved), sides[0])
        uow.agreements.add_approval(AgreementApproval(
            version_id=version.id, user_id=user_id, side=side, approved_at=now))
        completed = None
        if approved | {side} >= set(SIDES) and version.effective_at is None:
            version.effective_at = completed = effective_instant(services.policy, now)
        uow.outbox.enqueue_many([_row(version.id, channel, "update", f"approve:{user_id}")
                                 for channel in notice_channels(services.policy)], now)
        uow.commit()
        number = version.number
    services.outbox_ready.set()
    log.info("agreement v%d approved for %s%s", number, side,
             " (both sides: approved)" if completed else "")
    return ApproveResult(number, side, effective_at=completed)


def effective_instant(policy: Policy, now: datetime) -> datetime:
    """When an approved version takes effect: now, or the next business day's opening."""
    if policy.governance.effective != "next_business_day":
        return now
    tomorrow: date = now.astimezone(policy.tz).date() + timedelta(days=1)
    return policy.business_calendar.next_open(datetime.combine(tomorrow, time(0),
                                                               tzinfo=policy.tz))


def check_can_request_changes(services: Services, version_id: int, user_id: str) -> int:
    """Before the modal opens: an approver, on the open proposal. Returns its number."""
    _sides(services.directory, user_id)
    with services.unit_of_work() as uow:
        return _open_version(uow, version_id).number


def request_changes(services: Services, version_id: int, user_id: str, comment: str, *,
                    submission: str | None = None) -> int | None:
    """Post ``user_id``'s comment (escaped) under the proposal in both channels; the proposal
    stays open. None when this modal submission was acted on before."""
    _sides(services.directory, user_id)
    now = services.clock.now()
    with services.unit_of_work() as uow:
        version = _open_version(uow, version_id)
        if submission is not None and not uow.processed_events.claim(submission, now):
            return None
        text = services.t("agreement.proposal.changes_requested", user=f"<@{user_id}>",
                          number=version.number, comment=_quoted(comment))
        event = f"changes:{submission or f'{user_id}:{now.timestamp()}'}"
        uow.outbox.enqueue_many([_row(version.id, channel, "reply", event, text)
                                 for channel in notice_channels(services.policy)], now)
        uow.commit()
        number = version.number
    services.outbox_ready.set()
    return number


def _quoted(comment: str) -> str:
    """The comment as a mrkdwn quote: escaped, every line quoted."""
    return "\n".join(f">{line}" for line in escape(comment.strip()).splitlines())


def withdraw(services: Services, version_id: int, user_id: str) -> int:
    """The proposer (or, for the policy file's proposal, any approver) withdraws it."""
    with services.unit_of_work() as uow:
        proposer = (_open_version(uow, version_id).proposer or "")
        uow.rollback()
    if proposer == OPERATOR:
        _sides(services.directory, user_id)
    elif proposer != user_id:
        raise NotTheProposer(f"{user_id} did not propose it")
    now = services.clock.now()
    with services.unit_of_work() as uow:
        uow.agreements.lock()
        version = _open_version(uow, version_id)
        version.status = AgreementStatus.WITHDRAWN
        version.proposal = {**(version.proposal or {}), "withdrawn_by": user_id}
        uow.outbox.enqueue_many([_row(version.id, channel, "update", "withdrawn")
                                 for channel in notice_channels(services.policy)], now)
        uow.commit()
        number = version.number
    services.outbox_ready.set()
    log.info("agreement v%d withdrawn", number)
    return number


# ------------------------------------------------------------------------------ the posts


def proposal_state(uow: UnitOfWork, version: AgreementVersion) -> ProposalState:
    summary = version.proposal or {}
    impact = summary.get("impact")
    return ProposalState(
        version_id=version.id, number=version.number, status=str(version.status),
        proposer=version.proposer, note=version.note, created_at=version.created_at,
        effective_at=version.effective_at, base=summary.get("base"),
        changes=tuple(AgreementChange.from_json(c) for c in summary.get("changes") or []),
        impact=Impact.from_json(impact) if isinstance(impact, dict) else None,
        approvals=tuple(Approval(a.user_id, a.side, a.approved_at)
                        for a in uow.agreements.approvals(version.id)),
        newer=(uow.agreements.number_after(version.number)
               if version.status == AgreementStatus.SUPERSEDED else None),
        withdrawn_by=summary.get("withdrawn_by"),
    )


def proposal_call(policy: Policy, t: Translator, uow: UnitOfWork,
                  row: OutboxMessage) -> tuple[str, dict[str, Any]]:
    """The Slack call an outbox row of kind ``agreement_proposal`` owes, rendered from current
    state."""
    from bot.views.proposal import proposal_message

    payload = row.payload
    channel = str(row.channel)
    version = uow.agreements.get(int(payload["version_id"]))
    if version is None:
        raise PostGone("the version is gone")
    mode = payload.get("mode")
    if mode == "post":
        message = proposal_message(proposal_state(uow, version), policy, t)
        return "chat.postMessage", {"channel": channel, **message}
    post = uow.outbox.by_key(post_key(version.id, channel))
    if post is None or post.status in (OutboxStatus.FAILED, OutboxStatus.SKIPPED):
        raise PostGone("the proposal was never posted there")
    if post.status != OutboxStatus.SENT or not post.result_ts:
        raise PostNotSentYet("the proposal is not posted there yet")
    where = {"channel": post.result_channel or channel}
    if mode == "reply":
        return "chat.postMessage", {**where, "thread_ts": post.result_ts,
                                    "text": str(payload.get("text") or "")}
    message = proposal_message(proposal_state(uow, version), policy, t)
    return "chat.update", {**where, "ts": post.result_ts, **message}

