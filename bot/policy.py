"""The SLA policy: every number of the agreement, the MQL definition, people and the calendar.

It is read from a TOML file (``SLA_CONFIG``, default ``sla.toml``) so that marketing and sales
can change the agreement without a deploy. Validation is done by pydantic models: each problem
becomes one line naming the key and what was expected, and unknown keys are refused so typos
do not silently fall back to defaults.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.adapters import paths
from bot.calendar import AnnualClosure, BusinessCalendar, Shift
from bot.currencies import minor_units
from bot.i18n import LANGUAGES, Translator
from bot.problems import Invalid, Problem, pydantic_key
from bot.redact import redact_url

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
#: hosts a webhook may be sent to over plain http: the machine itself, for tests and development
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
OUTCOME_EVENTS = ("converted", "recycled")
#: why a deal was lost (``[outcomes] loss_reasons``); "other" holds every reason not listed
DEFAULT_LOSS_REASONS = (
    "competitor",
    "price",
    "no_decision",
    "timing",
    "lost_contact",
    "product_fit",
    "other",
)
OTHER_LOSS_REASON = "other"
REASON_CODE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
DEFAULT_RECYCLE_REASONS = (
    "no_budget",
    "not_decision_maker",
    "no_need_now",
    "timing",
    "unreachable",
    "bad_data",
    "competitor",
    "other",
)

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class PolicyError(ValueError):
    """The policy file is unusable; ``problems`` holds one line per problem (English).

    ``lines(t)`` says them in another language; ``language`` is the one the file declares
    (``language = "ja"``) when it can be read, so the refusal answers in it (SPEC 8).
    """

    def __init__(self, source: str, problems: list[str | Problem],
                 language: str | None = None) -> None:
        self.items = [p if isinstance(p, Problem) else Problem("", p) for p in problems]
        self.problems = [str(p) for p in self.items]
        super().__init__(f"{source}:\n" + "\n".join(f"  - {p}" for p in self.problems))
        self.source = source
        self.language = language

    def lines(self, t: Translator) -> list[str]:
        """One line per problem in ``t``'s language (the dotted key as written)."""
        return [p.line(t) for p in self.items]

    def text(self, t: Translator) -> str:
        """``str(self)`` in ``t``'s language."""
        return f"{self.source}:\n" + "\n".join(f"  - {line}" for line in self.lines(t))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Agreement(_Section):
    """The promises of SPEC section 1."""

    mql_monthly_target: PositiveInt = 100
    handoff_within_hours: PositiveInt = 24
    first_contact_business_hours: Annotated[float, Field(gt=0)] = 2
    min_touches: PositiveInt = 5
    follow_up_every_business_hours: Annotated[float, Field(gt=0)] = 9
    decision_days: PositiveInt = 7
    bant_required: tuple[Literal["budget", "authority", "need", "timeline"], ...] = (
        "budget",
        "authority",
        "need",
        "timeline",
    )
    max_open_leads_per_rep: PositiveInt | None = None


class Reminders(_Section):
    """When people hear about a deadline (SPEC section 5)."""

    unclaimed_after_business_minutes: PositiveInt = 15
    first_contact_before_minutes: tuple[PositiveInt, ...] = (30,)
    #: more rungs of the ladder, as a share of the first-contact window (e.g. [50] = half-way)
    first_contact_at_percent: tuple[Annotated[int, Field(gt=0, lt=100)], ...] = ()
    decision_before_business_days: NonNegativeInt = 1
    follow_up_reminders: bool = True
    escalate_to_managers: bool = True
    notify_marketing_on_late_handoff: bool = True
    quiet_hours: bool = True
    sweep_interval_seconds: PositiveInt = 30


class Tier(_Section):
    """A priority tier: leads matching it get a shorter first-contact target."""

    name: Annotated[str, Field(min_length=1)]
    first_contact_business_hours: Annotated[float, Field(gt=0)]
    activity_types: tuple[str, ...] = ()
    min_score: NonNegativeInt | None = None


class BehaviourRule(_Section):
    type: Annotated[str, Field(min_length=1)]
    detail_contains: str | None = None
    min_count: PositiveInt = 1
    label: str | None = None


