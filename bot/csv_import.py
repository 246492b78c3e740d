"""``sla-bot import leads.csv``: many leads from a spreadsheet, through the webhook's own path.

Each row becomes the canonical intake payload of SPEC section 3 and goes through
``bot.intake.parse_data`` and ``bot.intake.accept`` exactly like a webhook delivery, so a lead
imported from a CSV is stored, qualified, de-duplicated and handed off exactly like one that was
posted. Every row is its own transaction: a bad row is reported with its line number and never
stops the others, and re-importing the same file changes nothing (``external_id`` repeats are
duplicates).

The whole file is decoded and split into records before the first row is written, so a file
that cannot be read (not UTF-8, broken quoting, missing required columns) is refused as a whole
with nothing written, instead of half-imported.

Rows carry personal data, so nothing here prints or logs an email, a phone or a name: a row is
reported by its line number and ``external_id``, with field errors that name columns, not
values.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, TextIO

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    SQLAlchemyError,
    StatementError,
)

from bot.definition import evaluate
from bot.i18n import Translator
from bot.intake import FieldError, InvalidLead, MqlIn, accept, build_lead, parse_data
from bot.lifecycle import Surface
from bot.policy import Policy
from bot.problems import Problem
from bot.row_report import FileReport, FileRow
from bot.services import Services
from bot.views.labels import criteria_as_text

__all__ = [
    "CsvFileError",
    "CsvTable",
    "ImportInterrupted",
    "ImportReport",
    "Outcome",
    "RowResult",
    "import_csv",
    "import_table",
    "read_csv",
    "read_records",
]

DEFAULT_SOURCE = "csv"
REQUIRED_COLUMNS = ("external_id", "qualified_at", "contact_name")
#: Flat CSV column → (nested object or None, key) in the canonical payload.
SCALAR_COLUMNS: dict[str, tuple[str | None, str]] = {
    "external_id": (None, "external_id"),
    "source": (None, "source"),
    "qualified_at": (None, "qualified_at"),
    "score": (None, "score"),
    "contact_name": ("contact", "name"),
    "contact_email": ("contact", "email"),
    "contact_title": ("contact", "title"),
    "contact_phone": ("contact", "phone"),
    "company_name": ("company", "name"),
    "company_industry": ("company", "industry"),
    "company_employees": ("company", "employees"),
    "company_domain": ("company", "domain"),
}
INTEGER_COLUMNS = frozenset({"score", "company_employees"})
ACTIVITIES_COLUMN = "activities"
#: Payload keys an extra column must not overwrite.
RESERVED_COLUMNS = frozenset({"contact", "company"})
_ACTIVITY_GROUP = re.compile(r"activity_(\d+)_(\w+)")
_INTEGER = re.compile(r"[+-]?\d{1,30}")
#: A cell may be as large as a whole webhook body (SPEC: 1 MiB); csv's default is 128 KiB.
MAX_CELL_CHARS = 1024 * 1024

#: ``progress(rows_done, rows_total)``, called before the first row and after each one.
Progress = Callable[[int, int], None]


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # stored and queued for handoff
    DUPLICATE = "duplicate"  # its external_id was already stored; nothing changed
    NOT_QUALIFIED = "not_qualified"  # stored, but does not meet the MQL definition
    REJECTED = "rejected"  # does not follow the intake contract; nothing stored


class CsvFileError(ValueError):
    """The file as a whole cannot be imported; nothing was written.

    ``str()`` is English; ``text(t)`` says the same in the reader's language.
    """

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(p.english for p in problems))
        self.problems = problems

    def text(self, t: Translator) -> str:
        return t("cli.import.problem_separator").join(p.text(t) for p in self.problems)


def _file_error(english: str, key: str, **params: Any) -> CsvFileError:
    return CsvFileError(Problem("", english, f"cli.import.file.{key}", params))


@dataclass(frozen=True)
class RowResult(FileRow[Outcome]):
    CATALOG: ClassVar[str] = "cli.import"

    #: accepted, but already past the hand-off promise: its post will come with a breach notice
    late_handoff: bool = False

    @property
    def external_id(self) -> str | None:
        return self.row_id


@dataclass
class ImportReport(FileReport[RowResult, Outcome]):
    CATALOG: ClassVar[str] = "cli.import"
    TAKEN: ClassVar[StrEnum] = Outcome.ACCEPTED
    REJECTED: ClassVar[StrEnum] = Outcome.REJECTED

    dry_run: bool = False
    #: the policy's hand-off promise, to say which accepted leads are already late
    handoff_within_hours: int = 24

    def summary(self) -> str:
        dry = Translator(self.language)("cli.import.dry_run") if self.dry_run else ""
        return super().summary() + dry

    def notes(self) -> list[str]:
        """Old files hand off late: say so before the bot posts breach notices for them."""
        late = sum(1 for row in self.rows if row.late_handoff)
        if not late:
            return []
        key = "cli.import.late_dry_run" if self.dry_run else "cli.import.late"
        return [Translator(self.language).plural(key, late, hours=self.handoff_within_hours)]


class ImportInterrupted(RuntimeError):
    """The database failed mid-import; rows before ``report`` ends are done, the rest are not.

    Re-running the same file is safe: rows already stored come back as duplicates.
    """

    def __init__(self, line: int, report: FileReport[Any, Any], cause: BaseException) -> None:
        super().__init__(
            f"the database failed at line {line} ({type(cause).__name__}); "
            f"{len(report.rows)} earlier row(s) were processed"
        )
        self.line = line
        self.report = report
        self.error = type(cause).__name__

    def text(self, t: Translator) -> str:
        return t.plural("cli.import.interrupted", len(self.report.rows), line=self.line,
                        error=self.error)


@dataclass(frozen=True)
class _Column:
    index: int
    name: str  # as in the header (stripped), kept as the key for extra fields
    key: str  # lower-cased, for matching the known columns


@dataclass(frozen=True)
class CsvTable:
    """A decoded, split file: the header's meaning and each record with its first line."""

    columns: list[_Column]
    width: int  # cells in the header row, named or not
    records: list[tuple[int, list[str]]]
    activity_groups: dict[int, dict[str, int]]  # N → field → cell index

    def index(self, key: str) -> int | None:
        return next((c.index for c in self.columns if c.key == key), None)


