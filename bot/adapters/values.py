"""Reading vendor values: wrapped, stringly typed, empty in three ways, timed in any format.

Marketing tools wrap values (``{"value": "..."}``), send numbers as strings (``"32"``), say
"empty" as ``""``, ``null`` or ``[[]]``, and send times as ISO 8601, epoch seconds or
milliseconds (as numbers or strings), or naive local times. These helpers turn all of that into
plain Python values, so each adapter reads like a table of fields.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import urlsplit

#: epoch values above this are milliseconds (1e11 seconds is the year 5138)
EPOCH_MS_THRESHOLD = 100_000_000_000
WRAPPER = "value"

#: a conversion or form named like this is that kind of behaviour, so the MQL definition's
#: rules (``download``, ``webinar``, ``demo_request``) can match what the tools call a form
ACTIVITY_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("demo_request", ("demo", "trial", "デモ", "トライアル", "お問い合わせ", "contact sales")),
    ("webinar", ("webinar", "seminar", "ウェビナー", "セミナー")),
    ("download", ("download", "whitepaper", "white paper", "ebook", "e-book", "資料",
                  "ダウンロード", "ホワイトペーパー")),
)


class ValueProblem(ValueError):
    """A value that cannot be read as what its field needs; the message says what was expected."""


class Bad(Exception):
    """A ``ValueProblem`` with the field it was found in (an adapter rejects the event)."""

    def __init__(self, field: str, problem: ValueProblem) -> None:
        super().__init__(field)
        self.field, self.problem = field, problem


def read(field: str, reader: Any, *args: Any, **kwargs: Any) -> Any:
    """``reader(*args, **kwargs)``, its ``ValueProblem`` raised as ``Bad`` naming ``field``."""
    try:
        return reader(*args, **kwargs)
    except ValueProblem as problem:
        raise Bad(field, problem) from None


def unwrap(value: Any, wrapper: str | None = WRAPPER) -> Any:
    """``{"value": x, ...}`` → ``x`` (HubSpot, Mautic); anything else unchanged."""
    if wrapper and isinstance(value, Mapping) and wrapper in value:
        return value[wrapper]
    return value


def is_blank(value: Any) -> bool:
    """``None``, ``""``, whitespace, and empty containers (Mautic's ``[[]]`` included)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple):
        return all(is_blank(v) for v in value)
    if isinstance(value, Mapping):
        return not value
    return False


def text(value: Any, wrapper: str | None = WRAPPER) -> str | None:
    """A string, or None when blank; numbers become their digits."""
    value = unwrap(value, wrapper)
    if is_blank(value) or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value.strip()
    raise ValueProblem(f"expected text, got {type(value).__name__}")


def integer(value: Any, wrapper: str | None = WRAPPER) -> int | None:
    """``32``, ``"32"``, ``"32.0"`` and ``72.6`` (rounded) → int; blank → None."""
    value = unwrap(value, wrapper)
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValueProblem(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return value
    try:
        number = float(str(value).strip().replace(",", ""))
    except ValueError:
        raise ValueProblem(f"expected a number, got {_short(value)!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueProblem(f"expected a number, got {_short(value)!r}")
    return round(number)


def instant(
    value: Any, zone: tzinfo, *, fmt: str = "auto", wrapper: str | None = WRAPPER
) -> datetime | None:
    """A timezone-aware instant, or None when blank.

    ``fmt``: ``auto`` (ISO 8601, or epoch seconds / milliseconds told apart by size),
    ``iso``, ``epoch_ms``, ``epoch_s``, or a ``strptime`` pattern. A time without a zone is
    read in ``zone`` (Marketo sends its instance's local time without saying so).
    """
    value = unwrap(value, wrapper)
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValueProblem(f"expected a timestamp, got {value!r}")
    raw = value.strip() if isinstance(value, str) else value
    try:
        if fmt in {"auto", "epoch_ms", "epoch_s"} and _numeric(raw):
            number = float(raw)
            ms = fmt == "epoch_ms" or (fmt == "auto" and abs(number) >= EPOCH_MS_THRESHOLD)
            return datetime.fromtimestamp(number / 1000 if ms else number, UTC)
        if fmt in {"epoch_ms", "epoch_s"}:
            raise ValueProblem(f"expected epoch {fmt.removeprefix('epoch_')}, got {_short(raw)!r}")
        if not isinstance(raw, str):
            raise ValueProblem(f"expected a timestamp, got {_short(raw)!r}")
        if fmt in {"auto", "iso"}:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        else:
            parsed = datetime.strptime(raw, fmt)
    except (ValueError, OverflowError, OSError) as exc:
        if isinstance(exc, ValueProblem):
            raise
        wanted = "an ISO 8601 or epoch timestamp" if fmt == "auto" else f"a timestamp ({fmt})"
        raise ValueProblem(f"expected {wanted}, got {_short(raw)!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _numeric(value: Any) -> bool:
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def person_name(*parts: str | None) -> str | None:
    """First and last name joined; None when both are blank."""
    joined = " ".join(p.strip() for p in parts if p and p.strip())
    return joined or None


def domain(website: str | None) -> str | None:
    """``https://www.example.co.jp/about`` → ``example.co.jp``; None when it is not a URL."""
    if not website:
        return None
    candidate = website.strip()
    if "://" not in candidate:
        candidate = "//" + candidate
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    if not host or "." not in host:
        return None
    return host.removeprefix("www.")


def classify(name: str | None, default: str) -> str:
    """The behaviour a form or conversion name says it is, else ``default``."""
    folded = unicodedata.normalize("NFKC", name or "").casefold()
    for kind, keywords in ACTIVITY_KEYWORDS:
        if any(k in folded for k in keywords):
            return kind
    return default


def activity(
    kind: str, at: datetime | None, detail: str | None, **extra: Any
) -> dict[str, Any] | None:
    """An activity for the canonical intake; None when it has no time (it cannot be placed)."""
    if at is None:
        return None
    item: dict[str, Any] = {"type": kind, "at": at}
    if detail:
        item["detail"] = detail
    item.update({k: v for k, v in extra.items() if v is not None})
    return item


def canonical(
    *,
    key: str,
    source: str,
    qualified_at: datetime,
    name: str,
    email: str | None = None,
    title: str | None = None,
    phone: str | None = None,
    company: str | None = None,
    industry: str | None = None,
    employees: int | None = None,
    company_domain: str | None = None,
    score: int | None = None,
    activities: Iterable[dict[str, Any] | None] = (),
    **extra: Any,
) -> dict[str, Any]:
    """The canonical intake dict; blank fields left out, extra keys kept with the lead."""
    contact = {"name": name, "email": email, "title": title, "phone": phone}
    firm = {"name": company, "industry": industry, "employees": employees,
            "domain": company_domain}
    data: dict[str, Any] = {
        "external_id": key,
        "source": source,
        "qualified_at": qualified_at,
        "contact": {k: v for k, v in contact.items() if v is not None},
        "activities": [a for a in activities if a is not None],
    }
    firm = {k: v for k, v in firm.items() if v is not None}
    if firm:
        data["company"] = firm
    if score is not None:
        data["score"] = score
    data.update({k: v for k, v in extra.items() if v is not None})
    return data


def fingerprint(value: Any) -> str:
    """A short stable hash of a JSON value: the key of an event that carries no id or time."""
    encoded = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:20]


def stamp(at: datetime) -> str:
    """An instant in a key: UTC, seconds (or milliseconds when it has them)."""
    utc = at.astimezone(UTC)
    spec = "milliseconds" if utc.microsecond else "seconds"
    return utc.isoformat(timespec=spec)


def _short(value: Any) -> str:
    text_value = str(value)
    return text_value if len(text_value) <= 40 else text_value[:39] + "…"