class Behaviour(_Section):
    """At least ``min_rules_matched`` of ``rules`` within ``lookback_days``; no rules: any."""

    rules: tuple[BehaviourRule, ...] = ()
    min_rules_matched: NonNegativeInt = 1
    lookback_days: PositiveInt = 90

    @model_validator(mode="after")
    def _enough_rules(self) -> Behaviour:
        if self.rules and self.min_rules_matched > len(self.rules):
            raise Invalid(
                f"min_rules_matched is {self.min_rules_matched} but only "
                f"{len(self.rules)} rules are defined",
                "cli.validation.policy.too_few_rules", needed=self.min_rules_matched,
                defined=len(self.rules),
            )
        return self


class Firmographics(_Section):
    industries: tuple[str, ...] = ()  # empty: any industry
    min_employees: NonNegativeInt | None = None
    max_employees: NonNegativeInt | None = None
    title_keywords: tuple[str, ...] = ()  # empty: any title

    @model_validator(mode="after")
    def _range(self) -> Firmographics:
        if (
            self.min_employees is not None
            and self.max_employees is not None
            and self.min_employees > self.max_employees
        ):
            raise Invalid("min_employees is larger than max_employees",
                          "cli.validation.policy.employees_range")
        return self


class MqlDefinition(_Section):
    """The agreed MQL definition: behaviour AND firmographics, with a version."""

    version: Annotated[str, Field(min_length=1)]
    min_score: NonNegativeInt | None = None
    behaviour: Behaviour = Behaviour()
    firmographics: Firmographics = Firmographics()


class Channels(_Section):
    handoff: str
    marketing_feedback: str
    digest: str | None = None  # defaults to the handoff channel

    @field_validator("handoff", "marketing_feedback", "digest")
    @classmethod
    def _channel_id(cls, value: str | None) -> str | None:
        if value is not None and not CHANNEL_ID.match(value):
            raise Invalid(f"expected a Slack channel id like C0123ABCD, got {value!r}",
                          "cli.validation.policy.channel_id", value=repr(value))
        return value

    @property
    def digest_channel(self) -> str:
        return self.digest or self.handoff


People = tuple[str, ...] | str


class Roles(_Section):
    """People by Slack user id, or a user-group id (``S…``) instead of a list."""

    reps: People = ()
    managers: People = ()
    marketers: People = ()
    away: tuple[str, ...] = ()

    @field_validator("reps", "managers", "marketers", "away")
    @classmethod
    def _ids(cls, value: People) -> People:
        if isinstance(value, str):
            if not GROUP_ID.match(value):
                raise Invalid(
                    f"expected a list of user ids or a user-group id like S0123ABCD, got {value!r}",
                    "cli.validation.policy.people", value=repr(value),
                )
            return value
        bad = [v for v in value if not USER_ID.match(v)]
        if bad:
            raise Invalid(f"expected Slack user ids like U0123ABCD, got {bad}",
                          "cli.validation.policy.user_ids", value=str(bad))
        return value


class Governance(_Section):
    """Who approves a change to the agreement, per side (SPEC 9): user ids or one user-group
    id each. Only when both sides have approvers does a changed agreement wait for one
    approval of each side; otherwise the file's agreement takes effect at start."""

    marketing_approvers: People = ()
    sales_approvers: People = ()
    #: when an approved version takes effect: at once, or at the start of the next business day
    effective: Literal["immediately", "next_business_day"] = "immediately"

    @field_validator("marketing_approvers", "sales_approvers")
    @classmethod
    def _ids(cls, value: People) -> People:
        return Roles._ids(value)

    @property
    def enabled(self) -> bool:
        """Both sides have approvers: changes to the agreement need both sides' consent."""
        return bool(self.marketing_approvers) and bool(self.sales_approvers)