# --- reading ------------------------------------------------------------------------------------


def read_csv(source: str | os.PathLike[str] | TextIO) -> CsvTable:
    """Decode and split the whole file and check its header; ``CsvFileError`` if it can't be used.

    Accepts UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8") and any line endings.
    """
    header, rows = read_records(source)
    columns, groups = _read_header(header)
    return CsvTable(columns=columns, width=len(header), records=rows, activity_groups=groups)


def read_records(
    source: str | os.PathLike[str] | TextIO,
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header's cells and every non-blank record with the line it starts on, the whole file
    decoded and split first; ``CsvFileError`` when it cannot be read (every CSV import's)."""
    text = _read_text(source)
    if "\x00" in text:
        raise _file_error(
            "it contains NUL characters: is it UTF-16 or a binary file? Save it as CSV UTF-8",
            "nul",
        )
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, MAX_CELL_CHARS))
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=False)
        records: list[tuple[int, list[str]]] = []
        previous_end = 0
        for cells in reader:
            # line_num is the *last* physical line of the record (quoted cells may hold line
            # breaks); the operator looks for where the record starts.
            records.append((previous_end + 1, cells))
            previous_end = reader.line_num
    except csv.Error as exc:
        raise CsvFileError(Problem("", f"line {reader.line_num}: {exc}",
                                   "cli.import.file.syntax", {"line": reader.line_num})) from None
    finally:
        csv.field_size_limit(limit)
    records = [(line, cells) for line, cells in records if any(c.strip() for c in cells)]
    if not records:
        raise _file_error("the file is empty: a header row naming the columns is required",
                          "empty")
    (_, header), *rows = records
    return header, rows


