"""Judging a lead against the agreed MQL definition (SPEC sections 1 and 3).

Marketing and sales argue less about a lead when the bot says exactly which criteria it met
and which it missed, by which version of the definition. So ``evaluate`` never stops at the
first failure: it collects every reason, in plain English, and records what matched, so the
monthly review can relate recycles to criteria. The English wording is stored with the lead and
returned from the webhook (an API answer, not a Slack text, kept stable for integrations); each
criterion is also recorded as a code with its values (``reason_codes``, ``matched_codes``) so
what a person reads is translated (``bot.views.labels.criterion_text``).

Text is compared after NFKC normalisation and case folding: CRM exports mix full-width and
half-width characters ("ＭＡＮＡＧＥＲ", "ﾏﾈｰｼﾞｬｰ") and nobody agrees on capitals.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.policy import BehaviourRule, Firmographics, Policy, Tier
from storage.models import Activity, Lead

__all__ = ["Qualification", "evaluate"]

#: Activities dated later than ``now`` plus this are clock skew or bad data, not behaviour.
FUTURE_TOLERANCE = timedelta(days=1)
#: User-supplied values quoted in reasons are shortened: a reason names the value, it does not
#: need to carry a 10 KB job title into the database and the webhook answer.
_QUOTE_LIMIT = 80


@dataclass(frozen=True)
class Qualification:
    """The verdict on one lead, under one version of the MQL definition."""

    qualified: bool
    version: str
    matched: tuple[str, ...]
    reasons: tuple[str, ...]
    tier: str | None
    first_contact_business_hours: float
    #: the same criteria as codes and values, for texts in the reader's language
    matched_codes: tuple[dict[str, Any], ...] = ()
    reason_codes: tuple[dict[str, Any], ...] = ()

    def as_json(self) -> dict[str, Any]:
        """Plain JSON types, for ``Lead.qualification`` and the webhook answer."""
        return {
            "qualified": self.qualified,
            "version": self.version,
            "matched": list(self.matched),
            "reasons": list(self.reasons),
            "tier": self.tier,
            "first_contact_business_hours": self.first_contact_business_hours,
            "matched_codes": list(self.matched_codes),
            "reason_codes": list(self.reason_codes),
        }


def evaluate(lead: Lead, policy: Policy, now: datetime) -> Qualification:
    """Behaviour AND firmographics AND score, with every matched and failed criterion."""
    definition = policy.mql_definition
    matched = _Found()
    reasons = _Found()
    recent = _recent_activities(lead.activities, now, definition.behaviour.lookback_days)

    _check_behaviour(recent, policy, matched, reasons)
    _check_firmographics(lead, definition.firmographics, matched, reasons)
    if definition.min_score is not None:
        low = definition.min_score
        if lead.score is None:
            reasons.add(f"score unknown (needs ≥ {low})", "score_unknown", min=low)
        elif lead.score < low:
            reasons.add(f"score {lead.score} is below {low}", "score_below",
                        score=lead.score, min=low)
        else:
            matched.add(f"score: {lead.score} ≥ {low}", "score", score=lead.score, min=low)

    tier = _first_tier(policy.tiers, recent, lead.score)
    return Qualification(
        qualified=not reasons,
        version=definition.version,
        matched=tuple(matched),
        reasons=tuple(reasons),
        matched_codes=tuple(matched.codes),
        reason_codes=tuple(reasons.codes),
        tier=tier.name if tier else None,
        first_contact_business_hours=(
            tier.first_contact_business_hours
            if tier
            else policy.agreement.first_contact_business_hours
        ),
    )


class _Found(list[str]):
    """Criteria found, in English (stored, returned by the webhook) and as codes with values."""

    def __init__(self) -> None:
        super().__init__()
        self.codes: list[dict[str, Any]] = []

    def add(self, english: str, code: str, **values: Any) -> None:
        self.append(english)
        self.codes.append({"code": code, **values})


def _rule_json(rule: BehaviourRule) -> dict[str, Any]:
    return {"type": rule.type, "label": rule.label, "detail_contains": rule.detail_contains,
            "min_count": rule.min_count}


def _norm(text: str | None) -> str:
    return unicodedata.normalize("NFKC", text or "").casefold().strip()


def _short(value: str) -> str:
    return value if len(value) <= _QUOTE_LIMIT else value[: _QUOTE_LIMIT - 1] + "…"


def _quote(value: str) -> str:
    return f"'{_short(value)}'"


def _recent_activities(
    activities: Iterable[Activity], now: datetime, lookback_days: int
) -> list[Activity]:
    """Activities inside the lookback window (a day of future skew tolerated)."""
    earliest = now - timedelta(days=lookback_days)
    latest = now + FUTURE_TOLERANCE
    return [a for a in activities if a.at is not None and earliest <= a.at <= latest]


def _rule_matches(rule: BehaviourRule, activities: Sequence[Activity]) -> bool:
    kind = _norm(rule.type)
    needle = _norm(rule.detail_contains) if rule.detail_contains else None
    count = sum(
        1
        for a in activities
        if _norm(a.type) == kind and (needle is None or needle in _norm(a.detail))
    )
    return count >= rule.min_count


def _describe_rule(rule: BehaviourRule) -> str:
    text = rule.type
    if rule.detail_contains:
        text += f" containing '{rule.detail_contains}'"
    if rule.min_count > 1:
        text += f" (at least {rule.min_count})"
    return text


def _matched_rule(rule: BehaviourRule) -> str:
    what = f"{rule.type} {rule.detail_contains}" if rule.detail_contains else rule.type
    if rule.min_count > 1:
        what += f" ×{rule.min_count}"
    return f"behaviour: {rule.label} ({what})" if rule.label else f"behaviour: {what}"


def _check_behaviour(
    recent: Sequence[Activity], policy: Policy, matched: _Found, reasons: _Found
) -> None:
    behaviour = policy.mql_definition.behaviour
    if not behaviour.rules:
        return
    hits = [rule for rule in behaviour.rules if _rule_matches(rule, recent)]
    for rule in hits:
        matched.add(_matched_rule(rule), "behaviour", rule=_rule_json(rule))
    if len(hits) >= behaviour.min_rules_matched:
        return
    wanted = ", ".join(_describe_rule(rule) for rule in behaviour.rules)
    found = (
        "no qualifying behaviour"
        if not hits
        else (f"only {len(hits)} qualifying behaviour{'s' if len(hits) > 1 else ''}")
    )
    reasons.add(
        f"{found} in the last {behaviour.lookback_days} days "
        f"(needs {behaviour.min_rules_matched} of: {wanted})",
        "behaviour_few" if hits else "behaviour_none", count=len(hits),
        days=behaviour.lookback_days, needed=behaviour.min_rules_matched,
        rules=[_rule_json(rule) for rule in behaviour.rules],
    )


def _check_firmographics(
    lead: Lead, firmographics: Firmographics, matched: _Found, reasons: _Found
) -> None:
    if firmographics.industries:
        allowed = ", ".join(firmographics.industries)
        codes = list(firmographics.industries)
        industry = (lead.company_industry or "").strip()
        if not industry:
            reasons.add(f"industry unknown (needs one of: {allowed})", "industry_unknown",
                        allowed=codes)
        elif _norm(industry) in {_norm(i) for i in firmographics.industries}:
            matched.add(f"industry: {_short(industry)}", "industry", industry=_short(industry))
        else:
            reasons.add(f"industry {_quote(industry)} is not one of: {allowed}",
                        "industry_other", industry=_short(industry), allowed=codes)

    _check_size(lead.company_employees, firmographics, matched, reasons)

    if firmographics.title_keywords:
        keywords = ", ".join(firmographics.title_keywords)
        title = (lead.contact_title or "").strip()
        hit = next((k for k in firmographics.title_keywords if _norm(k) in _norm(title)), None)
        words = list(firmographics.title_keywords)
        if not title:
            reasons.add(f"title unknown (needs one of: {keywords})", "title_unknown",
                        keywords=words)
        elif hit is None:
            reasons.add(f"title {_quote(title)} matches none of: {keywords}", "title_other",
                        title=_short(title), keywords=words)
        else:
            matched.add(f"title: {hit}", "title", keyword=hit)


def _check_size(
    employees: int | None, firmographics: Firmographics, matched: _Found, reasons: _Found
) -> None:
    low, high = firmographics.min_employees, firmographics.max_employees
    if low is None and high is None:
        return
    if low is not None and high is not None:
        bounds = f"{low}–{high}"
    elif low is not None:
        bounds = f"≥ {low}"
    else:
        bounds = f"≤ {high}"
    if employees is None:
        reasons.add(f"company size unknown (needs {bounds} employees)", "size_unknown",
                    low=low, high=high)
    elif low is not None and employees < low:
        reasons.add(f"company size {employees} is below {low} employees", "size_below",
                    employees=employees, low=low)
    elif high is not None and employees > high:
        reasons.add(f"company size {employees} is above {high} employees", "size_above",
                    employees=employees, high=high)
    elif low is not None and high is not None:
        matched.add(f"employees: {employees} within {bounds}", "employees",
                    employees=employees, low=low, high=high)
    else:
        matched.add(f"employees: {employees} {bounds}", "employees",
                    employees=employees, low=low, high=high)


def _first_tier(
    tiers: Sequence[Tier], recent: Sequence[Activity], score: int | None
) -> Tier | None:
    """The first tier whose activity types occur recently and whose score floor is met."""
    types = {_norm(a.type) for a in recent}
    for tier in tiers:
        if tier.activity_types and not types & {_norm(k) for k in tier.activity_types}:
            continue
        if tier.min_score is not None and (score is None or score < tier.min_score):
            continue
        return tier
    return None
