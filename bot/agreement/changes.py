"""The plain-language list of what a new agreement changes (SPEC 9): old → new for every
changed number, rule, tier, calendar entry, reason list and role list.

One list serves the proposal post, the "in effect" notice, the digest and the review, so a
change reads the same wherever a person meets it. Changes to operational settings (people,
channels, adapters…) are listed separately: they take effect from the file, without a vote.

Rules and tiers are matched by what people call them (a rule's label, a tier's name), not by
their place in the file: removing the first rule is one removed rule, not every rule changed.
Dates, reasons and people are listed as added or removed. The changes are plain JSON
(``as_json`` / ``from_json``), so a proposal stores them once and every later rendering, in
either language, reads the same list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.agreement.document import AGREEMENT_KEYS
from bot.i18n import Translator, format_weekdays
from bot.mrkdwn import escape
from bot.policy import WEEKDAYS, Policy
from bot.policy_diff import flatten
from bot.redact import redact_url
from bot.views.labels import activity_label, country_label, industry_label

__all__ = ["AgreementChange", "agreement_changes", "describe_changes"]

RULES = "mql_definition.behaviour.rules"
TIERS = "tiers"
TIER_ORDER = "tiers.order"
#: list keys whose entries are told one by one, as added or removed
_ITEMIZED = frozenset({
    "calendar.closed_dates", "calendar.annual_closures", "recycle.reasons", "roles.reps",
    "roles.managers", "roles.marketers", "roles.away", "governance.marketing_approvers",
    "governance.sales_approvers",
})


@dataclass(frozen=True)
class AgreementChange:
    """One change; ``old``/``new`` are ``None`` where the key (or the rule, the tier) does not
    exist. ``item`` names the rule or tier a change is about."""

    key: str
    old: Any
    new: Any
    item: str | None = None

    @property
    def operational(self) -> bool:
        """Outside the agreement: takes effect from the file, listed apart from the rest."""
        return self.key.split(".", 1)[0].split("[", 1)[0] not in AGREEMENT_KEYS

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "new": self.new, "item": self.item}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgreementChange:
        item = data.get("item")
        return cls(str(data["key"]), data.get("old"), data.get("new"),
                   str(item) if item is not None else None)


def agreement_changes(old: Policy, new: Policy) -> list[AgreementChange]:
    """Every difference, agreement keys first, in the order the keys appear."""
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    changes = _named_entries(RULES, before["mql_definition"]["behaviour"].pop("rules"),
                             after["mql_definition"]["behaviour"].pop("rules"), _rule_name)
    old_tiers, new_tiers = before.pop("tiers"), after.pop("tiers")
    changes += _named_entries(TIERS, old_tiers, new_tiers, lambda tier: str(tier["name"]))
    old_order = [t["name"] for t in old_tiers if t["name"] in {n["name"] for n in new_tiers}]
    new_order = [t["name"] for t in new_tiers if t["name"] in {o["name"] for o in old_tiers}]
    if old_order != new_order:  # the first matching tier wins: its order is part of the deal
        changes.append(AgreementChange(TIER_ORDER, old_order, new_order))
    flat_before, flat_after = flatten(before), flatten(after)
    for key in dict.fromkeys([*flat_before, *flat_after]):
        if flat_before.get(key) != flat_after.get(key):
            changes.append(AgreementChange(key, flat_before.get(key), flat_after.get(key)))
    order = {section: index for index, section in enumerate(AGREEMENT_KEYS)}
    return sorted(changes, key=lambda c: (c.operational, order.get(c.key.split(".")[0], 99)))


def _rule_name(rule: dict[str, Any]) -> str:
    if rule.get("label"):
        return str(rule["label"])
    detail = rule.get("detail_contains")
    return f"{rule['type']} ({detail})" if detail else str(rule["type"])


def _named_entries(
    key: str, old: list[dict[str, Any]], new: list[dict[str, Any]],
    name: Callable[[dict[str, Any]], str],
) -> list[AgreementChange]:
    """Entries matched by name: added, removed, or one change per differing field."""

    def by_name(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        named: dict[str, dict[str, Any]] = {}
        for entry in entries:
            base = candidate = name(entry)
            count = 1
            while candidate in named:  # two entries called alike: told apart by a number
                count += 1
                candidate = f"{base} #{count}"
            named[candidate] = entry
        return named

    before, after = by_name(old), by_name(new)
    changes: list[AgreementChange] = []
    for item in before.keys() - after.keys():
        changes.append(AgreementChange(key, before[item], None, item))
    for item in after:
        if item not in before:
            changes.append(AgreementChange(key, None, after[item], item))
            continue
        for field in dict.fromkeys([*before[item], *after[item]]):
            if before[item].get(field) != after[item].get(field):
                changes.append(AgreementChange(f"{key}.{field}", before[item].get(field),
                                               after[item].get(field), item))
    removed = [c for c in changes if c.new is None and c.key == key]
    removed.sort(key=lambda c: list(before).index(c.item or ""))
    return removed + [c for c in changes if not (c.new is None and c.key == key)]


# ------------------------------------------------------------------------------ in words


def describe_changes(changes: list[AgreementChange], t: Translator) -> list[str]:
    """One plain-language line per change (a list key: one per entry added or removed), in
    ``t``'s language, as mrkdwn: names and labels from the file are escaped."""
    lines: list[str] = []
    for change in changes:
        lines += _Words(t).lines(change)
    return lines


