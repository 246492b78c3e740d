"""The example policy (``sla.example.toml``) and the variants tests ask of it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from bot.policy import Policy, Roles, parse_policy
from tests.harness.settings import ROOT

EXAMPLE_POLICY = ROOT / "sla.example.toml"


def configured_policy(directory: Path) -> Path:
    """``sla.example.toml`` with its example channel and member ids replaced, as an operator
    would have it: ``check-config`` refuses the examples' placeholder ids."""
    from bot.placeholders import CHANNEL_PLACEHOLDERS, MEMBER_PLACEHOLDERS

    text = EXAMPLE_POLICY.read_text(encoding="utf-8")
    for index, value in enumerate(sorted(CHANNEL_PLACEHOLDERS | MEMBER_PLACEHOLDERS)):
        text = text.replace(value, f"{value[0]}REAL{index:04d}")
    path = directory / "configured.toml"
    path.write_text(text, encoding="utf-8")
    return path


def webhook_policy_file(directory: Path, url: str) -> Path:
    """``sla.example.toml`` with an ``[outbound_webhook]`` section sending to ``url``, written
    as ``sla.toml`` in ``directory``: for the tests that start a process on a policy file."""
    path = directory / "sla.toml"
    path.write_text(EXAMPLE_POLICY.read_text(encoding="utf-8")
                    + f'\n[outbound_webhook]\nurl = "{url}"\n', encoding="utf-8")
    return path


def with_roles(policy: Policy, **roles: object) -> Policy:
    """The example policy with other ``[roles]`` (validated like the TOML file would be)."""
    current = policy.roles.model_dump()
    current.update(roles)
    return policy.model_copy(update={"roles": Roles.model_validate(current)})


def with_reps(policy: Policy, *, reps: list[str] | None = None,
              max_open: int | None = None) -> Policy:
    """The example policy with more reps or an open-lead cap."""
    roles = policy.roles.model_copy(update={"reps": tuple(reps or policy.roles.reps)})
    agreement = policy.agreement.model_copy(update={"max_open_leads_per_rep": max_open})
    return policy.model_copy(update={"roles": roles, "agreement": agreement})


def policy_with(policy: Policy, *, language: str | None = None,
                bant_required: tuple[str, ...] | None = None,
                reasons: tuple[str, ...] | None = None) -> Policy:
    """Another language, other BANT items required or other recycle reasons."""
    update: dict[str, Any] = {}
    if language is not None:
        update["language"] = language
    if bant_required is not None:
        update["agreement"] = policy.agreement.model_copy(
            update={"bant_required": bant_required})
    if reasons is not None:
        update["recycle"] = policy.recycle.model_copy(update={"reasons": reasons})
    return policy.model_copy(update=update)


def with_auto_assign(policy: Policy, **changes: object) -> Policy:
    auto = policy.auto_assign.model_copy(update={"enabled": True, **changes})
    return policy.model_copy(update={"auto_assign": auto})


def lenient(policy: Policy) -> Policy:
    """The example policy, but behaviour is optional: a lead without history can qualify."""
    behaviour = policy.mql_definition.behaviour.model_copy(update={"min_rules_matched": 0})
    definition = policy.mql_definition.model_copy(update={"behaviour": behaviour})
    return policy.model_copy(update={"mql_definition": definition})


def faster_first_contact(policy: Policy) -> Policy:
    agreement = policy.agreement.model_copy(update={"first_contact_business_hours": 1})
    return policy.model_copy(update={"agreement": agreement})


def adapter_policy(**sections: Any) -> Policy:
    """The example policy with these ``[adapters]`` sections."""
    data = tomllib.loads(EXAMPLE_POLICY.read_text(encoding="utf-8"))
    data["adapters"] = sections
    return parse_policy(data)


def webhook_policy(url: str | None, **section: object) -> Policy:
    """The example policy, with an ``[outbound_webhook]`` section when ``url`` is given."""
    data = tomllib.loads(EXAMPLE_POLICY.read_text(encoding="utf-8"))
    if url is not None:
        data["outbound_webhook"] = {"url": url, **section}
    return parse_policy(data)
