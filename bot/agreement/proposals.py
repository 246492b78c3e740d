"""Proposals (SPEC 9): a changed agreement recorded as a version waiting for both sides.

The minimum taking effect relies on: a policy recorded as a proposed version that supersedes
any open proposal. Posting it and the Approve / Request changes / Withdraw buttons belong to
the proposal workflow.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from bot.agreement.document import agreement_document
from bot.policy import Policy
from bot.services import Services
from storage.models import AgreementStatus, AgreementVersion

log = logging.getLogger("sla_bot")

#: rounds of "read, insert, lost the race, re-read" (see ``bot.agreement.versions``)
_ATTEMPTS = 5


def propose(
    services: Services, policy: Policy, *, proposer: str, note: str | None = None
) -> AgreementVersion:
    """Record ``policy``'s agreement as a new proposed version; open proposals are superseded."""
    document = agreement_document(policy)
    for attempt in range(_ATTEMPTS):
        with services.unit_of_work() as uow:
            uow.agreements.lock()
            for older in uow.agreements.open_proposals():
                older.status = AgreementStatus.SUPERSEDED
            version = AgreementVersion(
                number=uow.agreements.latest_number() + 1,
                policy_text=document.text,
                policy_hash=document.hash,
                status=AgreementStatus.PROPOSED,
                proposer=proposer,
                note=note,
                created_at=services.clock.now(),
            )
            try:
                uow.agreements.add(version)
                uow.commit()
            except IntegrityError:
                log.debug("agreement proposal race lost (attempt %d)", attempt + 1)
                continue
            uow.session.expunge(version)
            return version
    raise RuntimeError("could not record the proposal: too many concurrent writers")
