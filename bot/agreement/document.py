"""The agreement part of a policy as one canonical document (pure).

What both sides must approve is the policy's language-independent content; operational
settings (people, channels, adapters, webhooks, auto-assignment, language, governance) take
effect from the file. The canonical TOML text — keys sorted, unset values left out — is what
is stored and hashed, so the same agreement always has the same hash, however the file is
laid out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import tomli_w

from bot.policy import Policy

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
    """The policy a stored version stands for: the file's operational part (people, channels,
    language…) with the version's agreement part in place of the file's, key for key.

    A stored version holds only the agreement; reading or comparing one needs a whole policy.
    Agreement sections the stored text leaves out take their defaults, as when it was stored.
    """
    import tomllib

    from bot.policy import parse_policy

    data = {key: value for key, value in file_policy.model_dump(mode="json").items()
            if key not in AGREEMENT_KEYS}
    data.update(tomllib.loads(agreement_text))
    return parse_policy(data, "stored agreement version")