class CalendarConfig(_Section):
    timezone: str = "UTC"
    working_days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = (
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
    )
    working_hours: tuple[tuple[time, time], ...] = ((time(9), time(18)),)
    holidays: str | None = None
    holiday_subdivision: str | None = None
    closed_dates: tuple[date, ...] = ()
    annual_closures: tuple[tuple[str, str], ...] = ()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid(
                f"expected an IANA time zone like Asia/Tokyo, got {value!r}",
                "cli.validation.policy.timezone", value=repr(value),
            ) from None
        return value

    @field_validator("working_days")
    @classmethod
    def _days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise Invalid("at least one working day is needed",
                          "cli.validation.policy.no_working_day")
        return value

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: tuple[tuple[time, time], ...]) -> tuple[tuple[time, time], ...]:
        if not value:
            raise Invalid("at least one [start, end] pair is needed",
                          "cli.validation.policy.no_working_hours")
        previous_end: time | None = None
        for start, end in value:
            if start >= end:
                raise Invalid(f"shift {start:%H:%M}-{end:%H:%M} ends before it starts",
                              "cli.validation.policy.shift_backwards",
                              shift=f"{start:%H:%M}-{end:%H:%M}")
            if previous_end is not None and start < previous_end:
                raise Invalid("shifts must be sorted and must not overlap",
                              "cli.validation.policy.shifts_overlap")
            previous_end = end
        return value

    @field_validator("holidays")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in holidays_lib.list_supported_countries():
            raise Invalid(f"expected an ISO country code known to `holidays`, got {value!r}",
                          "cli.validation.policy.country", value=repr(value))
        return value.upper() if value else None

    @field_validator("annual_closures")
    @classmethod
    def _closures(cls, value: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        for pair in value:
            for md in pair:
                _month_day(md)
        return value

    def build(self) -> BusinessCalendar:
        return BusinessCalendar(
            timezone=self.timezone,
            working_days=[WEEKDAYS.index(d) for d in self.working_days],
            shifts=[Shift(s, e) for s, e in self.working_hours],
            holiday_country=self.holidays,
            holiday_subdivision=self.holiday_subdivision,
            closed_dates=self.closed_dates,
            annual_closures=[
                AnnualClosure(_month_day(a), _month_day(b)) for a, b in self.annual_closures
            ],
        )


def _month_day(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{2})-(\d{2})", text)
    if not match:
        raise Invalid(f"expected MM-DD, got {text!r}", "cli.validation.policy.month_day",
                      value=repr(text))
    month, day = int(match[1]), int(match[2])
    try:
        date(2024, month, day)  # a leap year, so 02-29 is allowed
    except ValueError:
        raise Invalid(f"expected a real month and day, got {text!r}",
                      "cli.validation.policy.real_month_day", value=repr(text)) from None
    return month, day


class Digest(_Section):
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    hour: Annotated[int, Field(ge=0, le=23)] = 9
    enabled: bool = True


class Review(_Section):
    post_on_day: Annotated[int, Field(ge=1, le=28)] = 1
    enabled: bool = True


class Recycle(_Section):
    reasons: tuple[str, ...] = DEFAULT_RECYCLE_REASONS

    @field_validator("reasons")
    @classmethod
    def _non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise Invalid("at least one recycle reason is needed",
                          "cli.validation.policy.no_recycle_reason")
        return value


def _currency_code(value: str | None) -> str | None:
    """An ISO 4217 code, upper-cased; ``Invalid`` for anything else."""
    if value is None:
        return None
    code = value.strip().upper()
    if minor_units(code) is None:
        raise Invalid(f"expected an ISO 4217 currency code like JPY or USD, got {value!r}",
                      "cli.validation.policy.currency_code", value=value)
    return code


class Outcomes(_Section):
    """Deal outcomes from the CRM (SPEC 10): the loss reasons recorded, who hears of them.

    Operational, not part of the agreement (``bot.agreement.document.AGREEMENT_KEYS``): SPEC 9
    names the agreement's sections, and how the CRM's answers are filed and announced is the
    operators' business, changed without both sides' approval.
    """

    #: codes a loss reason is recorded as; a reason not listed is kept as "other" with its text
    loss_reasons: tuple[str, ...] = DEFAULT_LOSS_REASONS
    #: which closed deals are announced in the marketing channel
    notify_marketing: tuple[Literal["won", "lost"], ...] = ("won", "lost")
    #: the currency (ISO 4217) of the expected amount a rep enters when converting to an SQL;
    #: set, that amount is the SQL's pipeline in the reports until the CRM reports the deal
    currency: str | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return _currency_code(value)

    @field_validator("loss_reasons")
    @classmethod
    def _codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [code for code in value if not REASON_CODE.match(code)]
        if bad:
            raise Invalid(f"expected codes of a-z, 0-9 and _ like no_budget, got {bad}",
                          "cli.validation.policy.reason_codes", value=bad)
        codes = tuple(dict.fromkeys(value))
        return codes if OTHER_LOSS_REASON in codes else (*codes, OTHER_LOSS_REASON)

    @field_validator("notify_marketing")
    @classmethod
    def _once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))


