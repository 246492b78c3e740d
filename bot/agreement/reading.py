"""Reading the agreement (SPEC 9): a stored version, or the running policy, as plain data.

Everything a person reads about the agreement — the printed document, ``/sla-agreement``, the
App Home line, the digest's and the review's mention of a change — starts here, so every
number shown is the one the version holds. A stored version keeps only the agreement part;
it is read back into a whole policy with the file's operational part
(``policy_with_agreement``), never with numbers of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.agreement.changes import agreement_changes, describe_changes
from bot.agreement.document import policy_with_agreement
from bot.agreement.versions import OPERATOR
from bot.errors import DomainError
from bot.i18n import Translator
from bot.policy import Policy
from bot.reporting.periods import Period
from bot.services import Services
from bot.views.agreement import AgreementHeadline, AgreementView, Approval, HistoryEntry
from storage.models import AgreementStatus, AgreementVersion
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

__all__ = [
    "AgreementVersionNotFound",
    "agreement_view",
    "current_headline",
    "headline_of",
    "versions_in_force",
]

#: statuses of versions that were in force at some time
_IN_FORCE = (AgreementStatus.ACTIVE.value, AgreementStatus.SUPERSEDED.value)


class AgreementVersionNotFound(DomainError):
    """``--version N`` or a button naming a version that was never recorded."""

    message_key = "agreement.document.not_found"


def agreement_view(services: Services, number: int | None = None) -> AgreementView:
    """Version ``number`` (default: the active one; the running policy when none is stored).

    Raises ``AgreementVersionNotFound`` for a number that was never recorded.
    """
    with services.unit_of_work() as uow:
        if number is None:
            version = uow.agreements.active()
        else:
            version = uow.agreements.by_number(number)
            if version is None:
                raise AgreementVersionNotFound(f"no agreement version {number}", number=number)
        if version is None:
            return AgreementView(AgreementHeadline(None, None, None, True), services.policy)
        earlier = uow.agreements.in_force_up_to(version.number, _IN_FORCE)
        approvals = _approvals(uow, [v.id for v in {*earlier, version}])
        headline = headline_of(version, approvals.get(version.id, ()))
        texts = [(headline_of(v, approvals.get(v.id, ())), v.policy_text) for v in earlier]
        policy_text = version.policy_text
        uow.rollback()
    return AgreementView(headline, policy_with_agreement(services.policy, policy_text),
                         _history(services.policy, texts, services.t))


def current_headline(uow: UnitOfWork) -> AgreementHeadline | None:
    """The active version's headline, read inside the caller's unit of work (the Home's)."""
    version = uow.agreements.active()
    if version is None:
        return None
    return headline_of(version, _approvals(uow, [version.id]).get(version.id, ()))


def headline_of(version: AgreementVersion, approvals: Sequence[Approval]) -> AgreementHeadline:
    return AgreementHeadline(version.number, str(version.status), version.effective_at,
                             version.proposer == OPERATOR, tuple(approvals))


def versions_in_force(
    unit_of_work: UnitOfWorkFactory, period: Period
) -> tuple[AgreementHeadline, ...]:
    """The versions in force at some instant of ``period``, oldest first: the one in force
    at its start and every one that took effect during it."""
    with unit_of_work() as uow:
        rows = uow.agreements.effective_before(period.end, _IN_FORCE)
        during = [v for v in rows if v.effective_at >= period.start]
        before = [v for v in rows if v.effective_at < period.start][-1:]
        chosen = [*before, *during]
        approvals = _approvals(uow, [v.id for v in chosen])
        heads = tuple(headline_of(v, approvals.get(v.id, ())) for v in chosen)
        uow.rollback()
    return heads


def _approvals(uow: UnitOfWork, version_ids: Sequence[int]) -> dict[int, tuple[Approval, ...]]:
    found: dict[int, list[Approval]] = {}
    if not version_ids:
        return {}
    for row in uow.agreements.approvals_of(version_ids):
        found.setdefault(row.version_id, []).append(
            Approval(row.user_id, row.side, row.approved_at))
    return {key: tuple(value) for key, value in found.items()}


def _history(
    running: Policy,
    versions: Sequence[tuple[AgreementHeadline, str]],
    t: Translator,
) -> tuple[HistoryEntry, ...]:
    """Each version in force with its changes against the previous one, in ``t``'s language
    (each version read back into the ``running`` policy's operational part)."""
    entries: list[HistoryEntry] = []
    previous: Policy | None = None
    for head, text in versions:
        policy = policy_with_agreement(running, text)
        changes = (() if previous is None else
                   tuple(describe_changes(
                       [c for c in agreement_changes(previous, policy) if not c.operational],
                       t)))
        assert head.number is not None
        entries.append(HistoryEntry(head.number, head.status or "", head.since,
                                    head.from_file, head.approvals, changes))
        previous = policy
    return tuple(entries)
