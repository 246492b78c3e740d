"""Secrets and endpoints from the environment — the only module that reads it.

The policy (numbers of the agreement) lives in a TOML file instead, see ``bot.policy``;
this module only says where that file is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import find_dotenv, load_dotenv

from bot.i18n import FALLBACK, Translator
from bot.problems import Problem
from bot.redact import BadDatabaseUrl, parse_database_url, redact_url

DEFAULT_DATABASE_URL = "sqlite:///sla-bot.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_HUBSPOT_API_URL = "https://api.hubapi.com"
MIN_WEBHOOK_SECRET_LENGTH = 16


class SettingsError(ValueError):
    """The environment is unusable; the message lists every problem (English), ``lines(t)``
    says them in the reader's language (SPEC 8)."""

    def __init__(self, problems: Sequence[str | Problem]) -> None:
        self.items = [p if isinstance(p, Problem) else Problem("", p) for p in problems]
        self.problems = [str(p) for p in self.items]
        super().__init__("\n".join(self.problems))

    def lines(self, t: Translator) -> list[str]:
        return [p.line(t) for p in self.items]


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_signing_secret: str
    slack_app_token: str | None = None
    intake_token: str | None = None
    #: the token being rotated out, accepted beside ``intake_token`` until every sender has
    #: the new one (see the README's "Rotating secrets")
    intake_token_previous: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    slack_api_url: str = DEFAULT_SLACK_API_URL
    sla_config: Path = Path("sla.toml")
    port: int = 3000
    host: str = "0.0.0.0"
    auto_migrate: bool | None = None  # None: on for SQLite, off for PostgreSQL
    log_level: str = "INFO"
    #: signs outbound webhooks (``X-SLA-Signature``); required when the policy sets a webhook
    outbound_webhook_secret: str | None = None
    #: marketing-automation adapters (``bot.adapters``); each is off (404) while its secret is unset
    mautic_webhook_secret: str | None = None
    hubspot_client_secret: str | None = None
    #: a HubSpot private app's token, to fetch contacts named by thin Webhooks-API events
    hubspot_access_token: str | None = None
    hubspot_api_url: str = DEFAULT_HUBSPOT_API_URL
    marketo_webhook_token: str | None = None
    #: the bot's public URL (``https://sla.example.com``) when a proxy changes the Host header:
    #: HubSpot's v3 signature covers the full URL HubSpot called
    public_base_url: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def intake_tokens(self) -> tuple[str, ...]:
        """The bearer tokens the intake webhooks accept: none while ``INTAKE_TOKEN`` is unset."""
        if not self.intake_token:
            return ()
        return tuple(t for t in (self.intake_token, self.intake_token_previous) if t)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def migrate_on_start(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    def redacted(self, t: Translator | None = None) -> dict[str, str]:
        """What ``check-config`` may print: secrets reduced to set / not set (in ``t``'s
        language)."""
        t = t or Translator(FALLBACK)

        def secret(value: str | None) -> str:
            return t("cli.environment.set") if value else t("cli.environment.not_set")

        return {
            "SLACK_BOT_TOKEN": secret(self.slack_bot_token),
            "SLACK_SIGNING_SECRET": secret(self.slack_signing_secret),
            "SLACK_APP_TOKEN": secret(self.slack_app_token) + t(
                "cli.environment.socket_mode" if self.socket_mode
                else "cli.environment.http_mode"),
            "INTAKE_TOKEN": secret(self.intake_token),
            "INTAKE_TOKEN_PREVIOUS": secret(self.intake_token_previous) + (
                t("cli.environment.previous_accepted") if self.intake_token_previous else ""),
            "OUTBOUND_WEBHOOK_SECRET": secret(self.outbound_webhook_secret),
            "MAUTIC_WEBHOOK_SECRET": secret(self.mautic_webhook_secret),
            "HUBSPOT_CLIENT_SECRET": secret(self.hubspot_client_secret),
            "HUBSPOT_ACCESS_TOKEN": secret(self.hubspot_access_token),
            "HUBSPOT_API_URL": redact_url(self.hubspot_api_url),
            "MARKETO_WEBHOOK_TOKEN": secret(self.marketo_webhook_token),
            "PUBLIC_BASE_URL": (redact_url(self.public_base_url or "")
                                or t("cli.environment.not_set")),
            "DATABASE_URL": redact_url(self.database_url),
            "SLACK_API_URL": redact_url(self.slack_api_url),
            "SLA_CONFIG": str(self.sla_config),
            "PORT": str(self.port),
            "MIGRATE_ON_START": str(self.migrate_on_start).lower(),
        }


def _problem(name: str, english: str, key: str, **params: object) -> Problem:
    """One environment problem: the variable, the English text, its catalog key."""
    return Problem(name, english, f"cli.environment.{key}", params)


def _bool(name: str, raw: str, problems: list[Problem]) -> bool | None:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    problems.append(_problem(name, f"expected true or false, got {raw!r}", "boolean",
                             value=repr(raw)))
    return None


def configured_policy_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """``SLA_CONFIG`` when set: for commands that need the policy but no Slack secrets
    (``preview``, ``demo``), which must honour it like ``run`` does."""
    value = (os.environ if environ is None else environ).get("SLA_CONFIG", "").strip()
    return Path(value) if value else None


def load_settings(
    environ: Mapping[str, str] | None = None, *, dotenv: bool = True
) -> Settings:
    """Read the environment (and ``.env`` when asked) into ``Settings``.

    Every problem is collected so the operator fixes them in one go.
    """
    if environ is None:
        if dotenv:
            # The operator's .env beside where the bot is started, not beside our code.
            load_dotenv(find_dotenv(usecwd=True), override=False)
        environ = os.environ
    problems: list[Problem] = []

    def required(name: str) -> str:
        value = environ.get(name, "").strip()
        if not value:
            problems.append(_problem(name, "required, not set (see .env.example)", "required"))
        return value

    token = required("SLACK_BOT_TOKEN")
    if token and not token.startswith("xoxb-"):
        problems.append(_problem("SLACK_BOT_TOKEN", "expected a bot token starting with 'xoxb-'",
                                 "bot_token"))
    secret = required("SLACK_SIGNING_SECRET")
    app_token = environ.get("SLACK_APP_TOKEN", "").strip() or None
    if app_token and not app_token.startswith("xapp-"):
        problems.append(_problem("SLACK_APP_TOKEN",
                                 "expected an app-level token starting with 'xapp-'",
                                 "app_token"))

    port_raw = environ.get("PORT", "3000").strip() or "3000"
    port = 3000
    if not port_raw.isdigit() or not 0 <= int(port_raw) <= 65535:
        problems.append(_problem("PORT", f"expected a port number 0-65535, got {port_raw!r}",
                                 "port", value=repr(port_raw)))
    else:
        port = int(port_raw)

    api_url = environ.get("SLACK_API_URL", "").strip() or DEFAULT_SLACK_API_URL
    if not api_url.startswith(("http://", "https://")):
        shown = repr(redact_url(api_url))
        problems.append(_problem("SLACK_API_URL",
                                 f"expected an http:// or https:// URL, got {shown}",
                                 "url", value=shown))
    if not api_url.endswith("/"):
        api_url += "/"

    database_url = environ.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgres://")
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    if not database_url.startswith(("sqlite", "postgresql")):
        problems.append(_problem("DATABASE_URL", "expected a sqlite:/// or postgresql:// URL",
                                 "database_url"))
    else:
        try:
            parse_database_url(database_url)
        except BadDatabaseUrl:  # the value is not echoed: it may hold the password
            problems.append(_problem(
                "DATABASE_URL",
                "cannot be parsed; percent-encode special characters in the user "
                "name and password (@ as %40, : as %3A, / as %2F, % as %25)",
                "database_url_unparsable"))

    webhook_secret = environ.get("OUTBOUND_WEBHOOK_SECRET", "").strip() or None
    if webhook_secret is not None and len(webhook_secret) < MIN_WEBHOOK_SECRET_LENGTH:
        problems.append(_problem(
            "OUTBOUND_WEBHOOK_SECRET",
            f"too short to sign with (at least {MIN_WEBHOOK_SECRET_LENGTH} characters; "
            "e.g. `openssl rand -hex 32`)",
            "secret_too_short", count=MIN_WEBHOOK_SECRET_LENGTH))

    hubspot_api_url = (environ.get("HUBSPOT_API_URL", "").strip()
                       or DEFAULT_HUBSPOT_API_URL).rstrip("/")
    if not hubspot_api_url.startswith(("http://", "https://")):
        shown = repr(redact_url(hubspot_api_url))
        problems.append(_problem("HUBSPOT_API_URL",
                                 f"expected an http:// or https:// URL, got {shown}",
                                 "url", value=shown))
    public_base_url = environ.get("PUBLIC_BASE_URL", "").strip().rstrip("/") or None
    if public_base_url is not None and not public_base_url.startswith(("http://", "https://")):
        shown = repr(redact_url(public_base_url))
        problems.append(_problem(
            "PUBLIC_BASE_URL", f"expected the bot's public http:// or https:// URL, got {shown}",
            "public_url", value=shown))

    intake_token = environ.get("INTAKE_TOKEN", "").strip() or None
    intake_token_previous = environ.get("INTAKE_TOKEN_PREVIOUS", "").strip() or None
    if intake_token_previous is not None and intake_token is None:
        problems.append(_problem("INTAKE_TOKEN_PREVIOUS",
                                 "set without INTAKE_TOKEN (the new token)", "previous_alone"))

    auto_migrate = None
    if raw := environ.get("MIGRATE_ON_START", "").strip():
        auto_migrate = _bool("MIGRATE_ON_START", raw, problems)

    if problems:
        raise SettingsError(problems)
    return Settings(
        slack_bot_token=token,
        slack_signing_secret=secret,
        slack_app_token=app_token,
        intake_token=intake_token,
        intake_token_previous=intake_token_previous,
        database_url=database_url,
        slack_api_url=api_url,
        sla_config=configured_policy_path(environ) or Path("sla.toml"),
        port=port,
        host=environ.get("HOST", "").strip() or "0.0.0.0",
        auto_migrate=auto_migrate,
        log_level=(environ.get("LOG_LEVEL", "").strip() or "INFO").upper(),
        outbound_webhook_secret=webhook_secret,
        mautic_webhook_secret=environ.get("MAUTIC_WEBHOOK_SECRET", "").strip() or None,
        hubspot_client_secret=environ.get("HUBSPOT_CLIENT_SECRET", "").strip() or None,
        hubspot_access_token=environ.get("HUBSPOT_ACCESS_TOKEN", "").strip() or None,
        hubspot_api_url=hubspot_api_url,
        marketo_webhook_token=environ.get("MARKETO_WEBHOOK_TOKEN", "").strip() or None,
        public_base_url=public_base_url,
    )