class AutoAssign(_Section):
    """Optional: a lead still unclaimed part-way into its first-contact window is assigned.

    Round-robin by weight among reps who are not away and under their open-lead cap; off by
    default, so the Claim button stays the normal path.
    """

    enabled: bool = False
    #: when, as a fraction of the first-contact window (in business time) after hand-off
    after_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.5
    #: relative share per rep (Slack user id); reps not listed weigh 1, 0 excludes a rep
    weights: dict[str, NonNegativeInt] = Field(default_factory=dict)


class OutboundWebhook(_Section):
    """Where the CRM / MA tool hears about outcomes (SPEC section 6); off when absent.

    The signing secret is not here: it is a secret, so it lives in the environment
    (``OUTBOUND_WEBHOOK_SECRET``, see ``bot.settings``).
    """

    url: str
    #: "won" and "lost" (a deal's outcome) are sent only when listed, and never for an outcome
    #: the CRM itself reported (``bot.outbound_webhook.queue_outcome``)
    events: tuple[Literal["converted", "recycled", "won", "lost"], ...] = OUTCOME_EVENTS
    #: per request; kept well below the outbox lease (60 s) so a slow receiver never lets a
    #: second worker take the same row while the first is still waiting for an answer
    timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 10

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            parts = urlsplit(value.strip())
            host = parts.hostname
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise Invalid(f"expected an https:// URL, got {redact_url(value)!r}",
                          "cli.validation.policy.url", value=repr(redact_url(value))) from None
        if parts.scheme not in {"https", "http"} or not host:
            raise Invalid(f"expected an https:// URL, got {redact_url(value)!r}",
                          "cli.validation.policy.url", value=repr(redact_url(value)))
        if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
            raise Invalid(
                "expected https:// (plain http only for localhost / 127.0.0.1), got "
                f"{redact_url(value)!r}",
                "cli.validation.policy.url_https", value=repr(redact_url(value)),
            )
        if parts.username or parts.password:
            # "got" without the URL: the formatter would otherwise echo the password
            raise Invalid(
                "got a URL with a user name or password; credentials do not belong in the "
                "policy file (receivers verify X-SLA-Signature, keyed by OUTBOUND_WEBHOOK_SECRET)",
                "cli.validation.policy.url_credentials",
            )
        return value.strip()

    @field_validator("events")
    @classmethod
    def _events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise Invalid(
                'at least one of "converted", "recycled", "won", "lost" is needed (or remove '
                'the section)',
                "cli.validation.policy.no_events",
            )
        return tuple(dict.fromkeys(value))


def _zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"expected an IANA time zone like Asia/Tokyo, got {value!r}",
                      "cli.validation.policy.timezone", value=repr(value)) from None
    return value


def _timestamp_format(value: str) -> str:
    if value in TIMESTAMP_FORMATS or "%" in value:
        return value
    raise Invalid(
        f"expected one of {', '.join(TIMESTAMP_FORMATS)} or a strptime pattern like "
        f"%Y-%m-%d %H:%M:%S, got {value!r}",
        "cli.validation.policy.timestamp_format", formats=", ".join(TIMESTAMP_FORMATS),
        value=repr(value),
    )


