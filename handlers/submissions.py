"""Modal submissions, one way: read the form, decide before answering, act once.

Every modal is submitted the same way (``ModalSubmission``): a modal only some people may
submit at all asks who first (``Gate``), and refuses anyone else by replacing the modal; the
inputs are read and a wrong one keeps the modal open with its error; the metadata is read as
its typed payload (``bot.action_payloads``); ``decide`` then asks the service, from the
database, before Slack is answered, so any refusal — a forged id, a lead that changed, a
double submission — is shown in the still-open modal; only then is the submission
acknowledged, and ``after`` (if any) does the slower work with the modal closed. The
submission's key (``handlers.payloads.submission_key``) goes to the service that records the
effect, so a replay is acted on once (``bot.submissions``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from slack_bolt import Ack, App, BoltContext

from bot.action_payloads import MODAL_PAYLOADS, Payload
from bot.errors import DomainError, NotAllowed
from bot.i18n import Translator
from bot.ids import Callback
from bot.services import Services
from handlers.errors import reported
from handlers.logging_setup import without_text

log = logging.getLogger(__name__)

P = TypeVar("P", bound=Payload)
F = TypeVar("F")


@dataclass(frozen=True)
class Filled:
    """What ``read`` reads: the inputs, and who sent which view (a form whose data names
    them, as the MQL modal's does)."""

    services: Services
    values: dict[str, Any]
    user_id: str
    view_id: str


@dataclass(frozen=True)
class Gate:
    """Who may submit a modal at all, asked on every submission before its form is read.

    Anyone else sees ``refused`` in place of the modal (``response_action: update``): nothing
    they could correct in the form would change the answer, and the modal a client submits
    proves nothing about who opened it.
    """

    allow: Callable[[Services, str], bool]
    refused: Callable[[Translator], dict[str, Any]]
    #: why someone is refused, for the log
    reason: str


@dataclass(frozen=True)
class Submitted(Generic[P, F]):
    """One valid submission: who, what the modal named, the form, and its replay key."""

    services: Services
    user_id: str
    target: P
    form: F
    #: the key a service records with the effect (None when the view had no id)
    key: str | None
    view_id: str


def say(error: DomainError, t: Translator) -> str:
    """A domain error's own message."""
    return t(error.message_key, **error.params)


@dataclass(frozen=True)
class ModalSubmission(Generic[P, F]):
    """How one modal is submitted.

    ``gate`` (if any) is asked first; ``read`` gives the form and its problems (per block id:
    as many as there are); ``decide`` (if any) runs before the ack and raises a refusal, shown
    on the block ``block`` names, in ``refusal``'s words; ``after`` runs once the modal is
    closed.
    """

    what: str
    metadata: type[P]
    read: Callable[[Filled], tuple[F, Mapping[str, str]]]
    block: Callable[[Exception, F], StrEnum]
    decide: Callable[[Submitted[P, F]], object] | None = None
    refusal: Callable[[DomainError, Translator], str] = say
    after: Callable[[Submitted[P, F]], None] | None = None
    gate: Gate | None = None

    def register(self, app: App, callback: Callback) -> None:
        """Listen to ``callback``, whose metadata must be this kind (``MODAL_PAYLOADS``)."""
        if MODAL_PAYLOADS.get(callback) is not self.metadata:
            raise ValueError(f"{callback.value} does not carry a {self.metadata.__name__}")
        app.view(callback.value)(self.listener())

    def listener(self) -> Callable[..., None]:
        """The Bolt listener (a function: Bolt injects arguments by their names)."""
        spec = self

        def submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext,
                   services: Services) -> None:
            user_id = body["user"]["id"]
            if spec.gate is not None and not spec.gate.allow(services, user_id):
                log.warning("refused a %s by %s: %s", spec.what, user_id, spec.gate.reason)
                ack(response_action="update", view=spec.gate.refused(services.t))
                return
            filled = Filled(services, view.get("state", {}).get("values", {}), user_id,
                            str(view.get("id") or ""))
            form, problems = spec.read(filled)
            if problems:
                ack(response_action="errors", errors=dict(problems))
                return
            try:
                target = spec.metadata.require(view.get("private_metadata"), "private_metadata")
                submitted = Submitted(services, user_id, target, form,
                                      context.get("submission_key"), filled.view_id)
                if spec.decide is not None:
                    spec.decide(submitted)
            except Exception as error:
                text = refusal_text(error, spec.what, user_id, services.t, spec.refusal)
                ack(response_action="errors", errors={spec.block(error, form).value: text})
                return
            ack()
            if spec.after is not None:
                with reported(body, context):
                    spec.after(submitted)

        return submit


def refusal_text(error: Exception, what: str, user_id: str, t: Translator,
                 refusal: Callable[[DomainError, Translator], str] = say) -> str:
    """The inline message for a refused submission; unexpected errors are logged with an id.

    A submission has no ``response_url``: an error that escaped would leave Slack showing a
    generic failure, so every outcome is answered in the modal instead.
    """
    if isinstance(error, DomainError):
        level = logging.WARNING if isinstance(error, NotAllowed) else logging.INFO
        log.log(level, "refused a %s by %s: %s", what, user_id, error)
        return refusal(error, t)
    error_id = uuid.uuid4().hex[:8]
    log.error("unhandled error %s in a %s submission: %s", error_id, what, without_text(error))
    return t("error.generic", error_id=error_id)


def at(block: StrEnum) -> Callable[[Exception, Any], StrEnum]:
    """Every refusal on ``block``."""
    return lambda _error, _form: block