class _Words:
    """Values as people read them, in one language."""

    def __init__(self, t: Translator) -> None:
        self.t = t
        self.sep = "、" if t.language == "ja" else ", "

    def lines(self, change: AgreementChange) -> list[str]:
        t, key = self.t, change.key
        if key == RULES:
            if change.new is None:
                return [t("agreement.change.rule_removed", rule=escape(change.item))]
            return [t("agreement.change.rule_added", rule=escape(change.item),
                      what=self.rule(change.new))]
        if key.startswith(RULES + "."):
            field = key.rsplit(".", 1)[1]
            return [t("agreement.change.rule_field", rule=escape(change.item),
                      field=self.field_name("rule", field),
                      old=self.rule_value(field, change.old),
                      new=self.rule_value(field, change.new))]
        if key == TIERS:
            if change.new is None:
                return [t("agreement.change.tier_removed", tier=escape(change.item))]
            return [t("agreement.change.tier_added", tier=escape(change.item),
                      hours=self.number(change.new["first_contact_business_hours"]))]
        if key == TIER_ORDER:
            return [t("agreement.change.tier_order", old=self.names(change.old),
                      new=self.names(change.new))]
        if key == f"{TIERS}.first_contact_business_hours":
            return [t("agreement.change.tier_first_contact", tier=escape(change.item),
                      old=self.tier_value("", change.old), new=self.tier_value("", change.new))]
        if key.startswith(TIERS + "."):
            field = key.rsplit(".", 1)[1]
            return [t("agreement.change.tier_field", tier=escape(change.item),
                      field=self.field_name("tier", field),
                      old=self.tier_value(field, change.old),
                      new=self.tier_value(field, change.new))]
        if key in _ITEMIZED and isinstance(change.old, list) and isinstance(change.new, list):
            return self.itemized(key, change.old, change.new)
        template = f"agreement.change.key.{key}"
        if t(template) != template:
            return [t(template, old=self.value(key, change.old), new=self.value(key, change.new))]
        return [t("agreement.change.other", key=escape(key), old=self.value(key, change.old),
                  new=self.value(key, change.new))]

    def itemized(self, key: str, old: list[Any], new: list[Any]) -> list[str]:
        t = self.t
        gone = [v for v in old if v not in new]
        added = [v for v in new if v not in old]
        label = key.replace(".", "_")
        return ([t(f"agreement.change.added.{label}", item=self.entry(key, v)) for v in added]
                + [t(f"agreement.change.removed.{label}", item=self.entry(key, v))
                   for v in gone])

    def entry(self, key: str, value: Any) -> str:
        if key == "calendar.annual_closures":
            return f"{value[0]}{self.dash}{value[1]}"
        if key == "recycle.reasons":
            return self.reason(str(value))
        if key.startswith(("roles.", "governance.")):
            return self.person(str(value))
        return escape(str(value))

    @property
    def dash(self) -> str:
        return "〜" if self.t.language == "ja" else "–"

    # ------------------------------------------------------------------ values

    def value(self, key: str, value: Any) -> str:
        t = self.t
        if value is None or value == []:
            return t("agreement.change.none")
        if isinstance(value, bool):
            return t("agreement.change.on" if value else "agreement.change.off")
        if key == "agreement.bant_required":
            return self.sep.join(self.known("convert.bant_item", v) for v in value)
        if key in ("calendar.working_days", "digest.day"):
            days = value if isinstance(value, list) else [value]
            return format_weekdays([WEEKDAYS.index(d) for d in days], t.language)
        if key == "calendar.working_hours":
            return self.sep.join(f"{s[:5]}{self.dash}{e[:5]}" for s, e in value)
        if key == "mql_definition.firmographics.industries":
            return self.sep.join(escape(industry_label(v, t)) for v in value)
        if key == "calendar.holidays":
            return escape(country_label(value, t))
        if key == "language":
            return t(f"agreement.change.language_{value}")
        if key.startswith("channels."):
            return f"<#{value}>"
        if key.startswith(("roles.", "governance.")) and isinstance(value, str) and \
                key != "governance.effective":
            return self.person(value)
        if key == "governance.effective":
            return t(f"agreement.change.effective_{value}")
        if key == "outbound_webhook.url" and isinstance(value, str):
            return escape(redact_url(value))
        if isinstance(value, list):
            return self.sep.join(self.plain(v) for v in value)
        return self.plain(value)

    def plain(self, value: Any) -> str:
        if isinstance(value, float | int) and not isinstance(value, bool):
            return self.number(value)
        if isinstance(value, list):
            return self.sep.join(self.plain(v) for v in value)
        return escape(str(value))

    @staticmethod
    def number(value: Any) -> str:
        return f"{value:g}" if isinstance(value, float) else str(value)

    def names(self, values: list[str]) -> str:
        return self.sep.join(f"'{escape(v)}'" for v in values)

    def person(self, value: str) -> str:
        return f"<!subteam^{value}>" if value.startswith("S") else f"<@{value}>"

    def reason(self, code: str) -> str:
        return escape(self.known("recycle_reason", code))

    def known(self, prefix: str, code: str) -> str:
        key = f"{prefix}.{code}"
        text = self.t(key)
        return code if text == key else text

    def field_name(self, kind: str, field: str) -> str:
        return self.known(f"agreement.change.{kind}_fields", field)

    def rule(self, rule: dict[str, Any]) -> str:
        t = self.t
        parts = [escape(activity_label(str(rule["type"]), None, t))]
        if rule.get("detail_contains"):
            parts.append(t("agreement.change.rule_detail", detail=escape(rule["detail_contains"])))
        if int(rule.get("min_count") or 1) > 1:
            parts.append(t("agreement.change.rule_times", count=rule["min_count"]))
        return self.sep.join(parts)

    def rule_value(self, field: str, value: Any) -> str:
        if value is None:
            return self.t("agreement.change.none")
        if field == "type":
            return escape(activity_label(str(value), None, self.t))
        return self.plain(value)

    def tier_value(self, field: str, value: Any) -> str:
        if value is None or value == []:
            return self.t("agreement.change.none")
        if field == "activity_types":
            return self.sep.join(escape(activity_label(str(v), None, self.t)) for v in value)
        return self.plain(value)
