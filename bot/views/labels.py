"""Codes shown to people by name: activity types, industries, the MQL definition's criteria
(SPEC 8, nothing raw).

MA tools send codes (``page_view``, ``manufacturing``); people read "Page view" / "ページ閲覧"
and "Manufacturing" / "製造業". A known code is shown by its translation; an activity type
the catalog does not know is shown by the policy's rule label for that type, and anything
else as given (operators and tools invent their own codes; hiding them would lose facts).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from bot.i18n import FALLBACK, Translator, format_number
from bot.mrkdwn import escape
from bot.policy import Policy

__all__ = [
    "activity_label", "country_label", "criteria_as_text", "criterion_group_text",
    "criterion_text", "industry_label", "reason_label",
]


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


def country_label(code: str, t: Translator, subdivision: str | None = None) -> str:
    """"Japan" / "日本" for the holidays' ``JP``; a country the catalog does not name as its
    code (the ``holidays`` package knows many more countries than it has names for, and none
    in Japanese). A subdivision follows as its code: "the United States (CA)"."""
    name = (_known("country", code, t) if code.strip() else None) or code
    return t("country.with_subdivision", country=name, subdivision=subdivision) \
        if subdivision else name


def criterion_text(criterion: Mapping[str, Any] | str, policy: Policy | None,
                   t: Translator) -> str:
    """One criterion of the MQL definition, met or missed, in the reader's language; escaped
    for mrkdwn (it quotes lead data). A plain string (stored before criteria had codes, or a
    code this version does not know) is shown escaped as it was written."""
    if isinstance(criterion, str):
        return escape(criterion)
    code = str(criterion.get("code") or "")
    values = {k: v for k, v in criterion.items() if k != "code"}
    if code == "veto":
        return escape(str(values.get("text") or ""))
    params: dict[str, str] = {}
    for name, value in values.items():
        if name == "rule" and isinstance(value, Mapping):
            params["rule"] = _rule_text(value, policy, t)
        elif name == "rules" and isinstance(value, list):
            params["wanted"] = _list(t, [_rule_text(r, policy, t) for r in value
                                         if isinstance(r, Mapping)])
        elif name == "allowed" and isinstance(value, list):
            params["allowed"] = _list(t, [escape(industry_label(str(i), t)) for i in value])
        elif name == "industry":
            params["industry"] = escape(industry_label(str(value), t))
        elif name == "keywords" and isinstance(value, list):
            params["keywords"] = _list(t, [escape(str(k)) for k in value])
        elif isinstance(value, int) and not isinstance(value, bool):
            params[name] = format_number(value, t.language)
        elif value is not None:
            params[name] = escape(str(value))
    if code in ("size_unknown", "employees", "group_employees"):
        low, high = values.get("low"), values.get("high")
        form = ("range" if low is not None and high is not None
                else "min" if low is not None else "max")
        params["bounds"] = t(f"criterion.bounds.{form}", low=params.get("low", ""),
                             high=params.get("high", ""))
    key = f"criterion.{code}"
    if code == "behaviour_few" and isinstance(values.get("count"), int):
        return t.plural(key, int(values["count"]), **{k: v for k, v in params.items()
                                                       if k != "count"})
    text = t(key, **params)
    return escape(str(criterion)) if text == key else text


def criteria_as_text(codes: Sequence[Mapping[str, Any]], english: Sequence[str],
                     policy: Policy | None, t: Translator) -> list[str]:
    """Criteria for a terminal (``import``, ``preview``): in English as the definition wrote
    them (the webhook's wording), in another language from their codes, unescaped."""
    if t.language == FALLBACK or not codes or len(codes) != len(english):
        return list(english)
    return [html.unescape(criterion_text(code, policy, t)) for code in codes]


def criterion_group_text(criterion: Mapping[str, Any], policy: Policy | None,
                         t: Translator) -> str:
    """A matched criterion as the review groups it, without the lead's own number:
    "Employees: at least 50 employees" / "Score: at least 30"; escaped like ``criterion_text``."""
    code = str(criterion.get("code") or "")
    if code == "employees":
        return criterion_text({**criterion, "code": "group_employees"}, policy, t)
    if code == "score":
        return criterion_text({**criterion, "code": "group_score"}, policy, t)
    return criterion_text(criterion, policy, t)


def _rule_text(rule: Mapping[str, Any], policy: Policy | None, t: Translator) -> str:
    """A behaviour rule by its label, else its activity type's name, with what it looks for."""
    label = str(rule.get("label") or "")
    name = escape(label or activity_label(str(rule.get("type") or ""), policy, t))
    needle = rule.get("detail_contains")
    if needle and not label:
        name = t("criterion.containing", name=name, text=escape(str(needle)))
    count = rule.get("min_count")
    if isinstance(count, int) and count > 1:
        name = t("criterion.times", name=name, count=format_number(count, t.language))
    return name


def _list(t: Translator, items: list[str]) -> str:
    return t("criterion.separator").join(items)


def reason_label(code: str, t: Translator) -> str:
    """A recycle reason as people read it: its translation when the catalog has one, else the
    code as configured (operators may add their own reasons without touching the catalog)."""
    key = f"recycle_reason.{code}"
    text = t(key)
    return code if text == key else text