JsonPath = Annotated[str, AfterValidator(paths.check)]
Zone = Annotated[str | None, AfterValidator(_zone)]
TimestampFormat = Annotated[str, AfterValidator(_timestamp_format)]
TIMESTAMP_FORMATS = ("auto", "iso", "epoch_ms", "epoch_s")
#: what a mapping may fill; contact.first_name / last_name make contact.name when it is unset
MappedField = Literal[
    "contact.name", "contact.first_name", "contact.last_name", "contact.email",
    "contact.title", "contact.phone", "company.name", "company.industry",
    "company.employees", "company.domain", "score",
]


class HubSpotAdapter(_Section):
    """``POST /webhooks/hubspot``: which lifecycle stage makes a contact an MQL, which deal
    stages close a deal (``bot.adapters.hubspot_deals``)."""

    mql_stage: Annotated[str, Field(min_length=1)] = "marketingqualifiedlead"
    #: deal stages (``dealstage`` ids) that mean the deal was won or lost (SPEC 10)
    won_stages: tuple[Annotated[str, Field(min_length=1)], ...] = ("closedwon",)
    lost_stages: tuple[Annotated[str, Field(min_length=1)], ...] = ("closedlost",)
    #: the portal's company currency (ISO 4217): a deal's amount is in it when the deal has
    #: no ``deal_currency_code`` (portals without multiple currencies leave it empty)
    default_currency: str | None = None

    @field_validator("default_currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return _currency_code(value)

    @model_validator(mode="after")
    def _stages_apart(self) -> HubSpotAdapter:
        if both := sorted(set(self.won_stages) & set(self.lost_stages)):
            raise Invalid(f"a deal stage cannot be both won and lost: {', '.join(both)}",
                          "cli.validation.policy.stage_won_and_lost", stages=", ".join(both))
        return self


class MarketoAdapter(_Section):
    """``POST /webhooks/marketo``: Marketo sends local times without a zone."""

    #: the Marketo instance's time zone (Admin → Location); default: ``[calendar] timezone``
    timezone: Zone = None


class ActivityMapping(_Section):
    """Activities from a list in the payload; ``type``/``at``/``detail`` are paths in an item."""

    path: JsonPath
    at: JsonPath
    type: JsonPath | None = None
    #: the type of every activity of the list, when the items do not say
    type_value: Annotated[str, Field(min_length=1)] | None = None
    detail: JsonPath | None = None

    @model_validator(mode="after")
    def _one_type(self) -> ActivityMapping:
        if (self.type is None) == (self.type_value is None):
            raise Invalid("set exactly one of type (a path) or type_value (a fixed type)",
                          "cli.validation.policy.one_type")
        return self


class FieldMapping(_Section):
    """A generic adapter: JSON paths in another tool's payload → the canonical intake.

    ``POST /webhooks/map/<name>`` with ``Authorization: Bearer <INTAKE_TOKEN>``.
    """

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
    #: the lead's ``source``; default: the mapping's name
    source: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    #: where the records are when one POST carries several; default: the body is one record,
    #: or a list of records
    records: JsonPath | None = None
    #: the record's id in the tool: with the mapping's name, the lead's ``external_id``
    external_id: JsonPath
    #: the tool's id for the person, when it sends several events per person
    contact_id: JsonPath | None = None
    #: default: when the bot received it
    qualified_at: JsonPath | None = None
    timestamp_format: TimestampFormat = "auto"
    #: for timestamps without a zone; default: ``[calendar] timezone``
    timezone: Zone = None
    #: a wrapper key to look through: ``{"value": "..."}`` → ``"..."`` (empty: none)
    unwrap: str = "value"
    fields: dict[MappedField, JsonPath] = Field(default_factory=dict)
    activities: tuple[ActivityMapping, ...] = ()

    @model_validator(mode="after")
    def _has_a_name(self) -> FieldMapping:
        if not {"contact.name", "contact.first_name", "contact.last_name",
                "contact.email"} & set(self.fields):
            raise Invalid(
                "fields needs contact.name (or contact.first_name / contact.last_name, or "
                "contact.email to stand in for the name)",
                "cli.validation.policy.mapping_name",
            )
        return self


class Adapters(_Section):
    """The marketing-automation adapters' settings (their secrets are in the environment)."""

    hubspot: HubSpotAdapter = HubSpotAdapter()
    marketo: MarketoAdapter = MarketoAdapter()
    mapping: tuple[FieldMapping, ...] = ()

    @field_validator("mapping")
    @classmethod
    def _unique_names(cls, value: tuple[FieldMapping, ...]) -> tuple[FieldMapping, ...]:
        names = [m.name for m in value]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise Invalid(f"mapping names must be unique, got {', '.join(twice)} twice",
                          "cli.validation.policy.mapping_unique", names=", ".join(twice))
        return value

    def find(self, name: str) -> FieldMapping | None:
        return next((m for m in self.mapping if m.name == name), None)


class Policy(_Section):
    """The whole agreement as the bot enforces it."""

    language: Literal["en", "ja"] = "en"
    agreement: Agreement = Agreement()
    reminders: Reminders = Reminders()
    mql_definition: MqlDefinition
    tiers: tuple[Tier, ...] = ()
    channels: Channels
    roles: Roles = Roles()
    calendar: CalendarConfig = CalendarConfig()
    digest: Digest = Digest()
    review: Review = Review()
    recycle: Recycle = Recycle()
    outcomes: Outcomes = Outcomes()
    outbound_webhook: OutboundWebhook | None = None
    auto_assign: AutoAssign = AutoAssign()
    adapters: Adapters = Adapters()
    governance: Governance = Governance()

    @cached_property
    def business_calendar(self) -> BusinessCalendar:
        return self.calendar.build()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.calendar.timezone)


