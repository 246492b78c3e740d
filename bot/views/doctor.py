"""``sla-bot doctor``'s checklist as plain text for a terminal: ✓/✗ per item, the fix
indented under each ✗, a summary line. No mrkdwn, no emoji shortcodes: a console shows them
as typed."""

from __future__ import annotations

from collections.abc import Sequence

from bot.doctor import Check, Text
from bot.i18n import Translator

__all__ = ["doctor_lines"]

OK, FAILED, INDENT = "✓", "✗", "    "


def doctor_lines(checks: Sequence[Check], t: Translator) -> list[str]:
    """One line per check (and one per fix), then how many failed."""
    lines: list[str] = [t("doctor.title")]
    for check in checks:
        lines.append(f"{OK if check.ok else FAILED} {_text(check.detail, t)}")
        if not check.ok and check.fix is not None:
            lines.append(INDENT + _text(check.fix, t))
    failed = sum(not check.ok for check in checks)
    lines.append(t("doctor.summary_failed", failed=failed, total=len(checks)) if failed
                 else t("doctor.summary_ok", total=len(checks)))
    return lines


def _text(text: Text, t: Translator) -> str:
    count = text.params.get("count")
    if isinstance(count, int):  # "1 member" / "2 members"
        params = {k: v for k, v in text.params.items() if k != "count"}
        return t.plural(f"doctor.{text.key}", count, **params)
    return t(f"doctor.{text.key}", **text.params)
