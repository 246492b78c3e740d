"""The rep's decision on a lead: the Convert to SQL and Recycle modals, and what they announce.

Pure functions. ``convert_modal``/``recycle_modal`` build the views and
``read_convert_form``/``read_recycle_form`` read a submission's ``state.values`` back, with one
message per wrong input for ``response_action: errors``. ``private_metadata`` only names the
lead: who may decide and whether the lead is still undecided are checked by
``bot.decisions`` from the database.

The Recycle modal is built with the lead's touch count, read from the database when the
button is pressed (the same single indexed read that decides whether the presser may act, so
it costs ``views.open`` nothing extra). The "fewer touches because…" input is only shown when
that count is below the agreed minimum, so a rep who did the follow-ups is not asked about
them. It is marked optional for Slack and enforced on submission from the database count:
touches only ever go up, so a touch logged while the modal was open can only lift the
requirement, and a forged submission without the input is still refused.

The announcements are what marketing reads in its feedback channel: which MQL became an SQL
(and how quickly sales got to it), or why a lead came back, with the rep's own words. Every
piece of user text is escaped and budgeted before it is assembled (``fit_mrkdwn``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.action_payloads import LeadPayload
from bot.currencies import format_money
from bot.i18n import Translator, format_number
from bot.ids import Callback, ConvertBlock, RecycleBlock
from bot.mrkdwn import escape
from bot.views.blocks import (
    CONTEXT_LIMIT,
    FALLBACK_LIMIT,
    OPTION_TEXT_LIMIT,
    OPTION_VALUE_LIMIT,
    context,
    fields_section,
    fit_escaped,
    fit_mrkdwn,
    fit_plain,
    input_block,
    modal,
    option,
    placeholder,
    plain_text,
    section,
    section_field,
)
from bot.views.labels import reason_label

__all__ = [
    "AMOUNT_MAX",
    "BANT",
    "NOTE_MAX",
    "ConvertForm",
    "RecycleForm",
    "business_duration",
    "convert_modal",
    "converted_announcement",
    "parse_amount",
    "read_convert_form",
    "read_recycle_form",
    "reason_label",
    "recycle_modal",
    "recycled_announcement",
    "touches_text",
]

#: the SQL confirmations, in the order they are shown and stored
BANT = ("budget", "authority", "need", "timeline")
#: longest note (and "fewer touches because…" note) kept, in characters
NOTE_MAX = 3000
#: a sanity bound on the amount; more is a typo, not a deal
AMOUNT_MAX = Decimal("1e15")
AMOUNT_DECIMALS = 2
#: Slack's limit on a select's options (the others: ``bot.views.blocks``)
SELECT_OPTIONS_MAX = 100
# our own budgets, so an announcement stays readable
NAME_BUDGET = 200
NOTE_BUDGET = 2800
VALUE_BUDGET = 300


@dataclass(frozen=True)
class ConvertForm:
    bant: tuple[str, ...]
    amount: int | float | None
    note: str | None
    #: ``{block_id: message}`` for ``response_action: errors``
    problems: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecycleForm:
    reason: str | None
    note: str | None
    fewer_touches_note: str | None
    #: whether the submission had the "fewer touches because…" input at all
    has_fewer_touches_input: bool
    problems: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------- convert


def convert_modal(lead_id: int, bant_required: tuple[str, ...], t: Translator) -> dict[str, Any]:
    """The Convert to SQL modal for lead ``lead_id``: BANT checkboxes, amount, note."""
    required = [b for b in BANT if b in bant_required]
    options = []
    for item in BANT:
        choice = option(item, t(f"convert.bant_item.{item}"))
        if item in required:
            choice["description"] = plain_text(fit_plain(t("convert.required"),
                                                         OPTION_TEXT_LIMIT))
        options.append(choice)
    if required:
        hint = t("convert.bant_hint", items=_bant_list(required, t))
    else:
        hint = t("convert.bant_hint_none")
    blocks = [
        input_block(ConvertBlock.BANT.value, t("convert.bant_label"), {
            "type": "checkboxes", "action_id": ConvertBlock.BANT.value, "options": options,
        }, optional=not required, hint=hint),
        input_block(ConvertBlock.AMOUNT.value, t("convert.amount"), {
            "type": "number_input", "action_id": ConvertBlock.AMOUNT.value,
            "is_decimal_allowed": True, "min_value": "0",
        }, optional=True, hint=t("convert.amount_hint")),
        input_block(ConvertBlock.NOTE.value, t("convert.note"), {
            "type": "plain_text_input", "action_id": ConvertBlock.NOTE.value,
            "multiline": True, "max_length": NOTE_MAX,
        }, optional=True),
    ]
    return _modal(Callback.CONVERT_MODAL.value, lead_id, "convert", blocks, t)


def read_convert_form(
    values: dict[str, Any], bant_required: tuple[str, ...], t: Translator
) -> ConvertForm:
    """The submitted confirmations, amount and note, with a message per block that is wrong."""
    element = _element(values, ConvertBlock.BANT.value)
    ticked = {str((o or {}).get("value")) for o in element.get("selected_options") or []}
    bant = tuple(b for b in BANT if b in ticked)  # unknown values are dropped, not stored
    problems: dict[str, str] = {}
    missing = [b for b in BANT if b in bant_required and b not in bant]
    if missing:
        problems[ConvertBlock.BANT.value] = t("convert.error.bant_missing",
                                              items=_bant_list(missing, t))
    amount: int | float | None = None
    raw_amount = _text(values, ConvertBlock.AMOUNT.value)
    if raw_amount is not None:
        try:
            amount = parse_amount(raw_amount)
        except ValueError:
            problems[ConvertBlock.AMOUNT.value] = t("convert.error.amount")
    note = _text(values, ConvertBlock.NOTE.value)
    if note is not None and len(note) > NOTE_MAX:
        problems[ConvertBlock.NOTE.value] = t("convert.error.note_too_long", limit=NOTE_MAX)
    return ConvertForm(bant, amount, note, problems)


def parse_amount(text: str) -> int | float:
    """A deal amount: a finite number ≥ 0 with at most two decimals; ``ValueError`` otherwise.

    Kept as a JSON number (an ``int`` when whole) so reports can add amounts up.
    """
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not value.is_finite() or value < 0 or value >= AMOUNT_MAX:
        raise ValueError("out of range")
    if value != value.quantize(Decimal(1).scaleb(-AMOUNT_DECIMALS)):
        raise ValueError("too many decimals")
    if value == value.to_integral():
        return int(value)
    return float(value)


def _bant_list(items: list[str], t: Translator) -> str:
    return t("convert.list_separator").join(t(f"convert.bant_item.{b}") for b in items)


# ---------------------------------------------------------------------------- recycle


def recycle_modal(
    lead_id: int,
    reasons: tuple[str, ...],
    touch_count: int,
    min_touches: int,
    t: Translator,
) -> dict[str, Any]:
    """The Recycle modal: a reason from the policy's list, a note, and — when fewer touches
    than agreed were logged — why the rep is recycling early."""
    options = [option(code, reason_label(code, t))
               for code in reasons[:SELECT_OPTIONS_MAX] if len(code) <= OPTION_VALUE_LIMIT]
    count, minimum = format_number(touch_count, t.language), format_number(min_touches,
                                                                            t.language)
    blocks: list[dict[str, Any]] = [
        input_block(RecycleBlock.REASON.value, t("recycle.reason"), {
            "type": "static_select", "action_id": RecycleBlock.REASON.value,
            "options": options,
            "placeholder": placeholder(t("recycle.choose")),
        }),
        input_block(RecycleBlock.NOTE.value, t("recycle.note"), {
            "type": "plain_text_input", "action_id": RecycleBlock.NOTE.value,
            "multiline": True, "max_length": NOTE_MAX,
        }, optional=True, hint=t("recycle.note_hint")),
    ]
    if touch_count < min_touches:
        blocks.append(input_block(RecycleBlock.FEWER_TOUCHES.value,
                             t("recycle.fewer_touches", min=minimum), {
            "type": "plain_text_input", "action_id": RecycleBlock.FEWER_TOUCHES.value,
            "multiline": True, "max_length": NOTE_MAX,
        }, optional=True, hint=t("recycle.fewer_touches_hint", count=count, min=minimum)))
    return _modal(Callback.RECYCLE_MODAL.value, lead_id, "recycle", blocks, t)


def read_recycle_form(
    values: dict[str, Any], reasons: tuple[str, ...], t: Translator
) -> RecycleForm:
    """The submitted reason and notes. Whether the "fewer touches" note is required depends
    on the lead's touch count in the database, so ``bot.decisions`` checks that part."""
    element = _element(values, RecycleBlock.REASON.value)
    selected = (element.get("selected_option") or {}).get("value")
    reason = str(selected) if selected is not None and str(selected) in reasons else None
    problems: dict[str, str] = {}
    if reason is None:
        problems[RecycleBlock.REASON.value] = t("recycle.error.reason")
    note = _text(values, RecycleBlock.NOTE.value)
    if note is not None and len(note) > NOTE_MAX:
        problems[RecycleBlock.NOTE.value] = t("recycle.error.note_too_long", limit=NOTE_MAX)
    fewer = _text(values, RecycleBlock.FEWER_TOUCHES.value)
    if fewer is not None and len(fewer) > NOTE_MAX:
        problems[RecycleBlock.FEWER_TOUCHES.value] = t("recycle.error.note_too_long",
                                                       limit=NOTE_MAX)
    has_fewer = RecycleBlock.FEWER_TOUCHES.value in values
    return RecycleForm(reason, note, fewer, has_fewer, problems)


