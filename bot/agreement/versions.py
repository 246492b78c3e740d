"""Agreement versions: the agreement a process runs, settled at start (SPEC section 9).

Without approvers configured, the file's agreement takes effect at start as before and is
recorded: version 1 the first time, a new active version superseding the previous one whenever
the agreement part changed — posted to both channels as "in effect" with its changes (version
1 is not announced: nothing changed, and a first start should not surprise two channels).

With approvers configured, the database holds the agreement in force: a file whose agreement
differs from the active version is not applied. The process runs the active version's
agreement with the file's operational settings, and the file is recorded as a proposal by the
operator (once: a later start with the same file finds it pending), so restarting never
reverts an approved version, on any replica.

Several processes may start at once on one PostgreSQL: they take turns
(``AgreementRepository.lock``), and the unique version number stays the last word — a loser
re-reads what won.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from bot.agreement.activation import queue_in_effect
from bot.agreement.document import agreement_document, policy_with_agreement
from bot.policy import Policy, PolicyError
from bot.services import Services
from storage.models import AgreementStatus, AgreementVersion
from storage.unit_of_work import UnitOfWork

log = logging.getLogger("sla_bot")

#: the proposer of a version born of the policy file
OPERATOR = "operator"
#: rounds of "read, insert, lost the race, re-read": each lost round means another process
#: recorded a version meanwhile, so a handful settles any realistic start-up
_ATTEMPTS = 5


def record_at_start(services: Services) -> AgreementVersion:
    """The version this process runs, after the start-up rules above (idempotent).

    Sets ``services.agreement_version`` and, when the database's agreement is the one in
    force, ``services.policy`` to the file's operational part with that agreement.
    """
    file_policy = services.policy
    document = agreement_document(file_policy)
    governed = file_policy.governance.enabled
    for attempt in range(_ATTEMPTS):
        with services.unit_of_work() as uow:
            uow.agreements.lock()
            active = uow.agreements.active()
            if active is not None and (governed or active.policy_hash == document.hash):
                uow.detach(active)
                break
            now = services.clock.now()
            version = AgreementVersion(
                number=uow.agreements.latest_number() + 1,
                policy_text=document.text,
                policy_hash=document.hash,
                status=AgreementStatus.ACTIVE,
                proposer=OPERATOR,
                effective_at=now,
                created_at=now,
            )
            try:
                uow.agreements.add(version)
                if active is not None:
                    active.status = AgreementStatus.SUPERSEDED
                    queue_in_effect(uow, services, version, previous=active,
                                    old_policy=_policy_of(file_policy, active),
                                    new_policy=file_policy, approvals=[], now=now)
                uow.commit()
            except IntegrityError:
                # another process recorded a version meanwhile: look again
                log.debug("agreement version race lost (attempt %d)", attempt + 1)
                continue
            uow.detach(version)
            services.agreement_version = version.number
            if active is not None:
                services.outbox_ready.set()
            log.info("agreement v%d recorded from the policy file and in effect", version.number)
            return version
    else:
        raise RuntimeError("could not record the agreement version: too many concurrent starts")
    services.agreement_version = active.number
    if active.policy_hash != document.hash:  # approvers configured: the database decides
        services.policy = policy_with_agreement(file_policy, active.policy_text)
        _file_as_proposal(services, file_policy, active)
    return active


def use_in_force(services: Services) -> int | None:
    """For a command that reads the agreement without starting the bot (digest, report,
    import, ``agreement``…): with approvers configured, run the agreement in force — the
    file's operational part with the active version's agreement — as ``run`` would, instead
    of the file's, which may be a proposal still waiting for approval. The version's number,
    or None when the file's agreement applies (no approvers, no version recorded yet, or the
    stored agreement no longer validates: logged, as ``check-config`` shows it).
    """
    if not services.policy.governance.enabled:
        return None
    with services.unit_of_work() as uow:
        active = uow.agreements.active()
        if active is None:
            return None
        number, text = active.number, active.policy_text
        uow.rollback()
    try:
        services.policy = policy_with_agreement(services.policy, text)
    except PolicyError:
        log.warning("the agreement v%d in force no longer validates: the policy file's "
                    "agreement is used", number)
        return None
    services.agreement_version = number
    return number


def _policy_of(file_policy: Policy, version: AgreementVersion) -> Policy | None:
    """A stored version as a policy, for the change list; None if it no longer validates."""
    try:
        return policy_with_agreement(file_policy, version.policy_text)
    except PolicyError:
        return None


def _file_as_proposal(services: Services, file_policy: Policy, active: AgreementVersion) -> None:
    """The file's differing agreement recorded as the operator's proposal, once."""
    from bot.agreement.proposals import propose  # proposals builds on this module

    with services.unit_of_work() as uow:
        standing = file_standing(uow, file_policy)
    pending = standing.proposal if standing is not None else None
    if pending is None:
        pending = propose(services, file_policy, proposer=OPERATOR, note=None).number
        verb = "recorded"
    else:
        verb = "already recorded"
    log.warning("the policy file's agreement differs from v%d in force and is not applied: "
                "%s as proposal v%d, in effect once both sides approve it",
                active.number, verb, pending)


@dataclass(frozen=True)
class FileStanding:
    """With approvers configured, a policy file whose agreement differs from the one in force:
    the version in force and, if the file is recorded already, its pending proposal."""

    in_force: int
    in_force_text: str
    proposal: int | None


def file_standing(uow: UnitOfWork, file_policy: Policy) -> FileStanding | None:
    """What ``run`` would do with this file's agreement (for ``check-config``); None when the
    file's agreement is applied (no approvers, no version yet, or the same agreement)."""
    if not file_policy.governance.enabled:
        return None
    active = uow.agreements.active()
    document = agreement_document(file_policy)
    if active is None or active.policy_hash == document.hash:
        return None
    proposal = next((p.number for p in uow.agreements.open_proposals()
                     if p.policy_hash == document.hash), None)
    return FileStanding(active.number, active.policy_text, proposal)


def history_text(services: Services) -> str:
    """``sla-bot agreement history``: every version, newest first, in the policy's language
    and time zone."""
    t, tz = services.t, services.policy.tz
    lines = [t("agreement.history.title", timezone=str(tz))]
    with services.unit_of_work() as uow:  # the rows are read while their session is open
        for version, approvals in uow.agreements.history():
            effective = (version.effective_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
                         if version.effective_at else t("agreement.history.not_effective"))
            proposer = version.proposer or "—"
            if proposer == OPERATOR:
                proposer = t("agreement.history.operator")
            lines.append(t("agreement.history.line", number=version.number,
                           status=t(f"agreement.history.status_{version.status}"),
                           effective=effective, proposer=proposer, approvals=approvals))
    if len(lines) == 1:
        return t("agreement.history.empty") + "\n"
    return "\n".join(lines) + "\n"
