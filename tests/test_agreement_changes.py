"""The agreement's change list in words (SPEC 9): rules and tiers matched by name, list entries
added or removed, operational settings apart, in English and Japanese, escaped for Slack."""

from __future__ import annotations

from typing import Any

from bot.agreement.changes import AgreementChange, agreement_changes, describe_changes
from bot.i18n import Translator
from bot.policy import Policy, parse_policy

EN, JA = Translator("en"), Translator("ja")


def edited(policy: Policy, edit: Any) -> Policy:
    data = policy.model_dump(mode="json", exclude_none=True)
    edit(data)
    return parse_policy(data)


def test_removing_the_first_rule_is_one_removed_rule_not_every_rule_changed(
    policy: Policy,
) -> None:
    def drop_first(data: dict[str, Any]) -> None:
        del data["mql_definition"]["behaviour"]["rules"][0]

    changes = agreement_changes(policy, edited(policy, drop_first))
    assert describe_changes(changes, EN) == ["MQL definition: rule '料金ページ閲覧' removed"]
    assert describe_changes(changes, JA) == ["MQL定義：ルール「料金ページ閲覧」を削除"]


def test_a_rule_added_and_a_rule_changed_are_told_by_name(policy: Policy) -> None:
    def edit(data: dict[str, Any]) -> None:
        rules = data["mql_definition"]["behaviour"]["rules"]
        rules[1]["min_count"] = 2
        rules.append({"type": "trial", "label": "<b>Trial</b>", "min_count": 1})

    lines = describe_changes(agreement_changes(policy, edited(policy, edit)), EN)
    assert lines == ["MQL definition: rule '資料ダウンロード': times needed 1 → 2",
                     "MQL definition: rule '&lt;b&gt;Trial&lt;/b&gt;' added (Trial sign-up)"]


def test_tiers_dates_reasons_and_people(policy: Policy) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["tiers"] = [{"name": "warm", "first_contact_business_hours": 4},
                         {**data["tiers"][0], "first_contact_business_hours": 0.5}]
        data["calendar"]["closed_dates"] = ["2026-12-28"]
        data["calendar"]["annual_closures"] = []
        data["recycle"]["reasons"] = [*data["recycle"]["reasons"], "went_quiet"]
        data["roles"]["reps"] = ["U0000REP1", "U0000REP3"]

    changes = agreement_changes(policy, edited(policy, edit))
    assert describe_changes(changes, EN) == [
        "Tier 'warm' added: first contact within 4 business hours",
        "Tier 'hot': first contact within 1 → 0.5 business hours",
        "Calendar: 2026-12-28 closed",
        "Calendar: no longer closed every year 12-29–01-03",
        "Recycle reasons: 'went_quiet' added",
        "Reps: <@U0000REP3> added",
        "Reps: <@U0000REP2> removed",
    ]
    assert [c.operational for c in changes] == [False] * 5 + [True]
    assert describe_changes(changes, JA)[:3] == [
        "優先ティア「warm」を追加：初回接触は4営業時間以内",
        "優先ティア「hot」：初回接触は1→0.5営業時間以内",
        "営業カレンダー：2026-12-28を休業日に追加",
    ]


def test_numbers_switches_and_unknown_keys(policy: Policy) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["agreement"]["max_open_leads_per_rep"] = 10
        data["reminders"]["quiet_hours"] = False
        data["auto_assign"]["after_fraction"] = 0.3

    lines = describe_changes(agreement_changes(policy, edited(policy, edit)), EN)
    assert lines == ["Sales: open leads per rep at most none → 10",
                     "Reminders: quiet outside business hours on → off",
                     "Setting `auto_assign.after_fraction`: 0.5 → 0.3"]


def test_changes_round_trip_as_json(policy: Policy) -> None:
    def edit(data: dict[str, Any]) -> None:
        del data["mql_definition"]["behaviour"]["rules"][2]

    changes = agreement_changes(policy, edited(policy, edit))
    assert [AgreementChange.from_json(c.as_json()) for c in changes] == changes
    assert agreement_changes(policy, policy) == []