# ----------------------------------------------------------------------- announcements


def business_duration(duration: timedelta, t: Translator) -> str:
    """``1 h 05 min`` / ``1時間5分``: business time, to the minute."""
    minutes = max(int(duration.total_seconds() // 60), 0)
    hours, rest = divmod(minutes, 60)
    if hours:
        return t("decide.duration_hm", hours=format_number(hours, t.language), minutes=rest)
    return t("decide.duration_m", minutes=rest)


def touch_count_value(count: int, t: Translator) -> str:
    """The value under a "Touches" label: the number alone ("Touches 1", not "Touches 1
    touch"); Japanese keeps its counter (接触回数 1回)."""
    return t("decide.touch_count_value", count=format_number(count, t.language))


def touches_text(count: int, t: Translator) -> str:
    key = "decide.touch" if count == 1 else "decide.touches"
    return t(key, count=format_number(count, t.language))


def converted_announcement(
    *,
    channel: str,
    lead_name: str,
    company: str | None,
    source: str | None,
    actor: str,
    touch_count: int,
    first_touch_after: timedelta | None,
    amount: int | float | None,
    thread: str | None,
    lead_id: int,
    t: Translator,
    currency: str | None = None,
) -> dict[str, Any]:
    """``chat.postMessage`` args telling marketing which MQL became an SQL, and how fast."""
    who = _who(lead_name, company, t)
    user = f"<@{escape(actor)}>"
    pairs = [
        (t("decide.field_first_touch"), _first_touch_value(first_touch_after, t)),
        (t("decide.field_touches"), touch_count_value(touch_count, t)),
        (t("decide.field_source"), _value(source, t)),
    ]
    if amount is not None:
        pairs.append((t("convert.field_amount"), _amount_text(amount, t, currency)))
    blocks: list[dict[str, Any]] = [
        section(t("convert.marketing", lead=who, user=user)),
        fields_section([section_field(label, value) for label, value in pairs]),
        _context(lead_id, thread, t),
    ]
    text = t("convert.marketing_fallback", lead=who, user=user)
    return {"channel": channel, "text": fit_escaped(text, FALLBACK_LIMIT), "blocks": blocks}


def recycled_announcement(
    *,
    channel: str,
    lead_name: str,
    company: str | None,
    source: str | None,
    actor: str,
    reason: str,
    touch_count: int,
    min_touches: int,
    note: str | None,
    fewer_touches_note: str | None,
    thread: str | None,
    lead_id: int,
    t: Translator,
) -> dict[str, Any]:
    """``chat.postMessage`` args giving a lead back to marketing: why, the rep's words, how
    many touches it got against the agreed minimum, and the way to the whole story."""
    who = _who(lead_name, company, t)
    user = f"<@{escape(actor)}>"
    label = fit_mrkdwn(reason_label(reason, t), VALUE_BUDGET)
    touches = t("recycle.touches_value", touches=touch_count_value(touch_count, t),
                min=format_number(min_touches, t.language))
    blocks: list[dict[str, Any]] = [
        section(t("recycle.marketing", lead=who, user=user, reason=label)),
        fields_section([
            section_field(t("decide.field_touches"), touches),
            section_field(t("decide.field_source"), _value(source, t)),
        ]),
    ]
    for heading, text in ((t("recycle.note_heading"), note),
                          (t("recycle.fewer_heading"), fewer_touches_note)):
        if text:
            blocks.append(section(f"*{heading}*\n{fit_mrkdwn(text, NOTE_BUDGET)}"))
    blocks.append(_context(lead_id, thread, t))
    text = t("recycle.marketing_fallback", lead=who, user=user, reason=label)
    return {"channel": channel, "text": fit_escaped(text, FALLBACK_LIMIT), "blocks": blocks}


def _who(name: str, company: str | None, t: Translator) -> str:
    name = fit_mrkdwn(name.strip() or t("handoff.unnamed"), NAME_BUDGET)
    company = (company or "").strip()
    if company:
        return t("decide.lead_company", name=name, company=fit_mrkdwn(company, NAME_BUDGET))
    return t("decide.lead", name=name)


def _first_touch_value(after: timedelta | None, t: Translator) -> str:
    if after is None:
        return t("decide.no_touch")
    return t("decide.first_touch_value", duration=business_duration(after, t))


def _amount_text(amount: int | float, t: Translator, currency: str | None = None) -> str:
    """In ``[outcomes] currency`` when the policy names one (``¥1,200,000``), else the bare
    number as entered."""
    if currency is not None:
        return format_money(Decimal(str(amount)), currency, t.language)
    digits = 0 if isinstance(amount, int) else AMOUNT_DECIMALS
    return format_number(amount, t.language, digits)


def _value(text: str | None, t: Translator) -> str:
    text = (text or "").strip()
    return fit_mrkdwn(text, VALUE_BUDGET) if text else t("handoff.not_given")


def _context(lead_id: int, thread: str | None, t: Translator) -> dict[str, Any]:
    parts = [t("decide.lead_number", lead_id=lead_id)]
    if thread:
        parts.append(f"<{thread}|{escape(t('decide.thread_link'))}>")
    return context(" · ".join(parts), CONTEXT_LIMIT)


# ------------------------------------------------------------------------- block kit


def _modal(
    callback_id: str, lead_id: int, prefix: str, blocks: list[dict[str, Any]], t: Translator
) -> dict[str, Any]:
    return modal(callback_id, t(f"{prefix}.modal_title"), t(f"{prefix}.cancel"), blocks,
                 submit=t(f"{prefix}.submit"), private_metadata=LeadPayload(lead_id).encode())


def _element(values: dict[str, Any], block_id: str) -> dict[str, Any]:
    """The state of the input whose block and action ids are both ``block_id``."""
    element = (values.get(block_id) or {}).get(block_id)
    return element if isinstance(element, dict) else {}


def _text(values: dict[str, Any], block_id: str) -> str | None:
    value = _element(values, block_id).get("value")
    return (str(value) if value is not None else "").strip() or None
