"""The ``sla-bot`` command line: run, migrate, import, sweep, digest, report, check-config."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import tomli_w
from sqlalchemy.exc import SQLAlchemyError

from bot import csv_import
from bot.clock import Clock, SystemClock
from bot.i18n import Translator
from bot.outbound_webhook import check_config, config_problems
from bot.placeholders import placeholder_problems
from bot.policy import Policy, PolicyError, declared_language, load_policy
from bot.problems import Problem
from bot.redact import redact_url
from bot.services import Services, build_services
from bot.settings import Settings, SettingsError, configured_policy_path, load_settings
from handlers import logging_setup
from storage import migrate
from storage.db import make_engine

if TYPE_CHECKING:
    from bot.agreement.versions import FileStanding

log = logging.getLogger("sla_bot")


def _configure_logging(level: str) -> None:
    """One handler for the process: values escaped, ids only (``handlers.logging_setup``)."""
    logging_setup.configure(level)


#: SPEC 8: the one line every command answers on a database that is behind the code
SCHEMA_NOT_CURRENT = "the database schema is not current: run sla-bot migrate first"


class SchemaNotCurrent(Exception):
    """A command needs a migrated database and this one is behind (or empty)."""


def _require_schema(services: Services) -> None:
    """Refuse before any query touches a table that may not exist yet.

    A fresh SQLite file is created empty by the first connection; without this gate the first
    query ended in a traceback (``no such table: leads``) instead of saying what to do.
    """
    if migrate.pending(services.engine):
        raise SchemaNotCurrent(services.t("cli.schema_not_current"))


@contextmanager
def _command_services(settings: Settings, policy: Policy, clock: Clock) -> Iterator[Services]:
    """What a one-shot command works with, on a current schema, running the agreement in
    force (SPEC 9): with approvers configured the database holds it, and a policy file whose
    agreement differs is a proposal — reports, deadlines and documents follow what ``run``
    runs, not the file (``bot.agreement.versions.use_in_force``). Closed on the way out."""
    from bot.agreement.versions import use_in_force

    services = build_services(settings, policy, clock)
    try:
        _require_schema(services)
        use_in_force(services)
        yield services
    finally:
        services.close()


@contextmanager
def _command(args: argparse.Namespace) -> Iterator[Services]:
    """How a one-shot command on the database starts: ``_configured``, then
    ``_command_services`` (whose policy keeps the file's people, channels and language)."""
    settings, policy = _configured(args)
    with _command_services(settings, policy, args.clock) as services:
        yield services


def _load(args: argparse.Namespace) -> tuple[Settings, Policy]:
    settings = load_settings()
    policy = _in_language(load_policy(args.config or settings.sla_config), args)
    check_config(settings, policy)  # e.g. a webhook url without its signing secret
    return settings, policy


def _configured(args: argparse.Namespace) -> tuple[Settings, Policy]:
    """The command's settings and policy (``_load``), the process's logging set up from them."""
    settings, policy = _load(args)
    _configure_logging(settings.log_level)
    return settings, policy


def _language(args: argparse.Namespace) -> str:
    """The language of a command's answer before (or without) a valid policy: ``--language``,
    else the one its policy file declares, else English (SPEC 8)."""
    if language := getattr(args, "language", None):
        return str(language)
    path = (getattr(args, "policy", None) or args.config or configured_policy_path()
            or "sla.toml")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return "en"
    return declared_language(text) or "en"


def _os_reason(exc: OSError, t: Translator) -> str:
    """Why a file could not be read or written, in ``t``'s language (the OS says it in
    English)."""
    for kind, key in ((FileNotFoundError, "not_found"), (PermissionError, "permission"),
                      (IsADirectoryError, "directory")):
        if isinstance(exc, kind):
            return t(f"cli.os_error.{key}")
    return str(exc.strerror or exc) if t.language == "en" else t("cli.os_error.other")


def _in_language(policy: Policy, args: argparse.Namespace) -> Policy:
    """SPEC 8: a command answers in one language, the policy's unless ``--language`` says."""
    language = getattr(args, "language", None)
    return policy.model_copy(update={"language": language}) if language else policy


def cmd_run(args: argparse.Namespace) -> int:
    from handlers.server import BotServer, run_until_signalled

    settings, policy = _configured(args)
    for problem in placeholder_problems(settings, policy):  # started anyway: /healthz works
        log.warning("placeholder: %s", problem)
    services = build_services(settings, policy, args.clock)
    if args.migrate if args.migrate is not None else settings.migrate_on_start:
        migrate.upgrade(services.engine)
    else:
        _require_schema(services)
    from bot.agreement.versions import record_at_start
    from bot.reminders.sweep import recompute_all
    from bot.scheduler import default_steps

    record_at_start(services)  # SPEC 9: the file's agreement, recorded as a version

    changed = recompute_all(services)  # the policy or calendar may have changed since last run
    log.info("reminder plan applied: %d lead(s) got a new next instant", changed)
    # the reports' stamps of a changed calendar, meanwhile measured by the reports themselves
    threading.Thread(target=_restamp, args=(services,), name="restamp", daemon=True).start()
    run_until_signalled(BotServer(services, port=args.port, sweep_steps=default_steps()),
                        on_started=_print_next_steps)
    return 0


def healthz_url(host: str, port: int) -> str:
    """The address to open: a server bound to every interface is reached on this machine as
    ``localhost`` (``http://0.0.0.0:3000`` does not open in every browser)."""
    shown = "localhost" if host in {"", "0.0.0.0", "::"} else host
    return f"http://[{shown}]:{port}/healthz" if ":" in shown else f"http://{shown}:{port}/healthz"


def _print_next_steps(server: Any) -> None:
    """SPEC 8: once it serves, say what to do next instead of ending on a log line."""
    settings, t = server.services.settings, server.services.t
    lines = [t("cli.run.running", url=healthz_url(settings.host, server.port))]
    if settings.socket_mode:
        lines.append(t("cli.run.socket_mode"))
    else:
        lines += [t("cli.run.request_url"), t("cli.run.request_url_address"),
                  t("cli.run.request_url_retry")]
    lines.append(t("cli.run.doctor"))
    print("\n".join(lines), flush=True)


def _restamp(services: Services) -> None:
    from bot.timings import restamp_all

    try:
        stamped = restamp_all(services)
    except Exception:  # the reports measure stale leads themselves: never fatal
        log.exception("re-stamping the leads' business-time facts failed")
        return
    if stamped:
        log.info("business-time facts stamped on %d lead(s)", stamped)


def cmd_sweep(args: argparse.Namespace) -> int:
    """One pass of everything the scheduler does (reminders, the digest and the review pack
    when due, pruning) and the deliveries it queued, for cron-style deployments."""
    from bot.agreement.activation import activation_step
    from bot.outbox.worker import OutboxWorker
    from bot.reminders.sweep import recompute_all, sweep_notices
    from bot.scheduler import default_steps, sweep

    with _command(args) as services:
        # SPEC 9: an approved agreement due now takes effect, and the one in force is used
        activation_step(services, services.clock.now())
        changed = recompute_all(services)
        _restamp(services)
        result = sweep_notices(services)
        sweep(services, [step for step in default_steps()
                         if step not in (sweep_notices, activation_step)])
        worker = OutboxWorker(services)
        delivered = 0
        for _ in range(args.max_passes):
            handled = worker.run_once()
            delivered += handled
            if handled == 0:
                break
    t = services.t
    print(t("cli.sweep.summary", leads=t.plural("cli.sweep.leads", result.leads),
            sent=t.plural("cli.sweep.reminders", result.sent),
            breaches=t.plural("cli.sweep.breaches", result.breaches),
            skipped=t.plural("cli.sweep.skipped", result.skipped),
            handled=t.plural("cli.sweep.handled", delivered),
            changed=t.plural("cli.sweep.replanned", changed)))
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    """Print (``--dry-run``) or post the weekly digest of a week (default: the latest due).

    Posting queues it under the same key the scheduler uses, so a week is never posted twice
    whoever posts it first; then the outbox delivers it (message and chart).
    """
    from bot.outbox.worker import OutboxWorker
    from bot.reporting.digest import BadWeek, build_digest, due_week, parse_week, queue_digest

    with _command(args) as services:
        now = services.clock.now()
        try:
            period = (parse_week(args.week, services.policy.tz) if args.week
                      else due_week(services.policy, now))
        except BadWeek as exc:
            print(services.t(exc.key, week=args.week), file=sys.stderr)
            return 2
        if args.chart:
            return _write_chart(build_digest(services, period), args.chart, services.t)
        if args.dry_run:
            print(build_digest(services, period).as_text(), end="")
            return 0
        if now < period.end:
            print(services.t("cli.digest.not_ended", week=period.label), file=sys.stderr)
            return 2
        queued = queue_digest(services, period, now)
        worker = OutboxWorker(services)  # also finishes an earlier run's delivery, if any
        for _ in range(args.max_passes):
            if worker.run_once() == 0:
                break
        if queued:
            print(services.t("cli.digest.posted", week=period.label,
                             channel=services.policy.channels.digest_channel))
        else:
            print(services.t("cli.digest.already_posted", week=period.label))
    return 0


def _write_chart(digest: Any, path: str, t: Translator) -> int:
    """``digest --chart FILE.png``: the week's chart as a file; nothing is posted."""
    if digest.chart_png is None:
        print(t("cli.digest.no_chart", week=digest.period.label), file=sys.stderr)
        return 1
    try:
        Path(path).write_bytes(digest.chart_png)
    except OSError as exc:
        print(t("cli.cannot_write", file=path, reason=_os_reason(exc, t)), file=sys.stderr)
        return 2
    print(t.plural("cli.digest.chart_written", len(digest.chart_png), week=digest.period.label,
                   file=path))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Print the monthly review pack; ``--csv`` writes the month's leads, ``--post`` posts it.

    Posting uses the scheduler's key (``review:YYYY-MM``), so a month is posted once whoever
    posts it first; then the outbox delivers it.
    """
    from bot.outbox.worker import OutboxWorker
    from bot.reporting.review import (
        BadMonth,
        build_review,
        due_month,
        parse_month,
        queue_review,
        write_csv,
    )

    with _command(args) as services:
        now = services.clock.now()
        try:
            period = (parse_month(args.month, services.policy.tz) if args.month
                      else due_month(services.policy, now))
        except BadMonth:
            print(services.t("cli.report.bad_month", month=repr(args.month)), file=sys.stderr)
            return 2
        if args.post and now < period.end:
            print(services.t("cli.report.not_ended", month=period.label), file=sys.stderr)
            return 2
        review = build_review(services, period)
        print(review.as_text(), end="")
        if args.csv:
            try:
                with open(args.csv, "w", encoding="utf-8-sig", newline="") as out:
                    rows = write_csv(services, period, out)  # utf-8-sig: Excel reads it right
            except OSError as exc:
                print(services.t("cli.cannot_write", file=args.csv,
                                 reason=_os_reason(exc, services.t)), file=sys.stderr)
                return 2
            print("\n" + services.t.plural("cli.report.csv_written", rows, rows=rows,
                                            month=period.label, file=args.csv))
        if args.post:
            queued = queue_review(services, period, now, review)
            worker = OutboxWorker(services)  # also finishes an earlier run's delivery, if any
            for _ in range(args.max_passes):
                if worker.run_once() == 0:
                    break
            if queued:
                print("\n" + services.t("cli.report.posted", month=period.label,
                                        channel=services.policy.channels.digest_channel))
            else:
                print("\n" + services.t("cli.report.already_posted", month=period.label))
    return 0


def _policy_file(args: argparse.Namespace, fallback: str = "sla.toml") -> str:
    """``--policy``, else the global ``--config``, else ``$SLA_CONFIG``, else ``fallback`` (or
    the shipped example when that file does not exist: these commands work on a fresh clone,
    before any setup)."""
    chosen = getattr(args, "policy", None) or args.config or configured_policy_path()
    if chosen:
        return str(chosen)
    return fallback if Path(fallback).exists() else _example_policy()


def _example_policy() -> str:
    here = Path("sla.example.toml")
    return str(here if here.exists() else Path(__file__).resolve().parent.parent / here.name)


def _instant(text: str, policy: Policy) -> datetime:
    """ISO 8601; without a UTC offset it is read in the policy's time zone."""
    at = datetime.fromisoformat(text)
    return at if at.tzinfo is not None else at.replace(tzinfo=policy.tz)


def cmd_preview(args: argparse.Namespace) -> int:
    """The deadlines and every reminder a lead arriving at ``--at`` would get; no database,
    no Slack, no secrets needed (with approvers configured, the agreement in force is read
    from the database when there is one: ``_preview_in_force``)."""
    from bot.intake import InvalidLead
    from bot.preview import build_preview, compare_lines

    path = _policy_file(args)
    policy = load_policy(path)
    source = Path(path).name
    if not args.policy:  # the configured policy: what runs is the agreement in force
        policy, source = _preview_in_force(policy, source, args.language)
    # SPEC 8: one language, the policy's unless --language says; a --compare follows the first
    t = Translator(args.language or policy.language)
    try:
        at = _instant(args.at, policy) if args.at else args.clock.now()
    except ValueError:
        print(t("cli.preview.bad_at", at=repr(args.at)), file=sys.stderr)
        return 2
    lead_json: bytes | None = None
    if args.lead:
        try:
            lead_json = Path(args.lead).read_bytes()
        except OSError as exc:
            print(t("cli.cannot_read", file=args.lead, reason=_os_reason(exc, t)),
                  file=sys.stderr)
            return 2
    try:
        preview = build_preview(policy, at, lead_json=lead_json, source=source, t=t)
        if not args.compare:
            print("\n".join(preview.lines(t)))
            return 0
        other = build_preview(load_policy(args.compare), at, lead_json=lead_json,
                              source=Path(args.compare).name, t=t)
    except InvalidLead as exc:
        print(t("cli.preview.invalid_lead", file=args.lead), file=sys.stderr)
        for error in exc.errors:
            print(f"  {error.field}: {error.text(t)}", file=sys.stderr)
        return 2
    print("\n".join(compare_lines(preview, other, t)))
    for each in (preview, other):
        print("\n" + "\n".join(each.lines(t)))
    return 0


def _preview_in_force(policy: Policy, source: str, language: str | None) -> tuple[Policy, str]:
    """With approvers configured and the database at hand, the configured policy's operations
    with the agreement in force, named as such; otherwise the file as it is (``preview`` needs
    no secrets nor database: without them the file is all there is)."""
    from bot.agreement.document import policy_with_agreement

    if not policy.governance.enabled:
        return policy, source
    try:
        settings = load_settings()
    except SettingsError:
        return policy, source
    standing = _agreement_standing(settings, policy)
    if standing is None:
        return policy, source
    try:
        in_force = policy_with_agreement(policy, standing.in_force_text)
    except PolicyError:  # run and check-config say so; the file is what can be shown
        return policy, source
    t = Translator(language or policy.language)
    return in_force, t("cli.preview.source_in_force", file=source, number=standing.in_force)

def cmd_demo(args: argparse.Namespace) -> int:
    """A scripted day and week of the real bot against a Slack stand-in on loopback: no
    tokens, no network, a throwaway database; every Slack surface printed as people see it."""
    from bot.outbox.worker import OutboxWorker
    from bot.sandbox.demo import DemoError, run_demo
    from handlers.app import LISTENER_THREADS
    from handlers.server import BotServer

    if args.speed < 0:
        print(Translator(_language(args))("cli.demo.bad_speed"), file=sys.stderr)
        return 2
    path = args.policy or args.config or _example_policy()
    policy = load_policy(path)
    logging_setup.configure(logging.ERROR)

    def start_bot(services: Services, worker: OutboxWorker) -> BotServer:
        server = BotServer(services, host="127.0.0.1", port=0, start_scheduler=False)
        server.worker = worker  # paced on the demo's clock
        return server.start()

    try:
        run_demo(policy, start_bot=start_bot, listener_threads=LISTENER_THREADS,
                 language=args.language, speed=args.speed, source=Path(path).name)
    except DemoError as exc:
        print(Translator(args.language or policy.language)("cli.demo.stopped", reason=exc),
              file=sys.stderr)
        return 1
    return 0


def cmd_agreement_history(args: argparse.Namespace) -> int:
    """SPEC 9: the agreement's versions with status, dates, proposer and approvals."""
    from bot.agreement.versions import history_text

    with _command(args) as services:
        print(history_text(services), end="")
    return 0


def cmd_agreement_propose(args: argparse.Namespace) -> int:
    """SPEC 9: FILE validated like check-config, recorded as a proposed version; the running
    bot posts it to both channels for approval. A refused file records nothing."""
    from bot.agreement.changes import describe_changes
    from bot.agreement.proposals import propose
    from bot.agreement.versions import OPERATOR, record_at_start
    from bot.policy import USER_ID
    from bot.terminal_text import plain
    from bot.views.proposal import impact_lines

    settings, policy = _configured(args)
    t = Translator(policy.language)
    if args.by is not None and not USER_ID.match(args.by):
        print(t("cli.agreement.propose.bad_by", value=args.by), file=sys.stderr)
        return 2
    try:
        proposed = load_policy(args.file)
    except PolicyError as exc:  # the same per-key lines as check-config
        print(t("cli.check.problems"), file=sys.stderr)
        for problem in exc.lines(t):
            print(f"  ✗ {exc.source}: {problem}", file=sys.stderr)
        print(t("cli.agreement.propose.nothing_recorded"), file=sys.stderr)
        return 2
    if not policy.governance.enabled:
        print(t("cli.agreement.propose.no_governance"), file=sys.stderr)
        return 2
    with _command_services(settings, policy, args.clock) as services:
        with services.unit_of_work() as uow:
            first = uow.agreements.active() is None
        if first:  # never started: the file's agreement is v1 in force, as `run` would record
            record_at_start(services)
        result = propose(services, proposed, proposer=args.by or OPERATOR, note=args.note)
    if result.outcome == "same_as_active":
        print(t("cli.agreement.propose.same_as_active", number=result.number or "—"))
        return 1
    if result.outcome == "same_as_open":
        print(t("cli.agreement.propose.same_as_open", number=result.number))
        return 1
    print(t("cli.agreement.propose.recorded", number=result.number))
    if result.superseded:
        print(t("cli.agreement.propose.superseded", number=result.superseded))
    agreement = [c for c in result.changes if not c.operational]
    operational = [c for c in result.changes if c.operational]
    for title, changes in (("changes", agreement), ("operational", operational)):
        if changes:
            print(t(f"cli.agreement.propose.{title}"))
            for line in describe_changes(changes, t):
                print(f"  • {plain(line)}")
    if result.impact is not None:
        print(t("agreement.proposal.impact", month=result.impact.month))
        for line in impact_lines(result.impact, t):
            print(f"  • {line}")
    print(t("cli.agreement.propose.next", handoff=policy.channels.handoff,
            marketing=policy.channels.marketing_feedback,
            when=t(f"cli.agreement.propose.effective_{policy.governance.effective}")))
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    """SPEC 9: the whole agreement as a document for the review meeting (a version, or the one
    in effect), as text or Markdown."""
    from bot.agreement.reading import AgreementVersionNotFound, agreement_view
    from bot.views.agreement import (
        MARKDOWN,
        TEXT,
        agreement_document_content,
        document_markdown,
        document_text,
    )

    with _command(args) as services:
        try:
            view = agreement_view(services, args.version)
        except AgreementVersionNotFound as exc:
            print(services.t(exc.message_key, **exc.params), file=sys.stderr)
            return 2
        markdown = args.format == "markdown"
        content = agreement_document_content(view, services.t, services.policy.tz,
                                             MARKDOWN if markdown else TEXT)
        print(document_markdown(content) if markdown else document_text(content), end="")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    _configure_logging(settings.log_level)
    engine = make_engine(settings.database_url)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    t = Translator(_language(args))  # the language the policy file declares
    if before == after:
        print(t("cli.migrate.current", revision=after))
    else:
        print(t("cli.migrate.upgraded", revision=after, before=before or t("cli.migrate.empty")))
    return 0


def cmd_makemigration(args: argparse.Namespace) -> int:
    """For developers: autogenerate a revision from the models against a scratch SQLite file."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{scratch}/scratch.db")
        migrate.upgrade(engine)
        migrate.make_revision(engine, args.message)
        engine.dispose()
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    environment: list[Problem] = []
    policy_problems: list[str] = []
    settings: Settings | None = None
    policy: Policy | None = None
    try:
        settings = load_settings()
    except SettingsError as exc:
        environment += exc.items
    config_path = args.config or (settings.sla_config if settings else "sla.toml")
    refused: PolicyError | None = None
    try:
        policy = _in_language(load_policy(config_path), args)
    except PolicyError as exc:
        refused = exc
    # the policy's language once it is read; else --language, else the one the refused file
    # declares, else English
    t = Translator(policy.language if policy is not None
                   else args.language or (refused.language if refused else None) or "en")
    if refused is not None:
        policy_problems += [f"{refused.source}: {line}" for line in refused.lines(t)]
    if settings is not None and policy is not None:
        environment += config_problems(settings, policy)
    problems = [t("cli.check.environment", problem=p.line(t)) for p in environment]
    problems += policy_problems + placeholder_problems(settings, policy, t)
    if problems:
        print(t("cli.check.problems"), file=sys.stderr)
        for problem in problems:
            print(f"  ✗ {problem}", file=sys.stderr)
        return 2
    assert settings is not None and policy is not None
    print(t("cli.check.environment_heading"))
    for key, value in settings.redacted(t).items():
        print(f"#   {key} = {value}")
    print(t("cli.check.database", state=_database_state(settings, t)))
    standing = _agreement_standing(settings, policy)
    if standing is None:
        print(t("cli.check.effective_policy", path=config_path) + "\n")
    else:  # SPEC 9: the database holds the agreement in force; the file's is not applied
        from bot.agreement.document import policy_with_agreement

        if standing.proposal is None:
            print(t("cli.check.agreement_differs", number=standing.in_force))
        else:
            print(t("cli.check.agreement_proposed", number=standing.in_force,
                    proposal=standing.proposal))
        try:
            policy = policy_with_agreement(policy, standing.in_force_text)
            print(t("cli.check.effective_policy_in_force", path=config_path,
                    number=standing.in_force) + "\n")
        except PolicyError:  # run says so too; the file is what can be shown
            print(t("cli.check.effective_policy", path=config_path) + "\n")
    print(tomli_w.dumps(_printable_policy(policy)))
    return 0


def _agreement_standing(settings: Settings, policy: Policy) -> FileStanding | None:
    """With approvers configured, whether the file's agreement differs from the one in force
    (``bot.agreement.versions.FileStanding``); None when it is applied or the database cannot
    tell (unreachable, schema behind: the database line says so)."""
    from bot.agreement.versions import file_standing
    from storage.db import make_session_factory
    from storage.unit_of_work import unit_of_work_factory

    if not policy.governance.enabled:
        return None
    engine = make_engine(settings.database_url)
    try:
        if migrate.pending(engine):
            return None
        with unit_of_work_factory(make_session_factory(engine))() as uow:
            return file_standing(uow, policy)
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def _printable_policy(policy: Policy) -> dict[str, Any]:
    """The effective policy with its one URL redacted (a receiver's token may sit in it)."""
    dumped: dict[str, Any] = policy.model_dump(mode="json", exclude_none=True)
    if isinstance(webhook := dumped.get("outbound_webhook"), dict) and "url" in webhook:
        webhook["url"] = redact_url(webhook["url"])
    return dumped


def cmd_doctor(args: argparse.Namespace) -> int:
    """The installation checked against Slack, item by item, each failure with its fix.

    Exit 0 when every check passes, 2 otherwise (Slack unreachable included).
    """
    from bot.doctor import doctor_client, run_checks
    from bot.views.doctor import doctor_lines

    settings, policy = _load(args)
    checks = run_checks(settings, policy, doctor_client(settings))
    print("\n".join(doctor_lines(checks, Translator(args.language or policy.language))))
    return 0 if all(check.ok for check in checks) else 2


def cmd_import(args: argparse.Namespace) -> int:
    """Import leads from a CSV file; per-row problems and a summary on stdout.

    Exit 0: no row rejected; 1: some rows rejected; 2: nothing could be imported (unreadable
    file, missing columns, schema not current, database down).
    """
    from bot.agreement.versions import use_in_force

    settings, policy = _load(args)
    try:
        table = csv_import.read_csv(args.file)
    except csv_import.CsvFileError as exc:
        t = Translator(policy.language)
        print(t("cli.import.cannot_import", file=args.file, reason=exc.text(t)), file=sys.stderr)
        return 2
    with _importing(settings, policy, args) as (services, progress):
        try:
            if migrate.pending(services.engine):
                if args.dry_run or not settings.migrate_on_start:
                    why = services.t("cli.import.schema_dry_run") if args.dry_run else ""
                    raise SchemaNotCurrent(services.t("cli.schema_not_current") + why)
                migrate.upgrade(services.engine)
            use_in_force(services)  # SPEC 9: leads qualify under the agreement in force
            report = csv_import.import_table(
                services, table, dry_run=args.dry_run, progress=progress,
                qualified_now=args.qualified_at == "now",
            )
        except csv_import.ImportInterrupted as exc:
            return _stopped(exc, progress, services.t, exc.text(services.t))
        except SQLAlchemyError as exc:  # its text may quote row values: name the type only
            print(services.t("cli.database_error", error=type(exc).__name__), file=sys.stderr)
            return 2
    return _printed(report)


def cmd_import_outcomes(args: argparse.Namespace) -> int:
    """Record deal outcomes from a CSV file; per-row results and a summary on stdout.

    Exit 0: every row read (recorded, duplicate, unknown lead or not an SQL); 1: some rows
    rejected; 2: nothing could be imported (unreadable file or header, schema not current,
    database down).
    """
    from bot.outcome_import import import_outcomes, read_outcome_file

    settings, policy = _load(args)
    try:
        table = read_outcome_file(args.file)
    except csv_import.CsvFileError as exc:
        print(Translator(policy.language)("cli.import_outcomes.cannot_import", file=args.file,
                                          reason=exc), file=sys.stderr)
        return 2
    with _importing(settings, policy, args) as (services, progress):
        try:
            if migrate.pending(services.engine):
                if not settings.migrate_on_start:
                    raise SchemaNotCurrent(SCHEMA_NOT_CURRENT)
                migrate.upgrade(services.engine)
            report = import_outcomes(services, table, progress=progress)
        except csv_import.ImportInterrupted as exc:
            return _stopped(exc, progress, services.t, exc)
        except SQLAlchemyError as exc:  # its text may quote row values: name the type only
            print(f"database error: {type(exc).__name__}", file=sys.stderr)
            return 2
    return _printed(report)


@contextmanager
def _importing(settings: Settings, policy: Policy, args: argparse.Namespace
               ) -> Iterator[tuple[Services, _ProgressBar]]:
    """An import's services (it checks or migrates the schema itself) and its progress bar
    (on a terminal, unless ``--quiet``); both closed on the way out."""
    services = build_services(settings, policy, args.clock)
    progress = _ProgressBar(enabled=not args.quiet and sys.stderr.isatty())
    try:
        yield services, progress
    finally:
        progress.close()
        services.close()


class _Report(Protocol):
    """What an import answers with (leads or outcomes)."""

    @property
    def exit_code(self) -> int: ...

    def lines(self) -> list[str]: ...


def _printed(report: _Report) -> int:
    """An import's rows and summary on stdout; its exit code."""
    for line in report.lines():
        print(line)
    return report.exit_code


def _stopped(exc: csv_import.ImportInterrupted, progress: _ProgressBar, t: Translator,
             reason: object) -> int:
    """An import that stopped part-way: the bar cleared, the rows it did, then why (exit 2)."""
    progress.close()
    _printed(exc.report)
    print(t("cli.import.stopped", reason=reason), file=sys.stderr)
    return 2


class _ProgressBar:
    """tqdm on stderr, created on the first call, when the total is known."""

    def __init__(self, *, enabled: bool) -> None:
        self._enabled = enabled
        self._bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            # delay: a small file is done before any bar is drawn
            self._bar = tqdm(total=total, unit="row", file=sys.stderr, delay=0.5, leave=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _database_state(settings: Settings, t: Translator) -> str:
    engine = make_engine(settings.database_url)
    try:
        current = migrate.current_revision(engine)
        head = migrate.head_revision()
    except SQLAlchemyError as exc:
        return t("cli.check.unreachable", error=type(exc).__name__)
    finally:
        engine.dispose()
    if current != head:
        return t("cli.check.behind", current=current, head=head)
    return t("cli.check.current", head=head) + _outbox_state(settings, t)


def _outbox_state(settings: Settings, t: Translator) -> str:
    """Messages Slack refused for good (e.g. the bot is not in the channel) need a person."""
    from bot.outbox.worker import outbox_health
    from storage.db import make_session_factory
    from storage.unit_of_work import unit_of_work_factory

    engine = make_engine(settings.database_url)
    try:
        health = outbox_health(unit_of_work_factory(make_session_factory(engine)))
    finally:
        engine.dispose()
    lines = ["\n" + t("cli.check.outbox", pending=health.pending, failed=health.failed)]
    for failure in health.failures:
        lines.append(t("cli.check.outbox_failure", kind=failure["kind"],
                       channel=failure["channel"], id=failure["id"], error=failure["error"]))
    if health.failed:
        lines.append(t("cli.check.outbox_fix"))
    return "\n".join(lines)


def _language_option(command: argparse.ArgumentParser, *, inherited: bool = False) -> None:
    """``inherited``: a sub-command keeps its parent's ``--language`` unless it is given again
    (argparse would otherwise reset it to the sub-command's default)."""
    command.add_argument("--language", choices=["en", "ja"],
                         default=argparse.SUPPRESS if inherited else None,
                         help="the language of the output (default: the policy's)")


def _version_number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
        raise argparse.ArgumentTypeError(f"expected a version number like 3, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sla-bot",
        description="The marketing-to-sales SLA, enforced in Slack.",
    )
    parser.add_argument(
        "--config", help="policy file (default: $SLA_CONFIG or sla.toml)", default=None
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="serve Slack, webhooks and /healthz, and run the scheduler")
    run.add_argument("--port", type=int, default=None, help="HTTP port (default: $PORT or 3000)")
    migrate_flag = run.add_mutually_exclusive_group()
    migrate_flag.add_argument(
        "--migrate", dest="migrate", action="store_true", default=None,
        help="apply pending migrations on start (default for SQLite)",
    )
    migrate_flag.add_argument("--no-migrate", dest="migrate", action="store_false")
    run.set_defaults(func=cmd_run)

    sub.add_parser("migrate", help="apply pending database migrations").set_defaults(
        func=cmd_migrate
    )
    check = sub.add_parser("check-config", help="validate env and policy; print the policy")
    _language_option(check)
    check.set_defaults(func=cmd_check_config)

    imp = sub.add_parser("import", help="import leads from a CSV file (see samples/leads.csv)")
    imp.add_argument("file", help="UTF-8 CSV with a header row (Excel's CSV UTF-8 works)")
    imp.add_argument(
        "--dry-run", action="store_true", help="validate and evaluate every row; write nothing"
    )
    imp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    imp.add_argument(
        "--qualified-at", choices=["now"], default=None,
        help="take every lead as qualified now (activities moved with it), e.g. for the "
             "sample file, so nothing is handed off late")
    _language_option(imp)
    imp.set_defaults(func=cmd_import)
    out = sub.add_parser("import-outcomes",
                         help="record deal outcomes (won / lost / open) from a CSV file")
    out.add_argument("file", help="UTF-8 CSV with the outcome webhook's fields as columns")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _language_option(out)
    out.set_defaults(func=cmd_import_outcomes)

    swp = sub.add_parser("sweep", help="one scheduler pass (for cron), then deliver what it queued")
    swp.add_argument("--max-passes", type=int, default=50,
                     help="outbox passes (20 items each) before giving up until the next run")
    swp.set_defaults(func=cmd_sweep)
    dig = sub.add_parser("digest", help="post the weekly digest now (or print it: --dry-run)")
    dig.add_argument("--week", default=None, metavar="YYYY-Www",
                     help="ISO week, e.g. 2026-W48 (default: the latest week whose digest is due)")
    dig.add_argument("--dry-run", action="store_true",
                     help="print the digest as text; queue and send nothing")
    dig.add_argument("--chart", default=None, metavar="FILE.png",
                     help="write the week's chart to a PNG file; queue and send nothing")
    dig.add_argument("--max-passes", type=int, default=50, help=argparse.SUPPRESS)
    _language_option(dig)
    dig.set_defaults(func=cmd_digest)
    rep = sub.add_parser("report", help="the monthly review pack: print, --csv, --post")
    rep.add_argument("--month", default=None, metavar="YYYY-MM",
                     help="calendar month, e.g. 2026-11 (default: the latest month whose pack "
                          "is due)")
    rep.add_argument("--csv", default=None, metavar="FILE",
                     help="also write the month's leads with their timings (no contact data)")
    rep.add_argument("--post", action="store_true",
                     help="post the pack to the digest channel (once per month, whoever posts)")
    rep.add_argument("--max-passes", type=int, default=50, help=argparse.SUPPRESS)
    _language_option(rep)
    rep.set_defaults(func=cmd_report)
    demo = sub.add_parser(
        "demo", help="try it without Slack: a scripted day and week of the real bot")
    demo.add_argument("--policy", default=None, metavar="FILE",
                      help="policy file (default: --config, else the shipped sla.example.toml)")
    demo.add_argument("--language", choices=["en", "ja"], default=None,
                      help="the bot's language (default: the policy's)")
    demo.add_argument("--speed", type=float, default=3600.0,
                      help="simulated seconds per real second (default 3600: an hour a "
                           "second); 0 runs without pauses")
    demo.set_defaults(func=cmd_demo)
    pre = sub.add_parser(
        "preview", help="deadlines and reminders a lead arriving at a given time would get")
    pre.add_argument("--policy", default=None, metavar="FILE",
                     help="policy file (default: --config, else sla.toml, else the example)")
    pre.add_argument("--at", default=None, metavar="ISO-TIME",
                     help="hand-off time, e.g. 2027-01-08T17:30 (policy time zone unless an "
                          "offset is given; default: now)")
    pre.add_argument("--lead", default=None, metavar="FILE.json",
                     help="a lead in the webhook's JSON format: its tier and qualified_at apply")
    pre.add_argument("--compare", default=None, metavar="OTHER.toml",
                     help="show another policy side by side, and what changes")
    _language_option(pre)
    pre.set_defaults(func=cmd_preview)
    doc = sub.add_parser(
        "doctor", help="check the installation against Slack: token, scopes, channels, people")
    doc.add_argument("--language", choices=["en", "ja"], default=None,
                     help="the checklist's language (default: the policy's)")
    doc.set_defaults(func=cmd_doctor)
    agr = sub.add_parser(
        "agreement", help="the agreement both sides own: the whole document, or its versions")
    agr.add_argument("--version", type=_version_number, default=None, metavar="N",
                     help="the version to print (default: the one in effect)")
    agr.add_argument("--format", choices=["text", "markdown"], default="text",
                     help="plain text (default) or Markdown")
    _language_option(agr)
    agr.set_defaults(func=cmd_agreement)
    agr_sub = agr.add_subparsers(dest="agreement_command", metavar="COMMAND")
    hist = agr_sub.add_parser("history", help="list the versions: status, dates, approvals")
    _language_option(hist, inherited=True)
    hist.set_defaults(func=cmd_agreement_history)
    prop = agr_sub.add_parser(
        "propose", help="propose FILE's agreement; both sides approve it in Slack")
    prop.add_argument("file", metavar="FILE", help="the policy file with the changed agreement")
    prop.add_argument("--note", default=None, help="why: shown with the proposal")
    prop.add_argument("--by", default=None, metavar="USER_ID",
                      help="your Slack member id (U…), so you can withdraw it in Slack "
                           "(default: the operator; any approver may withdraw it)")
    prop.set_defaults(func=cmd_agreement_propose)
    make = sub.add_parser("makemigration", help="(developers) autogenerate a migration")
    make.add_argument("-m", "--message", required=True)
    make.set_defaults(func=cmd_makemigration)
    return parser


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush into the closed pipe
    does not print a traceback at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None, clock: Clock | None = None) -> int:
    """The CLI's composition root: one clock for the whole command (``SystemClock`` unless
    given), handed to every service it builds as ``args.clock``."""
    args = build_parser().parse_args(argv)
    args.clock = clock or SystemClock()
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `sla-bot preview | head`: the reader has what it wanted
        _quiet_stdout()
        return 0
    except SettingsError as exc:
        t = Translator(_language(args))
        print(t("cli.configuration_error") + "\n" + "\n".join(exc.lines(t)), file=sys.stderr)
        return 2
    except PolicyError as exc:
        t = Translator(getattr(args, "language", None) or exc.language or "en")
        print(t("cli.configuration_error") + "\n" + exc.text(t), file=sys.stderr)
        return 2
    except SchemaNotCurrent as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:  # its text may quote values or the URL: name the type only
        t = Translator(_language(args))
        print(t("cli.database_unusable", error=type(exc).__name__), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