def _read_text(source: str | os.PathLike[str] | TextIO) -> str:
    if isinstance(source, str | os.PathLike):
        try:
            with open(source, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise _file_error(f"cannot read it: {exc.strerror or type(exc).__name__}",
                              _os_error_key(exc)) from None
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise _file_error("it is UTF-16 text: save it as CSV UTF-8", "utf16")
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _file_error(
                f"it is not UTF-8 (byte {exc.start}): save it as CSV UTF-8 "
                "(Excel: 'CSV UTF-8 (Comma delimited)'), not Shift_JIS or another code page",
                "not_utf8", byte=exc.start,
            ) from None
    try:
        text = source.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise _file_error(f"cannot read it: {type(exc).__name__}", "unreadable") from None
    return text.removeprefix("\ufeff")


def _os_error_key(exc: OSError) -> str:
    """Why a file could not be opened, as a catalog key (the OS says it in English)."""
    if isinstance(exc, FileNotFoundError):
        return "not_found"
    if isinstance(exc, PermissionError):
        return "permission"
    if isinstance(exc, IsADirectoryError):
        return "directory"
    return "unreadable"


def _read_header(header: list[str]) -> tuple[list[_Column], dict[int, dict[str, int]]]:
    columns: list[_Column] = []
    problems: list[Problem] = []
    for index, raw in enumerate(header):
        name = raw.strip()
        if name:  # Excel leaves unnamed trailing columns ("a,b,,"): nothing to import there
            columns.append(_Column(index, name, name.lower()))
    counts = Counter(c.key for c in columns)
    repeated = sorted(key for key, n in counts.items() if n > 1)
    if repeated:
        problems.append(Problem("", "repeated columns: " + ", ".join(repeated),
                                "cli.import.file.repeated", {"columns": ", ".join(repeated)}))
    keys = set(counts)
    missing = [key for key in REQUIRED_COLUMNS if key not in keys]
    if missing:
        problems.append(Problem("", "missing required columns: " + ", ".join(missing),
                                "cli.import.file.missing", {"columns": ", ".join(missing)}))
    reserved = sorted(keys & RESERVED_COLUMNS)
    if reserved:
        problems.append(Problem(
            "", "reserved column names: " + ", ".join(reserved)
            + " (use contact_name, company_name, ... instead)",
            "cli.import.file.reserved", {"columns": ", ".join(reserved)}))
    if problems:
        raise CsvFileError(*problems)
    groups: dict[int, dict[str, int]] = {}
    for column in columns:
        match = _ACTIVITY_GROUP.fullmatch(column.key)
        if match:
            groups.setdefault(int(match[1]), {})[match[2]] = column.index
    return columns, dict(sorted(groups.items()))


# --- importing ----------------------------------------------------------------------------------


def import_csv(
    services: Services,
    source: str | os.PathLike[str] | TextIO,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Read ``source`` and import every row; ``CsvFileError`` if the file can't be used at all."""
    return import_table(services, read_csv(source), dry_run=dry_run, progress=progress)


def import_table(
    services: Services,
    table: CsvTable,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    qualified_now: bool = False,
) -> ImportReport:
    """Import the rows of a file already read; with ``dry_run``, say what would happen only.

    ``qualified_now``: each lead is taken as qualified at the moment of import, its activities
    moved by the same amount, so a sample or an old export hands off on time with the history
    it had (``sla-bot import --qualified-at now``).
    """
    report = ImportReport(
        dry_run=dry_run, handoff_within_hours=services.policy.agreement.handoff_within_hours,
        language=services.t.language,
    )
    seen: dict[str, int] = {}  # dry run: external_id → line that would have stored it
    total = len(table.records)
    if progress:
        progress(0, total)
    for done, (line, cells) in enumerate(table.records, start=1):
        try:
            report.rows.append(
                _import_row(services, table, line, cells, dry_run, seen, qualified_now)
            )
        except SQLAlchemyError as exc:
            raise ImportInterrupted(line, report, exc) from exc
        if progress:
            progress(done, total)
    return report


def _import_row(
    services: Services,
    table: CsvTable,
    line: int,
    cells: list[str],
    dry_run: bool,
    seen: dict[str, int],
    qualified_now: bool = False,
) -> RowResult:
    external_id = _cell(cells, table.index("external_id"))
    external_id = external_id.strip() if external_id else None
    now = services.clock.now()
    try:
        mql = _parse_row(table, cells, now)
    except InvalidLead as exc:
        detail = services.t("cli.import.problem_separator").join(
            f"{e.field}: {e.text(services.t)}" for e in exc.errors)
        return RowResult(line, external_id, Outcome.REJECTED, detail)
    if qualified_now:
        mql = _qualified_at(mql, now)
    late = mql.qualified_at + timedelta(
        hours=services.policy.agreement.handoff_within_hours) < now
    if dry_run:
        result = _evaluate_only(services, line, mql, seen)
        return replace(result, late_handoff=late and result.outcome == Outcome.ACCEPTED)
    try:
        result = accept(services, mql, surface=Surface.CSV, actor=None)
    except SQLAlchemyError as exc:
        if not _refused_row(exc):
            raise  # the database itself failed: stop, and say where (ImportInterrupted)
        # the type only: a database error's text quotes the row's values
        detail = services.t("cli.import.refused", error=type(exc).__name__)
        return RowResult(line, mql.external_id, Outcome.REJECTED, detail)
    if result.status == "queued":
        return RowResult(line, mql.external_id, Outcome.ACCEPTED, lead_id=result.lead_id,
                         late_handoff=late)
    if result.status == "duplicate":
        detail = services.t("cli.import.stored", lead=result.lead_id)
        return RowResult(line, mql.external_id, Outcome.DUPLICATE, detail, result.lead_id)
    detail = _reasons_text(services.policy, services.t, result.reason_codes, result.reasons)
    return RowResult(line, mql.external_id, Outcome.NOT_QUALIFIED, detail, result.lead_id)


def _reasons_text(policy: Policy, t: Translator, codes: Sequence[Mapping[str, Any]],
                  english: Sequence[str]) -> str:
    """Why a row does not qualify, in the policy's language."""
    return t("cli.import.problem_separator").join(criteria_as_text(codes, english, policy, t))


def _qualified_at(mql: MqlIn, at: datetime) -> MqlIn:
    """The lead as if it qualified at ``at``: its activities keep their distance to it."""
    shift = at - mql.qualified_at
    activities = [a.model_copy(update={"at": a.at + shift}) for a in mql.activities]
    return mql.model_copy(update={"qualified_at": at, "activities": activities})


def _refused_row(exc: SQLAlchemyError) -> bool:
    """The database refused this row's values (skip it, like an invalid row), as opposed to
    being unreachable or failing as a whole (stop the import; a re-run finishes it)."""
    if isinstance(exc, DataError | IntegrityError):
        return True
    # raised while converting the row's values for the database, before it was even asked
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


def _evaluate_only(
    services: Services, line: int, mql: MqlIn, seen: dict[str, int]
) -> RowResult:
    """What ``accept`` would answer, judged on an in-memory lead; nothing is written."""
    with services.unit_of_work() as uow:
        existing = uow.leads.by_external_id(mql.external_id)
        existing_id = existing.id if existing is not None else None
    if existing_id is not None:
        detail = services.t("cli.import.stored_dry_run", lead=existing_id)
        return RowResult(line, mql.external_id, Outcome.DUPLICATE, detail, existing_id)
    if mql.external_id in seen:
        detail = services.t("cli.import.same_id", line=seen[mql.external_id])
        return RowResult(line, mql.external_id, Outcome.DUPLICATE, detail)
    seen[mql.external_id] = line
    now = services.clock.now()
    qualification = evaluate(build_lead(mql, now), services.policy, now)
    if qualification.qualified:
        return RowResult(line, mql.external_id, Outcome.ACCEPTED)
    detail = _reasons_text(services.policy, services.t, qualification.reason_codes,
                           qualification.reasons)
    return RowResult(line, mql.external_id, Outcome.NOT_QUALIFIED, detail)


# --- one row → the canonical payload ------------------------------------------------------------


def _cell(cells: list[str], index: int | None) -> str | None:
    """The cell's text, or None when the column is absent or the cell is blank ("not given")."""
    if index is None or index >= len(cells):
        return None
    value = cells[index]
    return value if value.strip() else None


def _parse_row(table: CsvTable, cells: list[str], now: datetime) -> MqlIn:
    """Build the canonical dict from one record and validate it; errors name CSV columns."""
    if any(c.strip() for c in cells[table.width :]):
        raise InvalidLead(
            [FieldError("(row)", f"has {len(cells)} cells but the header has {table.width}",
                        "cli.validation.csv.cells", {"cells": len(cells), "width": table.width})]
        )
    errors: list[FieldError] = []
    data: dict[str, Any] = {}
    contact: dict[str, Any] = {}
    company: dict[str, Any] = {}
    nested = {"contact": contact, "company": company}
    grouped = {i for fields in table.activity_groups.values() for i in fields.values()}

    for column in table.columns:
        value = _cell(cells, column.index)
        if value is None or column.index in grouped or column.key == ACTIVITIES_COLUMN:
            continue
        target = SCALAR_COLUMNS.get(column.key)
        if target is None:
            data[column.name] = value  # an extra field, kept like the webhook keeps them
            continue
        parent, key = target
        if column.key in INTEGER_COLUMNS:
            number = _integer(value)
            if number is None:
                errors.append(FieldError(column.key, "must be a whole number, e.g. 250",
                                         "cli.validation.csv.whole_number"))
                continue
            converted: Any = number
        else:
            converted = value
        (nested[parent] if parent else data)[key] = converted

    data.setdefault("source", DEFAULT_SOURCE)
    data["contact"] = contact  # always present, so a missing name reads "contact_name: required"
    if company:
        data["company"] = company

    activities, group_numbers = _activities(table, cells, errors)
    if activities is not None:
        data["activities"] = activities

    try:
        mql = parse_data(data, now=now)
    except InvalidLead as exc:
        errors += [_in_column_terms(e, group_numbers) for e in exc.errors]
    if errors:
        raise InvalidLead(_in_column_order(errors, table))
    return mql


def _integer(value: str) -> int | None:
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _activities(
    table: CsvTable, cells: list[str], errors: list[FieldError]
) -> tuple[list[Any] | None, list[int] | None]:
    """The row's activities from the JSON column or the activity_N_* groups (not both).

    Returns the list (None when the row gives none) and, for groups, the N of each item, so a
    field error on item i can name ``activity_N_field``.
    """
    from_json = _cell(cells, table.index(ACTIVITIES_COLUMN))
    groups: list[tuple[int, dict[str, str]]] = []
    for number, fields in table.activity_groups.items():
        values = {name: _cell(cells, index) for name, index in fields.items()}
        given = {name: value for name, value in values.items() if value is not None}
        if given:  # an all-empty group is no activity
            groups.append((number, given))
    if from_json is not None and groups:
        errors.append(
            FieldError(
                ACTIVITIES_COLUMN,
                "give activities either in this column or in activity_N_* columns, not both",
                "cli.validation.csv.activities_both",
            )
        )
        return None, None
    if groups:
        return [given for _, given in groups], [number for number, _ in groups]
    if from_json is None:
        return None, None
    try:
        parsed = json.loads(from_json)
    except (ValueError, RecursionError):
        errors.append(FieldError(ACTIVITIES_COLUMN, "not valid JSON",
                                 "cli.validation.intake.not_json"))
        return None, None
    if not isinstance(parsed, list):
        errors.append(
            FieldError(ACTIVITIES_COLUMN, "must be a JSON array of {type, at, detail} objects",
                       "cli.validation.csv.activities_array")
        )
        return None, None
    return parsed, None


def _in_column_terms(error: FieldError, group_numbers: list[int] | None) -> FieldError:
    """``contact.name`` → ``contact_name``; ``activities.0.at`` → ``activity_1_at`` or item 1."""
    parts = error.field.split(".")
    if parts[0] in ("contact", "company") and len(parts) > 1:
        return error.moved(f"{parts[0]}_{'.'.join(parts[1:])}")
    if parts[0] == ACTIVITIES_COLUMN and len(parts) > 1 and parts[1].isdigit():
        item, rest = int(parts[1]), ".".join(parts[2:])
        if group_numbers is not None and item < len(group_numbers):
            name = f"activity_{group_numbers[item]}" + (f"_{rest}" if rest else "")
            return error.moved(name)
        where = f"item {item + 1}" + (f", {rest}" if rest else "")
        return error.moved(f"{ACTIVITIES_COLUMN} ({where})")
    return error


def _in_column_order(errors: Iterable[FieldError], table: CsvTable) -> list[FieldError]:
    """Errors in the order of the header, so they read left to right like the spreadsheet."""
    position = {column.key: column.index for column in table.columns}
    return sorted(errors, key=lambda e: position.get(e.field.split(" ")[0], table.width))

