"""A small JSON path: ``$.properties.email.value``, ``$.leads[0]``, ``$["associated-company"]``.

Enough to point at a value in any tool's payload from the policy file, and no more: names after
dots, list indexes in brackets, quoted names in brackets for keys with dots or spaces. Paths are
parsed once, when the policy is loaded, so a typo is a policy error, not a failed webhook.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

Segment = str | int
_NAME = re.compile(r"\.([A-Za-z0-9_\-$@:]+)")
_INDEX = re.compile(r"\[(\d+)\]")
_QUOTED = re.compile(r"""\[(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\]""")


def parse(path: str) -> tuple[Segment, ...]:
    """The segments of ``path``; ``ValueError`` saying where it stops making sense."""
    if not path.startswith("$"):
        raise ValueError(f"a path starts with $, e.g. $.contact.email (got {path!r})")
    segments: list[Segment] = []
    position = 1
    while position < len(path):
        for pattern in (_NAME, _INDEX, _QUOTED):
            match = pattern.match(path, position)
            if match:
                break
        else:
            raise ValueError(
                f"cannot read {path!r} from character {position + 1} ({path[position:]!r}); "
                'use .name, [0] or ["name with spaces"]'
            )
        if pattern is _INDEX:
            segments.append(int(match[1]))
        elif pattern is _QUOTED:
            quoted = match[1] if match[1] is not None else match[2]
            segments.append(re.sub(r"\\(.)", r"\1", quoted))
        else:
            segments.append(match[1])
        position = match.end()
    return tuple(segments)


def check(path: str) -> str:
    """A pydantic validator: the path as given, once it parses."""
    parse(path)
    return path


MISSING = object()


def get(document: Any, path: str | Sequence[Segment]) -> Any:
    """The value at ``path``, or ``MISSING`` when any step is absent."""
    segments = parse(path) if isinstance(path, str) else path
    current = document
    for segment in segments:
        if isinstance(segment, int) and isinstance(current, list):
            if segment >= len(current):
                return MISSING
            current = current[segment]
        elif isinstance(current, Mapping) and str(segment) in current:
            current = current[str(segment)]
        else:
            return MISSING
    return current
