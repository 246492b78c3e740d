"""The marketer's hand-off modal: its blocks, reading it back, and the outcome DM (SPEC 3, 4).

Building the modal and reading its ``state.values`` live side by side so the block ids that
tie them together are used in one place. Everything here is pure: the handler brings the
policy, the clock and the submitting user, and decides what to do with the result.

The modal produces the canonical intake payload of SPEC section 3, so a lead typed by hand
is judged, stored and handed off exactly like one from a webhook or a CSV file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Protocol

from bot.i18n import Translator
from bot.ids import Callback, MqlBlock, row
from bot.policy import Policy
from bot.views.blocks import (
    HINT_LIMIT,
    SECTION_LIMIT,
    context,
    divider,
    fit_escaped,
    fit_mrkdwn,
    fit_plain,
    input_block,
    modal,
    option,
    placeholder,
    plain_text,
    section,
)
from bot.views.labels import activity_label, criterion_text

__all__ = [
    "ACTIVITY_ROWS",
    "OTHER_TYPE",
    "MqlForm",
    "mql_modal",
    "outcome_message",
    "read_form",
    "refusal_modal",
]

#: behaviour rows in the modal; more history belongs in the MA tool's webhook or a CSV
ACTIVITY_ROWS = 3
OTHER_TYPE = "other"
DEFAULT_SOURCE = "slack"
#: an activity dated by day only is placed at this local time
ACTIVITY_TIME = time(9, 0)
#: the intake's earliest sane date (``bot.intake.EARLIEST``): intake drops an activity dated
#: before it, so the marketer who picked it is told instead
EARLIEST_DAY = date(2000, 1, 1)
# Slack's limits on a select (the others: ``bot.views.blocks``) ...
OPTION_VALUE_LIMIT = 150
MAX_OPTIONS = 100
# ... and the intake contract's (bot.intake), so Slack stops over-long input before we must.
NAME_MAX = 300
TITLE_MAX = 300
PHONE_MAX = 64
COMPANY_MAX = 300
INDUSTRY_MAX = 200
SOURCE_MAX = 64
DETAIL_MAX = 3000
NOTE_MAX = 3000
EMPLOYEES_MAX = 10_000_000
SCORE_LIMIT = 1_000_000
# budgets for user text quoted back in the outcome DM
NAME_BUDGET = 100
COMPANY_BUDGET = 100
REASON_BUDGET = 300

_FIELD_BLOCKS: dict[str, MqlBlock] = {
    "contact.name": MqlBlock.NAME,
    "contact.email": MqlBlock.EMAIL,
    "contact.title": MqlBlock.TITLE,
    "contact.phone": MqlBlock.PHONE,
    "company.name": MqlBlock.COMPANY,
    "company.industry": MqlBlock.INDUSTRY,
    "company.employees": MqlBlock.EMPLOYEES,
    "score": MqlBlock.SCORE,
    "source": MqlBlock.SOURCE,
    "note": MqlBlock.NOTE,
}
_ACTIVITY_BLOCKS: dict[str, MqlBlock] = {
    "type": MqlBlock.ACTIVITY_TYPE,
    "at": MqlBlock.ACTIVITY_DATE,
    "detail": MqlBlock.ACTIVITY_DETAIL,
}
_INTEGER = re.compile(r"[+-]?\d{1,12}")


class FieldProblem(Protocol):
    """An intake error naming a field (``bot.intake.FieldError``), as far as the modal cares."""

    @property
    def field(self) -> str: ...

    @property
    def message(self) -> str: ...


# ------------------------------------------------------------------------- the modal


def mql_modal(policy: Policy, t: Translator) -> dict[str, Any]:
    """The hand-off form: contact, company, score, source, behaviour rows and a note."""
    blocks: list[dict[str, Any]] = [
        _text_input(MqlBlock.NAME, t("mql_modal.name"), max_length=NAME_MAX, optional=False),
        input_block(
            MqlBlock.EMAIL,
            t("mql_modal.email"),
            {"type": "email_text_input", "action_id": MqlBlock.EMAIL.value},
            optional=True,
        ),
        _text_input(MqlBlock.TITLE, t("mql_modal.title"), max_length=TITLE_MAX),
        _text_input(MqlBlock.PHONE, t("mql_modal.phone"), max_length=PHONE_MAX),
        _text_input(MqlBlock.COMPANY, t("mql_modal.company"), max_length=COMPANY_MAX),
        _text_input(
            MqlBlock.INDUSTRY,
            t("mql_modal.industry"),
            max_length=INDUSTRY_MAX,
            hint=_industry_hint(policy, t),
        ),
        _number_input(MqlBlock.EMPLOYEES, t("mql_modal.employees"), 0, EMPLOYEES_MAX),
        _number_input(MqlBlock.SCORE, t("mql_modal.score"), -SCORE_LIMIT, SCORE_LIMIT),
        _text_input(
            MqlBlock.SOURCE,
            t("mql_modal.source"),
            max_length=SOURCE_MAX,
            initial_value=DEFAULT_SOURCE,
        ),
        divider(),
        section(f"*{t('mql_modal.behaviour')}*\n{t('mql_modal.behaviour_help')}"),
    ]
    criteria = _behaviour_criteria(policy)
    if criteria:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    plain_text(fit_plain(t("mql_modal.behaviour_criteria", criteria=criteria),
                                         2000))
                ],
            }
        )
    options = _activity_options(policy, t)
    for index in range(1, ACTIVITY_ROWS + 1):
        blocks += _activity_row(index, options, t)
    blocks += [
        divider(),
        _text_input(MqlBlock.NOTE, t("mql_modal.note"), max_length=NOTE_MAX, multiline=True),
    ]
    return modal(Callback.MQL_MODAL.value, t("mql_modal.modal_title"), t("mql_modal.cancel"),
                 blocks, submit=t("mql_modal.submit"))


def refusal_modal(t: Translator) -> dict[str, Any]:
    """What someone who may not hand off leads sees instead of the form."""
    return modal(Callback.MQL_REFUSED.value, t("mql_modal.modal_title"), t("mql_modal.close"),
                 [section(t("mql_modal.not_allowed"))])


def _activity_row(index: int, options: list[dict[str, Any]], t: Translator) -> list[dict[str, Any]]:
    type_id = row(MqlBlock.ACTIVITY_TYPE, index)
    date_id = row(MqlBlock.ACTIVITY_DATE, index)
    return [
        input_block(
            type_id,
            t("mql_modal.activity_type", number=index),
            {
                "type": "static_select",
                "action_id": type_id,
                "placeholder": placeholder(t("mql_modal.activity_type_placeholder")),
                "options": options,
            },
            optional=True,
        ),
        input_block(
            date_id,
            t("mql_modal.activity_date", number=index),
            {"type": "datepicker", "action_id": date_id},
            optional=True,
            hint=t("mql_modal.activity_date_hint"),
        ),
        _text_input(
            row(MqlBlock.ACTIVITY_DETAIL, index),
            t("mql_modal.activity_detail", number=index),
            max_length=DETAIL_MAX,
        ),
    ]


def _activity_options(policy: Policy, t: Translator) -> list[dict[str, Any]]:
    """One option per activity type the MQL definition counts, then "other"."""
    labels: dict[str, list[str]] = {}
    for rule in policy.mql_definition.behaviour.rules:
        if len(rule.type) > OPTION_VALUE_LIMIT:
            continue  # cannot be an option value; the webhook and CSV still accept it
        names = labels.setdefault(rule.type, [])
        if rule.label and rule.label not in names:
            names.append(rule.label)
    options = []
    for kind, names in list(labels.items())[: MAX_OPTIONS - 1]:
        label = activity_label(kind, None, t)  # its name, never the raw code (SPEC 8)
        others = [n for n in names if n != label]
        text = (t("mql_modal.activity_option", name=label, labels=" / ".join(others))
                if others else label)
        options.append(option(kind, text))
    if OTHER_TYPE not in labels:
        options.append(option(OTHER_TYPE, t("mql_modal.activity_other")))
    return options


def _behaviour_criteria(policy: Policy) -> str:
    behaviour = policy.mql_definition.behaviour
    parts = []
    for rule in behaviour.rules:
        text = rule.label or rule.type
        if rule.detail_contains:
            text += f" ({rule.type} ∋ “{rule.detail_contains}”)"
        if rule.min_count > 1:
            text += f" ×{rule.min_count}"
        parts.append(text)
    return ", ".join(parts)


def _industry_hint(policy: Policy, t: Translator) -> str | None:
    industries = policy.mql_definition.firmographics.industries
    if not industries:
        return None
    return fit_plain(t("mql_modal.industry_hint", industries=", ".join(industries)), HINT_LIMIT)


def _text_input(
    block_id: str,
    label: str,
    *,
    max_length: int,
    optional: bool = True,
    multiline: bool = False,
    initial_value: str | None = None,
    hint: str | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": block_id,
        "max_length": max_length,
    }
    if multiline:
        element["multiline"] = True
    if initial_value is not None:
        element["initial_value"] = initial_value
    return input_block(block_id, label, element, optional=optional, hint=hint)


def _number_input(block_id: str, label: str, low: int, high: int) -> dict[str, Any]:
    element = {
        "type": "number_input",
        "action_id": block_id,
        "is_decimal_allowed": False,
        "min_value": str(low),
        "max_value": str(high),
    }
    return input_block(block_id, label, element, optional=True)


# ------------------------------------------------------------------------- reading it back


@dataclass(frozen=True)
class MqlForm:
    """A submitted modal as the canonical intake payload, and where each field came from."""

    data: dict[str, Any]
    #: problems found before the intake contract is even checked: {block_id: message}
    problems: dict[str, str] = field(default_factory=dict)
    #: the modal row each entry of ``data["activities"]`` came from (1-based)
    activity_rows: tuple[int, ...] = ()

    def block_for(self, field_path: str) -> str:
        """The input block to show an intake error for ``field_path`` on (default: the name)."""
        if field_path in _FIELD_BLOCKS:
            return _FIELD_BLOCKS[field_path].value
        parts = field_path.split(".")
        if parts[0] == "activities" and len(parts) >= 2 and parts[1].isdigit():
            position = int(parts[1])
            if position < len(self.activity_rows):
                block = _ACTIVITY_BLOCKS.get(parts[2] if len(parts) > 2 else "type")
                return row(block or MqlBlock.ACTIVITY_TYPE, self.activity_rows[position])
        return MqlBlock.NAME.value

    def errors_for(self, errors: Iterable[FieldProblem], t: Translator) -> dict[str, str]:
        """``{block_id: message}`` for ``ack(response_action="errors")``; first error wins."""
        shown: dict[str, str] = {}
        for error in errors:
            shown.setdefault(self.block_for(error.field), error_text(error.message, t))
        return shown


def read_form(
    values: Mapping[str, Mapping[str, Mapping[str, Any]]],
    *,
    view_id: str,
    user_id: str,
    policy: Policy,
    now: datetime,
    t: Translator,
) -> MqlForm:
    """``view.state.values`` → the intake payload; a double submit keeps ``external_id``."""
    problems: dict[str, str] = {}
    activities: list[dict[str, Any]] = []
    rows: list[int] = []
    today = now.astimezone(policy.tz).date()
    for index in range(1, ACTIVITY_ROWS + 1):
        type_id = row(MqlBlock.ACTIVITY_TYPE, index)
        date_id = row(MqlBlock.ACTIVITY_DATE, index)
        kind = _value(values, type_id)
        picked = _value(values, date_id)
        detail = _value(values, row(MqlBlock.ACTIVITY_DETAIL, index))
        if not (kind or picked or detail):
            continue
        if not kind:
            problems[type_id] = t("mql_modal.error.activity_type")
            continue
        at = now
        if picked:
            try:
                day = date.fromisoformat(picked)
            except ValueError:
                problems[date_id] = t("mql_modal.error.date")
                continue
            if day > today:
                problems[date_id] = t("mql_modal.error.future_date")
                continue
            if day < EARLIEST_DAY:
                problems[date_id] = t("mql_modal.error.too_old")
                continue
            at = datetime.combine(day, ACTIVITY_TIME, tzinfo=policy.tz)
        activity: dict[str, Any] = {"type": kind, "at": at.isoformat()}
        if detail:
            activity["detail"] = detail
        activities.append(activity)
        rows.append(index)

    data: dict[str, Any] = {
        "external_id": f"slack:{view_id}",
        "source": _value(values, MqlBlock.SOURCE) or DEFAULT_SOURCE,
        "qualified_at": now.isoformat(),
        "contact": _present(
            name=_value(values, MqlBlock.NAME) or "",
            email=_value(values, MqlBlock.EMAIL),
            title=_value(values, MqlBlock.TITLE),
            phone=_value(values, MqlBlock.PHONE),
        ),
        "company": _present(
            name=_value(values, MqlBlock.COMPANY),
            industry=_value(values, MqlBlock.INDUSTRY),
            employees=_number(_value(values, MqlBlock.EMPLOYEES)),
        ),
        "activities": activities,
        "submitted_by": user_id,
    }
    score = _number(_value(values, MqlBlock.SCORE))
    if score is not None:
        data["score"] = score
    note = _value(values, MqlBlock.NOTE)
    if note:
        data["note"] = note
    return MqlForm(data, problems, tuple(rows))


def _value(values: Mapping[str, Mapping[str, Mapping[str, Any]]], block_id: str) -> str | None:
    """The input's value as text, whatever element it is; blank counts as not given."""
    element = (values.get(str(block_id)) or {}).get(str(block_id)) or {}
    raw: Any = element.get("value")
    if raw is None and isinstance(element.get("selected_option"), Mapping):
        raw = element["selected_option"].get("value")
    if raw is None:
        raw = element.get("selected_date")
    if raw is None:
        return None
    text = str(raw).strip()
    return text or None


