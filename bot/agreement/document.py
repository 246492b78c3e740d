"""The agreement part of a policy as one canonical document (pure).

What both sides must approve is the policy's language-independent content; operational
settings (people, channels, adapters, webhooks, auto-assignment, language, governance) take
effect from the file. The canonical TOML text — keys sorted, unset values left out — is what
is stored and hashed, so the same agreement always has the same hash, however the file is
laid out.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from typing import Any

import tomli_w

from bot.policy import Policy, PolicyError, parse_policy

#: SPEC 9: the policy's sections that make up the agreement
AGREEMENT_KEYS = (
    "agreement", "mql_definition", "tiers", "calendar", "reminders", "recycle", "digest",
    "review",
)


@dataclass(frozen=True)
class AgreementDocument:
    data: dict[str, Any]
    text: str
    hash: str


def _canonical(value: Any) -> Any:
    """Sorted keys, ``None`` dropped (TOML has no null; unset and absent mean the same)."""
    if isinstance(value, dict):
        return {k: _canonical(value[k]) for k in sorted(value) if value[k] is not None}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value if v is not None]
    return value


def agreement_data(policy: Policy) -> dict[str, Any]:
    dumped = policy.model_dump(mode="json")
    return _canonical({key: dumped[key] for key in AGREEMENT_KEYS})


def agreement_document(policy: Policy) -> AgreementDocument:
    data = agreement_data(policy)
    text = tomli_w.dumps(data)
    return AgreementDocument(data, text, hashlib.sha256(text.encode("utf-8")).hexdigest())


def policy_with_agreement(file_policy: Policy, agreement_text: str) -> Policy:
    """The policy a process runs: the file's operational part with a stored agreement.

    With approvers configured the database holds the agreement in force (SPEC 9), while people,
    channels, adapters and language still come from the file. Keys the stored text leaves out
    take their defaults, as they would in a file. ``PolicyError`` when the text no longer
    validates.
    """
    data: dict[str, Any] = file_policy.model_dump(mode="json", exclude_none=True)
    for key in AGREEMENT_KEYS:
        data.pop(key, None)
    data.update(tomllib.loads(agreement_text))
    policy = parse_policy(data, "agreement in force")
    try:
        policy.business_calendar  # noqa: B018 - build once so calendar errors surface here
    except ValueError as exc:
        raise PolicyError("agreement in force", [f"calendar: {exc}"]) from None
    return policy
