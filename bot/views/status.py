"""The ``/sla-status`` answer."""

from __future__ import annotations

from typing import Any

from bot.i18n import Translator
from bot.policy import Policy


def agreement_blocks(policy: Policy, t: Translator) -> list[dict[str, Any]]:
    """The promises of the agreement as configured, for both sides to see."""
    a = policy.agreement
    cal = policy.calendar
    hours = ", ".join(f"{s:%H:%M}–{e:%H:%M}" for s, e in cal.working_hours)
    lines = [
        t("status.mql_target", target=a.mql_monthly_target),
        t("status.handoff", hours=a.handoff_within_hours),
        t("status.first_contact", hours=f"{a.first_contact_business_hours:g}"),
        t("status.touches", touches=a.min_touches),
        t("status.decision", days=a.decision_days),
        t(
            "status.calendar",
            days="/".join(d.capitalize() for d in cal.working_days),
            hours=hours,
            timezone=cal.timezone,
            holidays=cal.holidays or t("status.no_holidays"),
        ),
    ]
    return [
        {"type": "header", "text": {"type": "plain_text", "text": t("status.title")}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{t('status.agreement')}*\n" + "\n".join(f"• {line}" for line in lines),
            },
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": t("status.footer", version=policy.mql_definition.version),
                }
            ],
        },
    ]
