"""Deal outcomes (SPEC 10): the service every surface records through, on both databases."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.lifecycle import Surface
from bot.outcomes import InvalidOutcome, OutcomeInput, loss_reason, parse_data, record_outcome
from bot.policy import Policy, PolicyError, parse_policy
from bot.services import Services
from storage.models import Lead, LeadStatus
from tests.harness import FakeSlack
from tests.harness.bot_env import make_services
from tests.harness.databases import Database
from tests.harness.leads import lead_row, make_lead, outcome_events, row_counts
from tests.harness.policies import EXAMPLE_POLICY
from tests.harness.racing import race

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


@pytest.fixture
def services(fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock) -> Services:
    """Both databases (PostgreSQL skipped without TEST_DATABASE_URL)."""
    return make_services(fake_slack, db, policy, clock)


def won(external_id: str = "crm-1", **values: object) -> OutcomeInput:
    fields: dict[str, object] = {"outcome": "won", "external_id": external_id,
                                 "amount": Decimal(1200000), "currency": "JPY",
                                 "deal_id": "crm-deal-77"}
    fields.update(values)
    return OutcomeInput(**fields)  # type: ignore[arg-type]


def record(services: Services, data: OutcomeInput, source: str = "api") -> str:
    return record_outcome(services, data, source=source,  # type: ignore[arg-type]
                          surface=Surface.WEBHOOK).status


def test_a_won_deal_is_recorded_on_the_sql_with_an_event(services: Services) -> None:
    lead_id = make_lead(services, "crm-1")
    closed = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    result = record_outcome(services, won(closed_at=closed), source="api",
                            surface=Surface.WEBHOOK)
    assert result.as_json() == {"lead_id": lead_id, "status": "recorded"}
    lead = lead_row(services, lead_id)
    assert lead.status == LeadStatus.WON
    assert (lead.deal_id, lead.deal_amount, lead.deal_currency, lead.closed_at) == (
        "crm-deal-77", Decimal(1200000), "JPY", closed)
    assert lead.outcome_source == "api" and lead.loss_reason is None
    assert outcome_events(services, lead_id) == [("win", "won")]


def test_a_repeat_of_the_same_deal_and_outcome_is_a_duplicate_writing_nothing(
    services: Services,
) -> None:
    make_lead(services, "crm-1")
    assert record(services, won()) == "recorded"
    before = row_counts(services)
    assert record(services, won()) == "duplicate"
    assert record(services, won(amount=None, currency=None, deal_id=None)) == "duplicate"
    assert row_counts(services) == before


def test_a_later_outcome_corrects_an_earlier_one_each_with_its_event(services: Services) -> None:
    lead_id = make_lead(services, "crm-1")
    assert record(services, won()) == "recorded"
    assert record(services, won(outcome="lost", amount=None, currency=None,
                                reason="Competitor", note="chose the cheaper plan")) == "recorded"
    lead = lead_row(services, lead_id)
    assert lead.status == LeadStatus.LOST
    # the same deal: its amount is kept; a loss reason and note are recorded
    assert (lead.deal_amount, lead.deal_currency) == (Decimal(1200000), "JPY")
    assert (lead.loss_reason, lead.loss_reason_text, lead.loss_note) == (
        "competitor", None, "chose the cheaper plan")
    assert record(services, won(outcome="open", amount=None, currency=None)) == "recorded"
    lead = lead_row(services, lead_id)
    assert lead.status == LeadStatus.CONVERTED
    assert lead.closed_at is None and lead.loss_reason is None and lead.loss_note is None
    assert record(services, won(deal_id="crm-deal-78", amount=Decimal("5000.5"),
                                currency="USD")) == "recorded"
    lead = lead_row(services, lead_id)
    assert (lead.status, lead.deal_id, lead.deal_amount, lead.deal_currency) == (
        LeadStatus.WON, "crm-deal-78", Decimal("5000.5"), "USD")
    assert lead.closed_at == NOW, "no closed_at: closed when the bot heard it"
    assert outcome_events(services, lead_id) == [
        ("win", "won"), ("lose", "lost"), ("reopen", "converted"), ("win", "won")]


def test_an_open_deal_with_an_amount_is_recorded_once_as_pipeline(services: Services) -> None:
    lead_id = make_lead(services, "crm-1")
    opened = won(outcome="open")
    assert record(services, opened) == "recorded"
    lead = lead_row(services, lead_id)
    assert (lead.status, lead.deal_amount, lead.closed_at) == (
        LeadStatus.CONVERTED, Decimal(1200000), None)
    assert record(services, opened) == "duplicate"


def test_unknown_and_never_converted_leads_write_nothing(services: Services) -> None:
    posted = make_lead(services, "crm-posted", converted=False, status=LeadStatus.POSTED)
    before = row_counts(services)
    assert record_outcome(services, won("nobody"), source="api",
                          surface=Surface.WEBHOOK).as_json() == {
        "lead_id": None, "status": "unknown_lead"}
    for far in (10**9, 2**62):  # beyond the id column's range on PostgreSQL too
        assert record_outcome(services, OutcomeInput("won", lead_id=far), source="api",
                              surface=Surface.WEBHOOK).status == "unknown_lead"
    result = record_outcome(services, won("crm-posted"), source="api", surface=Surface.WEBHOOK)
    assert result.as_json() == {"lead_id": posted, "status": "not_converted"}
    assert row_counts(services) == before
    assert lead_row(services, posted).deal_amount is None


def test_a_lead_is_found_by_its_id_or_its_contact(services: Services) -> None:
    by_id = make_lead(services, "crm-1")
    assert record(services, OutcomeInput("lost", lead_id=by_id)) == "recorded"
    older = make_lead(services, "hubspot:1:a", contact_key="hubspot:501")
    make_lead(services, "hubspot:1:b", contact_key="hubspot:501", converted=False)
    result = record_outcome(services, OutcomeInput("won", contact_key="hubspot:501"),
                            source="hubspot", surface=Surface.WEBHOOK)
    assert (result.lead_id, result.status) == (older, "recorded"), "the person's SQL"


def test_an_unknown_loss_reason_is_other_with_the_words_kept(
    services: Services, policy: Policy
) -> None:
    assert loss_reason("Lost Contact", policy) == ("lost_contact", None)
    assert loss_reason("no-decision", policy) == ("no_decision", None)
    assert loss_reason("予算凍結", policy) == ("other", "予算凍結")
    lead_id = make_lead(services, "crm-1")
    assert record(services, won(outcome="lost", reason="budget frozen")) == "recorded"
    lead = lead_row(services, lead_id)
    assert (lead.loss_reason, lead.loss_reason_text) == ("other", "budget frozen")


def test_amounts_stay_exact_and_are_summed_per_currency(services: Services) -> None:
    amounts = [("a", "0.1", "USD"), ("b", "0.2", "USD"), ("c", "99999999999.99", "USD"),
               ("d", "1200000", "JPY"), ("e", "0.001", "KWD")]
    for key, amount, currency in amounts:
        make_lead(services, key)
        assert record(services, won(key, amount=Decimal(amount), currency=currency,
                                    deal_id=f"deal-{key}")) == "recorded"
    with services.unit_of_work() as uow:
        sums = dict(uow.session.execute(
            select(Lead.deal_currency, func.sum(Lead.deal_amount)).group_by(Lead.deal_currency)
        ).all())
    assert sums == {"USD": Decimal("100000000000.29"), "JPY": Decimal(1200000),
                    "KWD": Decimal("0.001")}
    assert all(isinstance(value, Decimal) for value in sums.values())


def test_twenty_concurrent_deliveries_of_one_outcome_record_it_once(
    services: Services,
) -> None:
    lead_id = make_lead(services, "crm-1")
    contest = race([lambda: record(services, won())] * 20)
    assert contest.errors == []
    statuses = contest.results
    assert sorted(statuses) == ["duplicate"] * 19 + ["recorded"]
    assert outcome_events(services, lead_id) == [("win", "won")]


def test_a_closed_deal_still_counts_as_an_sql_in_every_report(services: Services) -> None:
    from bot.reporting import metrics
    from bot.reporting.periods import month
    from bot.reporting.review import review_figures

    period = month(2026, 11, services.policy.tz)
    for key in ("a", "b", "c"):
        make_lead(services, key)
    before = metrics.scorecard(services, services.policy, period)
    pack = review_figures(services, period)
    assert record(services, won("a")) == "recorded"
    assert record(services, won("b", outcome="lost", amount=None, currency=None,
                                deal_id=None)) == "recorded"
    after = metrics.scorecard(services, services.policy, period)
    assert (after.decided, after.converted) == (before.decided, before.converted) == (3, 3)
    assert after.cohort_converted == before.cohort_converted
    again = review_figures(services, period)
    assert [(b.key, b.decided, b.converted) for b in again.by_source] == [
        (b.key, b.decided, b.converted) for b in pack.by_source] == [("webinar", 3, 3)]


# ------------------------------------------------------------------------- the payload


def test_a_payload_is_read_exactly() -> None:
    data = parse_data({"external_id": " crm-１２ ", "outcome": "Won", "amount": 1234.5,
                       "currency": "usd", "closed_at": "2026-11-20T18:00:00+09:00",
                       "deal_id": "d-1", "note": "  signed  "}, now=NOW)
    assert data == OutcomeInput(
        outcome="won", external_id="crm-12", amount=Decimal("1234.5"), currency="USD",
        closed_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC), deal_id="d-1", note="signed")


@pytest.mark.parametrize(("payload", "field"), [
    ({"external_id": "x", "outcome": "won", "amount": 1.5, "currency": "JPY"}, "amount"),
    ({"external_id": "x", "outcome": "won", "amount": 10, "currency": "JYP"}, "currency"),
    ({"external_id": "x", "outcome": "won", "closed_at": "2099-01-01T00:00:00Z"}, "closed_at"),
    ({"external_id": "x", "outcome": "won", "ammount": 10}, "ammount"),
])
def test_a_bad_payload_names_its_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidOutcome) as info:
        parse_data(payload, now=NOW)
    assert [e.field for e in info.value.errors] == [field]


# ------------------------------------------------------------------------- the policy


def outcomes_policy(**section: object) -> Policy:
    data = tomllib.loads(EXAMPLE_POLICY.read_text(encoding="utf-8"))
    data["outcomes"] = section
    return parse_policy(data)


def test_outcome_settings_default_and_other_is_always_a_reason(policy: Policy) -> None:
    assert policy.outcomes.notify_marketing == ("won", "lost")
    assert "other" in policy.outcomes.loss_reasons
    assert outcomes_policy(loss_reasons=["price"]).outcomes.loss_reasons == ("price", "other")
    with pytest.raises(PolicyError, match=r"outcomes\.loss_reasons"):
        outcomes_policy(loss_reasons=["Bad Reason"])
    with pytest.raises(PolicyError, match=r"outcomes\.notify_marketing"):
        outcomes_policy(notify_marketing=["recycled"])


def test_outcomes_are_operational_not_part_of_the_agreement(policy: Policy) -> None:
    from bot.agreement.document import agreement_document

    changed = outcomes_policy(loss_reasons=["price"])
    assert agreement_document(changed).hash == agreement_document(policy).hash


def test_a_hubspot_stage_cannot_be_both_won_and_lost() -> None:
    data = tomllib.loads(EXAMPLE_POLICY.read_text(encoding="utf-8"))
    assert parse_policy(data).adapters.hubspot.won_stages == ("closedwon",)
    data.setdefault("adapters", {})["hubspot"] = {"won_stages": ["x"], "lost_stages": ["x"]}
    with pytest.raises(PolicyError, match="both won and lost"):
        parse_policy(data)

