"""Typed button values and modal metadata: what the views write is read back as written, and
nothing else is (the listeners' end-to-end refusals are in the tests of each button)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_bolt import App

from bot.action_payloads import (
    ACTION_PAYLOADS,
    MAX_AGREEMENT_PAGE,
    MAX_ID,
    MODAL_PAYLOADS,
    SNOOZE_MINUTES,
    UNNAMED_MODALS,
    VALUELESS_ACTIONS,
    AgreementPage,
    AgreementPayload,
    LeadPayload,
    ProposalPayload,
    SnoozePayload,
)
from bot.errors import NotFound, UnknownProposal
from bot.ids import Action, Callback
from bot.reminders.plan import Promise
from handlers.modals import GatedModal
from handlers.submissions import ModalSubmission, at

ids = st.integers(min_value=0, max_value=MAX_ID)


def test_every_action_and_modal_says_what_it_carries() -> None:
    assert set(ACTION_PAYLOADS) | VALUELESS_ACTIONS == set(Action)
    assert not set(ACTION_PAYLOADS) & VALUELESS_ACTIONS
    assert set(MODAL_PAYLOADS) | UNNAMED_MODALS == set(Callback)
    assert not set(MODAL_PAYLOADS) & UNNAMED_MODALS


def test_the_texts_are_the_ones_clients_already_hold() -> None:
    """Messages posted before a release keep their buttons working."""
    assert LeadPayload(42).encode() == "42"
    assert SnoozePayload(42, Promise.FIRST_CONTACT, 30).encode() == "42:first_contact:30"
    assert ProposalPayload(7).encode() == "7"
    assert AgreementPayload(0).encode() == "0"
    assert AgreementPage(3, 1).encode() == '{"version":3,"page":1}'


@given(ids)
def test_ids_read_back_as_written(value: int) -> None:
    assert LeadPayload.parse(LeadPayload(value).encode()) == LeadPayload(value)
    assert ProposalPayload.parse(ProposalPayload(value).encode()) == ProposalPayload(value)
    assert AgreementPayload.parse(AgreementPayload(value).encode()) == AgreementPayload(value)


@given(st.integers(min_value=1, max_value=MAX_ID), st.sampled_from(list(Promise)),
       st.sampled_from(SNOOZE_MINUTES))
def test_a_snooze_reads_back_as_written(lead_id: int, clock: Promise, minutes: int) -> None:
    payload = SnoozePayload(lead_id, clock, minutes)
    assert SnoozePayload.parse(payload.encode()) == payload


@given(ids, st.integers(min_value=0, max_value=MAX_AGREEMENT_PAGE - 1))
def test_a_page_reads_back_as_written(version: int, page: int) -> None:
    assert AgreementPage.parse(AgreementPage(version, page).encode()) == AgreementPage(version,
                                                                                       page)


@pytest.mark.parametrize("forged", [
    "", " 1", "1 ", "+1", "-1", "1.0", "²", "١", "0x1", str(MAX_ID + 1), "9" * 11, None, 1.0,
    True, ["1"], "1:2",
])
def test_forged_ids_are_refused(forged: object) -> None:
    assert LeadPayload.parse(forged) is None
    assert ProposalPayload.parse(forged) is None
    assert AgreementPayload.parse(forged) is None


def test_a_lead_id_may_also_come_as_a_number_but_a_version_may_not() -> None:
    assert LeadPayload.parse(5) == LeadPayload(5)
    assert ProposalPayload.parse(5) is None


@pytest.mark.parametrize("forged", [
    "1:first_contact:600", "1:first_contact:0", "0:first_contact:30", "1:bedtime:30",
    "1:first_contact", "1:first_contact:30:x", "x:first_contact:30", "1:first_contact:thirty",
    "", None,
])
def test_forged_snoozes_are_refused(forged: object) -> None:
    assert SnoozePayload.parse(forged) is None


@pytest.mark.parametrize("forged", [
    '{"version":1}', '{"version":1,"page":1,"x":0}', '{"version":true,"page":0}',
    '{"version":1,"page":-1}', f'{{"version":1,"page":{MAX_AGREEMENT_PAGE}}}',
    f'{{"version":{MAX_ID + 1},"page":0}}', '{"version":"1","page":0}', "[1,0]", "{", "",
    None, '{"version":1,"page":1}' + " " * 200,
])
def test_forged_pages_are_refused(forged: object) -> None:
    assert AgreementPage.parse(forged) is None


def test_a_forged_value_is_refused_with_the_kinds_answer() -> None:
    with pytest.raises(NotFound) as lead:
        LeadPayload.require("x")
    assert type(lead.value) is NotFound
    with pytest.raises(UnknownProposal):
        ProposalPayload.require("x", "private_metadata")
    with pytest.raises(NotFound):
        SnoozePayload.require("1:first_contact:600")
    assert LeadPayload.require("12") == LeadPayload(12)


def test_a_listener_is_registered_only_for_what_its_action_or_modal_carries() -> None:
    app = App(signing_secret="x", token="xoxb-x", token_verification_enabled=False)
    button = GatedModal("Approve", LeadPayload, allow=lambda *_: None, view=lambda *_: {})
    with pytest.raises(ValueError, match=r"agreement\.approve"):
        button.register(app, Action.PROPOSAL_APPROVE)
    submission = ModalSubmission("change request", LeadPayload, read=lambda *_: (None, {}),
                                 decide=lambda _: None, block=at(Action.CLAIM))
    with pytest.raises(ValueError, match=r"agreement\.changes\.modal"):
        submission.register(app, Callback.PROPOSAL_CHANGES_MODAL)
    button.register(app, Action.LOG_TOUCH)
    submission.register(app, Callback.TOUCH_MODAL)
