"""Codes shown to people by name: activity types and industries (SPEC 8, nothing raw).

MA tools send codes (``page_view``, ``manufacturing``); people read "Page view" / "ページ閲覧"
and "Manufacturing" / "製造業". A known code is shown by its translation; an activity type
the catalog does not know is shown by the policy's rule label for that type, and anything
else as given (operators and tools invent their own codes; hiding them would lose facts).
"""

from __future__ import annotations

from bot.i18n import Translator
from bot.policy import Policy

__all__ = ["activity_label", "industry_label"]


def _known(prefix: str, code: str, t: Translator) -> str | None:
    key = f"{prefix}.{code.strip().casefold()}"
    text = t(key)
    return None if text == key else text


def activity_label(code: str, policy: Policy | None, t: Translator) -> str:
    """"Page view" for ``page_view``; a rule's label for a type only the policy knows."""
    code = code.strip()
    known = _known("activity_type", code, t) if code else None
    if known is not None:
        return known
    for rule in policy.mql_definition.behaviour.rules if policy else ():
        if rule.label and rule.type.casefold() == code.casefold():
            return rule.label
    return code


def industry_label(code: str, t: Translator) -> str:
    """"Manufacturing" / "製造業" for ``manufacturing``; an unknown industry as given."""
    return (_known("industry", code, t) if code.strip() else None) or code
