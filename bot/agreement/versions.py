"""Agreement versions: the policy file's agreement recorded at start (SPEC section 9).

Without approvers configured (governance comes later), the file's agreement takes effect at
start as before and is recorded: version 1 the first time, a new active version superseding
the previous one whenever the agreement part changed. Several processes may start at once on
one PostgreSQL: they take turns (``AgreementRepository.lock``), and the unique version number
stays the last word — a loser re-reads what won.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from bot.agreement.document import agreement_document
from bot.services import Services
from storage.models import AgreementStatus, AgreementVersion

log = logging.getLogger("sla_bot")

#: the proposer of a version born of the policy file
OPERATOR = "operator"
#: rounds of "read, insert, lost the race, re-read": each lost round means another process
#: recorded a version meanwhile, so a handful settles any realistic start-up
_ATTEMPTS = 5


def record_at_start(services: Services) -> AgreementVersion:
    """The active version after making the file's agreement the active one (idempotent)."""
    document = agreement_document(services.policy)
    for attempt in range(_ATTEMPTS):
        with services.unit_of_work() as uow:
            uow.agreements.lock()
            active = uow.agreements.active()
            if active is not None and active.policy_hash == document.hash:
                uow.session.expunge(active)
                return active
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
                uow.commit()
            except IntegrityError:
                # another process recorded a version meanwhile: look again
                log.debug("agreement version race lost (attempt %d)", attempt + 1)
                continue
            uow.session.expunge(version)
            log.info("agreement v%d recorded from the policy file and in effect", version.number)
            return version
    raise RuntimeError("could not record the agreement version: too many concurrent starts")


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