def _number(text: str | None) -> int | str | None:
    """An integer, or the text as sent so the intake contract names what is wrong with it."""
    if text is None:
        return None
    return int(text) if _INTEGER.fullmatch(text) else text


def _present(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^required$|at least 1 character"), "mql_modal.error.required"),
    (re.compile(r"at most (?P<limit>\d+) character"), "mql_modal.error.too_long"),
    (re.compile(r"greater than or equal to (?P<limit>-?\d+)"), "mql_modal.error.at_least"),
    (re.compile(r"less than or equal to (?P<limit>-?\d+)"), "mql_modal.error.at_most"),
    (re.compile(r"valid integer"), "mql_modal.error.integer"),
    (re.compile(r"more than a day ahead"), "mql_modal.error.future_date"),
    (re.compile(r"before 2000-01-01"), "mql_modal.error.too_old"),
    (re.compile(r"NUL characters"), "mql_modal.error.nul"),
)


def error_text(message: str, t: Translator) -> str:
    """An intake validation message in the reader's language (as it came when unknown)."""
    for pattern, key in _MESSAGES:
        match = pattern.search(message)
        if match:
            return t(key, **match.groupdict())
    return fit_plain(message, 200)


# ------------------------------------------------------------------------- the outcome DM


def outcome_message(
    *,
    status: str,
    lead_id: int,
    reasons: Iterable[str | Mapping[str, Any]],
    name: str,
    company: str | None,
    channel: str,
    t: Translator,
) -> dict[str, Any]:
    """``{"text", "blocks"}`` telling the marketer what became of the lead they handed off."""
    who = f"*{fit_mrkdwn(name, NAME_BUDGET)}*"
    if company:
        who += f" ({fit_mrkdwn(company, COMPANY_BUDGET)})"
    if status == "queued":
        text = t("mql_modal.outcome.queued", lead=who, channel=f"<#{channel}>")
    elif status == "duplicate":
        text = t("mql_modal.outcome.duplicate", lead=who)
    else:
        # each reason escaped piecewise by criterion_text, so cut as escaped text
        lines = [f"• {fit_escaped(criterion_text(reason, None, t), REASON_BUDGET)}"
                 for reason in reasons]
        text = t("mql_modal.outcome.not_qualified", lead=who)
        if lines:
            text += "\n" + "\n".join(lines)
    text = fit_escaped(text, SECTION_LIMIT)
    return {
        "text": text,
        "blocks": [section(text), context(t("mql_modal.outcome.footer", lead_id=lead_id))],
    }
