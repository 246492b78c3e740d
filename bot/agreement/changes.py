"""The plain-language list of what a new agreement changes (SPEC 9): old → new for every
changed number, rule, tier, calendar entry, reason list and role list.

One list serves the proposal post, the "in effect" notice, the digest and the review, so a
change reads the same wherever a person meets it. Changes to operational settings (people,
channels, adapters…) are listed separately: they take effect from the file, without a vote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.agreement.document import AGREEMENT_KEYS
from bot.i18n import Translator
from bot.policy import Policy
from bot.policy_diff import policy_differences

__all__ = ["AgreementChange", "agreement_changes", "describe_changes"]


@dataclass(frozen=True)
class AgreementChange:
    """One changed key; ``old``/``new`` are ``None`` where the key does not exist."""

    key: str
    old: Any
    new: Any

    @property
    def operational(self) -> bool:
        """Outside the agreement: takes effect from the file, listed apart from the rest."""
        return self.key.split(".", 1)[0].split("[", 1)[0] not in AGREEMENT_KEYS


def agreement_changes(old: Policy, new: Policy) -> list[AgreementChange]:
    """Every difference, agreement keys first, in the order the keys appear."""
    changes = [AgreementChange(c.key, c.old, c.new) for c in policy_differences(old, new)]
    return sorted(changes, key=lambda c: c.operational)


def describe_changes(changes: list[AgreementChange], t: Translator) -> list[str]:
    """One plain-language line per change, in ``t``'s language (mrkdwn-free plain text)."""
    # a first cut: the key and its values; the proposal work replaces it with sentences
    return [f"{c.key}: {c.old!r} → {c.new!r}" for c in changes]