def _format_error(error: Mapping[str, Any]) -> Problem:
    location = ".".join(str(part) for part in error["loc"] if not _is_union_tag(part))
    message = str(error["msg"]).removeprefix("Value error, ")
    key, params = pydantic_key(error)
    got: str | None = None
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see sla.example.toml)"
    elif error["type"] == "missing":
        message = "required, not set"
        key = "cli.validation.required_not_set"
    elif "input" in error and "got " not in message and not isinstance(
        error["input"], dict | list
    ):
        got = repr(error["input"])
        message = f"{message} (got {got})"
    return Problem(location or "(top level)", message, key, params, got)


def _is_union_tag(part: object) -> bool:
    # pydantic adds the union member's type to the location ("reps.tuple[str, ...].0");
    # people read the key path, not our type annotations.
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "function-after"})


def parse_policy(data: Mapping[str, Any], source: str = "policy") -> Policy:
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = list({str(p): p for p in map(_format_error, exc.errors())}.values())
        raise PolicyError(source, list(problems), declared_language(data)) from None


def declared_language(data: Mapping[str, Any] | str) -> str | None:
    """The ``language`` a policy declares (parsed, or the file's text even when it is not
    valid TOML), when it is one the bot speaks: a refused policy still answers in it."""
    if isinstance(data, str):
        try:
            data = tomllib.loads(data)
        except tomllib.TOMLDecodeError:
            match = _LANGUAGE_LINE.search(data)
            return match[1] if match else None
    language = data.get("language")
    return language if language in LANGUAGES else None


_LANGUAGE_LINE = re.compile(r"""^\s*language\s*=\s*["'](\w+)["']""", re.MULTILINE)
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


def load_policy(path: Path | str) -> Policy:
    """Read and validate a policy file; ``PolicyError`` lists every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(str(path), [Problem(
            "", "file not found (copy sla.example.toml to sla.toml, or set SLA_CONFIG)",
            "cli.validation.policy.file_not_found")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = _TOML_AT.search(str(exc))
        problem = (Problem("", f"not valid TOML: {exc}", "cli.validation.policy.toml_at",
                           {"line": at[1], "column": at[2]}) if at
                   else Problem("", f"not valid TOML: {exc}", "cli.validation.policy.toml"))
        raise PolicyError(str(path), [problem], declared_language(text)) from None
    policy = parse_policy(data, str(path))
    try:
        policy.business_calendar  # noqa: B018 - build once so calendar errors surface here
    except ValueError as exc:
        raise PolicyError(str(path), [Problem("calendar", str(exc))],
                          policy.language) from None
    return policy
