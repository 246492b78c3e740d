"""What differs between two policies, key by key (``preview --compare``; later the agreement's
change list).

Both policies are flattened to dotted keys of their effective values (defaults filled in), so
a key written out in one file and left to its default in the other is no difference. Lists of
tables (``[[tiers]]``, the MQL rules) are compared entry by entry; lists of plain values whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.policy import Policy

__all__ = ["KeyChange", "flatten", "policy_differences"]


@dataclass(frozen=True)
class KeyChange:
    """One key whose value differs; ``None`` on a side where the key does not exist."""

    key: str
    old: Any
    new: Any


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys → plain values; a list of tables becomes ``key[0].field`` …"""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for name, item in value.items():
            flat.update(flatten(item, f"{prefix}.{name}" if prefix else str(name)))
        return flat
    if isinstance(value, list | tuple) and value and all(isinstance(v, dict) for v in value):
        flat = {}
        for index, item in enumerate(value):
            flat.update(flatten(item, f"{prefix}[{index}]"))
        return flat
    return {prefix: list(value) if isinstance(value, tuple) else value}


def policy_differences(old: Policy, new: Policy) -> list[KeyChange]:
    """Every key whose effective value differs, in the order the keys appear."""
    before = flatten(old.model_dump(mode="json"))
    after = flatten(new.model_dump(mode="json"))
    keys = list(dict.fromkeys([*before, *after]))
    return [
        KeyChange(key, before.get(key), after.get(key))
        for key in keys
        if before.get(key) != after.get(key)
    ]
