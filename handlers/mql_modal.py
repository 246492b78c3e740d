"""``/mql`` and the "Hand off an MQL" shortcut: a marketer hands off a lead by hand (SPEC 3).

Both open the same modal; submitting it goes through the shared intake path, so a typed lead
is judged and handed off like any other, and like every modal through ``ModalSubmission``:
who may is checked on every step on the server (the modal a client submits proves nothing),
and a replayed submission is answered and changes nothing (``bot.submissions``).
``trigger_id`` expires 3 s after Slack sends it, so listeners ack at once and open the modal
before anything slow.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.action_payloads import NoSubject
from bot.ids import Callback, Command, MqlBlock, Shortcut
from bot.intake import InvalidLead, MqlIn, parse_data
from bot.intake import accept as accept_lead
from bot.lifecycle import Surface
from bot.roles import Role
from bot.services import Services
from bot.views.mql_modal import mql_modal, outcome_message, read_form, refusal_modal
from handlers.errors import reported
from handlers.submissions import Filled, Gate, ModalSubmission, Submitted, at
from storage.outbox_kind import OutboxKind

log = logging.getLogger(__name__)

#: who may hand off a lead by hand
MAY_HAND_OFF: tuple[Role, ...] = ("marketers", "managers")


def _may_hand_off(services: Services, user_id: str) -> bool:
    return services.directory.has_role(user_id, *MAY_HAND_OFF)


def register(app: App) -> None:
    app.command(Command.MQL.value)(open_from_command)
    app.shortcut(Shortcut.MQL_HANDOFF.value)(open_from_shortcut)
    SUBMISSION.register(app, Callback.MQL_MODAL)


def open_from_command(
    ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext,
    services: Services,
) -> None:
    ack()
    with reported(body, context):
        user_id = body["user_id"]
        if not _may_hand_off(services, user_id):
            respond(response_type="ephemeral", text=services.t("mql_modal.not_allowed"))
            return
        if not _open(client, body["trigger_id"], mql_modal(services.policy, services.t)):
            respond(response_type="ephemeral", text=services.t("mql_modal.expired"))


def open_from_shortcut(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, services: Services
) -> None:
    """A global shortcut has no channel to answer in, so a refusal is a modal too."""
    ack()
    with reported(body, context):
        user_id = body["user"]["id"]
        allowed = _may_hand_off(services, user_id)
        view = mql_modal(services.policy, services.t) if allowed else refusal_modal(services.t)
        if not _open(client, body["trigger_id"], view):
            text = services.t("mql_modal.expired")
            _queue_dm(services, f"mql-expired:{body['trigger_id']}", user_id, {"text": text})


def _open(client: WebClient, trigger_id: str, view: dict[str, Any]) -> bool:
    """Open ``view``; False when Slack says the trigger expired (the user can simply retry)."""
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        if exc.response.get("error") == "expired_trigger_id":
            log.info("views.open: the trigger expired before the modal could open")
            return False
        raise
    return True


def _read(filled: Filled) -> tuple[MqlIn | None, dict[str, str]]:
    """The form as the intake payload; its problems and the intake contract's, per input."""
    services = filled.services
    now = services.clock.now()
    form = read_form(filled.values, view_id=filled.view_id, user_id=filled.user_id,
                     policy=services.policy, now=now, t=services.t)
    problems = dict(form.problems)
    try:
        return parse_data(form.data, now=now), problems
    except InvalidLead as exc:
        for block_id, message in form.errors_for(exc.errors, services.t).items():
            problems.setdefault(block_id, message)
        return None, problems


def _hand_off(s: Submitted[NoSubject, MqlIn | None]) -> None:
    """Take the lead in once the modal is closed, then tell the marketer what became of it."""
    mql = s.form
    assert mql is not None  # _read gave problems otherwise
    services = s.services
    result = accept_lead(services, mql, surface=Surface.MODAL, actor=s.user_id,
                         submission=s.key)
    if result is None:
        return  # a replayed submission: its lead and its message are already on their way
    message = outcome_message(
        status=result.status,
        lead_id=result.lead_id,
        reasons=result.reason_codes or result.reasons,
        name=mql.contact.name,
        company=mql.company.name if mql.company else None,
        channel=services.policy.channels.handoff,
        t=services.t,
    )
    _queue_dm(services, f"mql-modal:{s.view_id}", s.user_id, message, lead_id=result.lead_id)


#: the modal is only a form: the intake decides, after the ack (``bot.intake.accept``)
SUBMISSION = ModalSubmission(
    "hand-off", NoSubject, read=_read, block=at(MqlBlock.NAME), after=_hand_off,
    gate=Gate(allow=_may_hand_off, refused=refusal_modal, reason="not a marketer or manager"),
)


def _queue_dm(
    services: Services,
    key: str,
    user_id: str,
    message: dict[str, Any],
    *,
    lead_id: int | None = None,
) -> None:
    """A DM the bot owes the user goes through the outbox: sent once, even if Slack is down."""
    with services.unit_of_work() as uow:
        uow.outbox.enqueue(
            key=key,
            kind=OutboxKind.MESSAGE,
            now=services.clock.now(),
            lead_id=lead_id,
            channel=user_id,
            payload={"method": "chat.postMessage", "args": {"channel": user_id, **message}},
        )
        uow.commit()
    services.outbox_ready.set()
