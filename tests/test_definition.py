"""The MQL definition: every criterion, every reason, tiers and the definition's version."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bot.definition import Qualification, evaluate
from bot.policy import Policy, parse_policy
from storage.models import Activity, Lead

JST = timezone(timedelta(hours=9))
NOW = datetime(2026, 11, 24, 9, 15, tzinfo=JST)
EXAMPLE_ACTIVITIES = (
    ("page_view", datetime(2026, 11, 20, 10, 1, tzinfo=JST), "/pricing"),
    ("download", datetime(2026, 11, 21, 15, 30, tzinfo=JST), "SLA whitepaper"),
    ("webinar", datetime(2026, 11, 22, 14, 0, tzinfo=JST), "Sales x Marketing alignment"),
)


def make_lead(
    activities: tuple[tuple[str, datetime, str | None], ...] = EXAMPLE_ACTIVITIES,
    **fields: Any,
) -> Lead:
    """The SPEC section 3 example lead, in memory, with ``fields`` overridden."""
    values: dict[str, Any] = {
        "external_id": "hubspot-20391",
        "source": "hubspot",
        "qualified_at": datetime(2026, 11, 24, 9, 12, tzinfo=JST),
        "contact_name": "Sato Hanako",
        "contact_title": "営業部長",
        "company_name": "Example KK",
        "company_industry": "manufacturing",
        "company_employees": 250,
        "score": 72,
    }
    values.update(fields)
    lead = Lead(**values)
    lead.activities = [Activity(type=k, at=at, detail=d) for k, at, d in activities]
    return lead


def make_policy(definition: dict[str, Any], tiers: list[dict[str, Any]] | None = None) -> Policy:
    data: dict[str, Any] = {
        "mql_definition": {"version": "test-v1", **definition},
        "channels": {"handoff": "C0SALES", "marketing_feedback": "C0MKTG"},
    }
    if tiers is not None:
        data["tiers"] = tiers
    return parse_policy(data)


def rules(*items: dict[str, Any], min_rules_matched: int = 1, lookback_days: int = 90) -> dict:
    return {
        "behaviour": {
            "rules": list(items),
            "min_rules_matched": min_rules_matched,
            "lookback_days": lookback_days,
        }
    }


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


# --------------------------------------------------------------- the shipped example


def test_spec_example_qualifies_under_the_example_policy(policy: Policy) -> None:
    result = evaluate(make_lead(), policy, NOW)
    assert result.qualified
    assert result.reasons == ()
    assert result.version == policy.mql_definition.version == "2026-11-v1"
    assert result.matched == (
        "behaviour: 料金ページ閲覧 (page_view /pricing)",
        "behaviour: 資料ダウンロード (download)",
        "behaviour: ウェビナー参加 (webinar)",
        "industry: manufacturing",
        "employees: 250 ≥ 50",
        "title: 部長",
        "score: 72 ≥ 30",
    )
    assert result.tier is None
    assert result.first_contact_business_hours == 2


@pytest.mark.parametrize("fields", [{"external_id": "other-1"}, {"contact_name": "Suzuki Ichiro"}])
def test_spec_example_qualifies_whatever_its_id_or_name(
    policy: Policy, fields: dict[str, Any]
) -> None:
    assert evaluate(make_lead(**fields), policy, NOW).qualified


def test_empty_lead_does_not_qualify_with_two_reasons(policy: Policy) -> None:
    result = evaluate(make_lead(activities=(), score=0), policy, NOW)
    assert not result.qualified
    assert result.reasons == (
        "no qualifying behaviour in the last 90 days (needs 1 of: page_view containing "
        "'/pricing', download, webinar, demo_request)",
        "score 0 is below 30",
    )
    assert result.version == "2026-11-v1"


def test_as_json_is_plain_json(policy: Policy) -> None:
    result = evaluate(make_lead(activities=(), score=0), policy, NOW)
    data = result.as_json()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "qualified": False,
        "version": "2026-11-v1",
        "matched": list(result.matched),
        "reasons": list(result.reasons),
        "tier": None,
        "first_contact_business_hours": 2,
        "matched_codes": list(result.matched_codes),
        "reason_codes": list(result.reason_codes),
    }
    assert isinstance(result, Qualification)


# ---------------------------------------------------------------------- behaviour


PRICING = {"type": "page_view", "detail_contains": "/pricing", "label": "Viewed pricing"}


@pytest.mark.parametrize(
    ("activities", "qualified"),
    [
        ((("page_view", days_ago(1), "/pricing"),), True),
        ((("PAGE_VIEW", days_ago(1), "https://example.com/PRICING?x=1"),), True),
        ((("page_view", days_ago(1), "/about"),), False),
        ((("page_view", days_ago(1), None),), False),
        ((("download", days_ago(1), "/pricing"),), False),
        ((), False),
    ],
    ids=["match", "case-insensitive", "wrong-detail", "no-detail", "wrong-type", "none"],
)
def test_behaviour_rule_type_and_detail(
    activities: tuple[tuple[str, datetime, str | None], ...], qualified: bool
) -> None:
    result = evaluate(make_lead(activities), make_policy(rules(PRICING)), NOW)
    assert result.qualified is qualified
    if qualified:
        assert result.matched == ("behaviour: Viewed pricing (page_view /pricing)",)
    else:
        assert result.reasons == (
            "no qualifying behaviour in the last 90 days "
            "(needs 1 of: page_view containing '/pricing')",
        )


@pytest.mark.parametrize(
    ("at", "qualified"),
    [
        (days_ago(0), True),
        (days_ago(29.9), True),
        (days_ago(30), True),
        (days_ago(30.01), False),
        (NOW + timedelta(hours=23), True),  # a little clock skew is tolerated
        (NOW + timedelta(days=1, minutes=1), False),  # the future is not behaviour
    ],
    ids=["now", "inside", "edge", "too-old", "skew", "future"],
)
def test_lookback_window(at: datetime, qualified: bool) -> None:
    policy = make_policy(rules({"type": "webinar"}, lookback_days=30))
    result = evaluate(make_lead((("webinar", at, "x"),)), policy, NOW)
    assert result.qualified is qualified
    if not qualified:
        assert result.reasons == (
            "no qualifying behaviour in the last 30 days (needs 1 of: webinar)",
        )


@pytest.mark.parametrize(("count", "qualified"), [(2, False), (3, True), (4, True)])
def test_min_count(count: int, qualified: bool) -> None:
    policy = make_policy(rules({"type": "download", "min_count": 3}))
    activities = tuple(("download", days_ago(i + 1), f"paper {i}") for i in range(count))
    activities += (("download", days_ago(200), "too old to count"),)
    result = evaluate(make_lead(activities), policy, NOW)
    assert result.qualified is qualified
    if qualified:
        assert result.matched == ("behaviour: download ×3",)
    else:
        assert result.reasons == (
            "no qualifying behaviour in the last 90 days (needs 1 of: download (at least 3))",
        )


@pytest.mark.parametrize(
    ("kinds", "reason"),
    [
        (("webinar", "download"), None),
        (("webinar", "download", "demo_request"), None),
        (
            ("webinar",),
            "only 1 qualifying behaviour in the last 90 days "
            "(needs 2 of: webinar, download, demo_request)",
        ),
        (
            (),
            "no qualifying behaviour in the last 90 days "
            "(needs 2 of: webinar, download, demo_request)",
        ),
    ],
)
def test_min_rules_matched(kinds: tuple[str, ...], reason: str | None) -> None:
    policy = make_policy(
        rules(
            {"type": "webinar"}, {"type": "download"}, {"type": "demo_request"}, min_rules_matched=2
        )
    )
    result = evaluate(make_lead(tuple((k, days_ago(1), None) for k in kinds)), policy, NOW)
    assert result.qualified is (reason is None)
    assert result.reasons == (() if reason is None else (reason,))
    assert result.matched == tuple(f"behaviour: {k}" for k in kinds)


def test_no_rules_means_any_behaviour() -> None:
    result = evaluate(make_lead(activities=()), make_policy({}), NOW)
    assert result.qualified
    assert result.matched == ()


# ------------------------------------------------------------------ firmographics


INDUSTRIES = {"firmographics": {"industries": ["Manufacturing", "software"]}}


@pytest.mark.parametrize(
    ("industry", "reason"),
    [
        ("manufacturing", None),
        ("MANUFACTURING ", None),
        ("ＳＯＦＴＷＡＲＥ", None),  # full-width letters from a Japanese CRM
        ("retail", "industry 'retail' is not one of: Manufacturing, software"),
        (None, "industry unknown (needs one of: Manufacturing, software)"),
        ("", "industry unknown (needs one of: Manufacturing, software)"),
    ],
)
def test_industry(industry: str | None, reason: str | None) -> None:
    result = evaluate(make_lead(company_industry=industry), make_policy(INDUSTRIES), NOW)
    assert result.reasons == (() if reason is None else (reason,))
    if reason is None:
        assert result.matched == (f"industry: {industry.strip()}",)  # type: ignore[union-attr]


def test_empty_industry_list_means_any() -> None:
    result = evaluate(make_lead(company_industry="anything"), make_policy({}), NOW)
    assert result.qualified


@pytest.mark.parametrize(
    ("bounds", "employees", "outcome"),
    [
        ({"min_employees": 50}, 50, "employees: 50 ≥ 50"),
        ({"min_employees": 50}, 49, "company size 49 is below 50 employees"),
        ({"min_employees": 50}, None, "company size unknown (needs ≥ 50 employees)"),
        ({"max_employees": 1000}, 1000, "employees: 1000 ≤ 1000"),
        ({"max_employees": 1000}, 1001, "company size 1001 is above 1000 employees"),
        ({"max_employees": 1000}, None, "company size unknown (needs ≤ 1000 employees)"),
        ({"min_employees": 50, "max_employees": 1000}, 250, "employees: 250 within 50–1000"),
        (
            {"min_employees": 50, "max_employees": 1000},
            None,
            "company size unknown (needs 50–1000 employees)",
        ),
        ({}, None, None),
    ],
)
def test_company_size(bounds: dict[str, int], employees: int | None, outcome: str | None) -> None:
    policy = make_policy({"firmographics": bounds})
    result = evaluate(make_lead(company_employees=employees), policy, NOW)
    if outcome is None:
        assert result.qualified and result.matched == ()
    elif outcome.startswith("employees:"):
        assert result.qualified and result.matched == (outcome,)
    else:
        assert not result.qualified and result.reasons == (outcome,)


TITLES = {"firmographics": {"title_keywords": ["部長", "Manager", "マネージャー"]}}


@pytest.mark.parametrize(
    ("title", "outcome"),
    [
        ("営業部長", "title: 部長"),
        ("Sales MANAGER", "title: Manager"),
        ("ＭＡＮＡＧＥＲ", "title: Manager"),  # full-width
        ("ｾｰﾙｽﾏﾈｰｼﾞｬｰ", "title: マネージャー"),  # half-width katakana
        ("Intern", "title 'Intern' matches none of: 部長, Manager, マネージャー"),
        ("", "title unknown (needs one of: 部長, Manager, マネージャー)"),
        (None, "title unknown (needs one of: 部長, Manager, マネージャー)"),
    ],
)
def test_title_keywords(title: str | None, outcome: str) -> None:
    result = evaluate(make_lead(contact_title=title), make_policy(TITLES), NOW)
    if outcome.startswith("title:"):
        assert result.qualified and result.matched == (outcome,)
    else:
        assert not result.qualified and result.reasons == (outcome,)


def test_long_values_are_shortened_in_reasons() -> None:
    result = evaluate(make_lead(contact_title="x" * 10_000), make_policy(TITLES), NOW)
    assert len(result.reasons[0]) < 200
    assert "x…'" in result.reasons[0]


# -------------------------------------------------------------------------- score


@pytest.mark.parametrize(
    ("min_score", "score", "outcome"),
    [
        (30, 30, "score: 30 ≥ 30"),
        (30, 29, "score 29 is below 30"),
        (30, None, "score unknown (needs ≥ 30)"),
        (None, None, None),
        (None, 0, None),
    ],
)
def test_score(min_score: int | None, score: int | None, outcome: str | None) -> None:
    definition = {} if min_score is None else {"min_score": min_score}
    result = evaluate(make_lead(score=score), make_policy(definition), NOW)
    if outcome is None:
        assert result.qualified and result.matched == ()
    elif outcome.startswith("score:"):
        assert result.qualified and result.matched == (outcome,)
    else:
        assert not result.qualified and result.reasons == (outcome,)


def test_every_failing_reason_is_collected(policy: Policy) -> None:
    lead = make_lead(
        activities=(("page_view", days_ago(1), "/about"),),
        company_industry="agriculture",
        company_employees=None,
        contact_title="Intern",
        score=None,
    )
    result = evaluate(lead, policy, NOW)
    assert not result.qualified
    assert [r.split(" ")[0] for r in result.reasons] == [
        "no",
        "industry",
        "company",
        "title",
        "score",
    ]
    assert result.matched == ()
    assert [c["code"] for c in result.reason_codes] == [
        "behaviour_none", "industry_other", "size_unknown", "title_other", "score_unknown"]
    assert [c["code"] for c in result.reason_codes] == [
        "behaviour_none", "industry_other", "size_unknown", "title_other", "score_unknown"]


def test_criteria_read_in_the_readers_language(policy: Policy) -> None:
    """What a person reads is translated from the codes; the stored English stays as it was."""
    from bot.i18n import Translator
    from bot.views.labels import criterion_text

    lead = make_lead(
        activities=(("page_view", days_ago(1), "/about"),),
        company_industry="agriculture", company_employees=10, contact_title="Intern <b>",
        score=10,
    )
    result = evaluate(lead, policy, NOW)
    ja = [criterion_text(c, policy, Translator("ja")) for c in result.reason_codes]
    assert ja == [
        "直近90日間に対象の行動がありません（次のうち1件が必要: 料金ページ閲覧、資料ダウンロード、"
        "ウェビナー参加、デモ依頼）",
        "業種「agriculture」は対象外です（対象: 製造業、ソフトウェア、小売、金融、物流）",
        "従業員数 10名は下限の50名に届きません",
        "役職「Intern &lt;b&gt;」は対象のキーワードのどれにも当たりません（部長、課長、"
        "取締役、役員、マネージャー、manager、director、head、vp、chief、ceo、cto）",
        "スコア 10 は基準の30に届きません",
    ]
    en = [criterion_text(c, policy, Translator("en")) for c in result.reason_codes]
    assert en[1] == ("Industry “agriculture” is not one of: Manufacturing, Software, Retail, "
                     "Finance, Logistics")
    assert en[2] == "Company size 10 is below 50 employees"
    assert result.reasons[2] == "company size 10 is below 50 employees"  # the webhook's text
    good = evaluate(make_lead(), policy, NOW)
    assert [criterion_text(c, policy, Translator("ja")) for c in good.matched_codes] == [
        "行動: 料金ページ閲覧", "行動: 資料ダウンロード", "行動: ウェビナー参加", "業種: 製造業",
        "従業員数: 250名（50名以上）", "役職: 部長", "スコア: 72（基準 30以上）"]


# -------------------------------------------------------------------------- tiers


def test_demo_request_makes_a_lead_hot(policy: Policy) -> None:
    lead = make_lead((*EXAMPLE_ACTIVITIES, ("Demo_Request", days_ago(0.1), None)))
    result = evaluate(lead, policy, NOW)
    assert result.qualified
    assert result.tier == "hot"
    assert result.first_contact_business_hours == 1


def test_an_old_demo_request_does_not_make_a_lead_hot(policy: Policy) -> None:
    lead = make_lead((*EXAMPLE_ACTIVITIES, ("demo_request", days_ago(400), None)))
    result = evaluate(lead, policy, NOW)
    assert result.tier is None
    assert result.first_contact_business_hours == 2


TIERS = [
    {
        "name": "hot",
        "first_contact_business_hours": 1,
        "activity_types": ["demo_request"],
        "min_score": 80,
    },
    {"name": "warm", "first_contact_business_hours": 1.5, "min_score": 50},
]


@pytest.mark.parametrize(
    ("kinds", "score", "tier", "hours"),
    [
        (("demo_request",), 90, "hot", 1),
        (("demo_request",), 79, "warm", 1.5),  # score below the hot floor: next tier
        (("webinar",), 90, "warm", 1.5),  # no demo request: not hot
        (("demo_request",), None, None, 2),  # unknown score meets no floor
        (("webinar",), 10, None, 2),
    ],
)
def test_first_matching_tier_wins(
    kinds: tuple[str, ...], score: int | None, tier: str | None, hours: float
) -> None:
    policy = make_policy({}, tiers=TIERS)
    result = evaluate(
        make_lead(tuple((k, days_ago(1), None) for k in kinds), score=score), policy, NOW
    )
    assert result.tier == tier
    assert result.first_contact_business_hours == hours


def test_version_is_recorded() -> None:
    policy = make_policy({"version": "2027-01-v2"})
    assert evaluate(make_lead(), policy, NOW).version == "2027-01-v2"
    assert evaluate(make_lead(), policy, NOW).as_json()["version"] == "2027-01-v2"
