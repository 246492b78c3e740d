"""``sla-bot import-outcomes FILE.csv``: deal outcomes from a CRM export, row by row (SPEC 10).

The columns are the outcome webhook's fields (``external_id`` or ``lead_id``, ``outcome``,
``amount``, ``currency``, ``closed_at``, ``reason``, ``note``, ``deal_id``); each row goes
through ``bot.outcomes.parse_data`` and ``record_outcome`` exactly like a webhook delivery, in
its own transaction, so a bad row is reported with its line number and skipped, and importing
the same file again records nothing new (each row is then a duplicate).

Spreadsheet conveniences, and only these: an amount may carry thousands separators
(``1,200,000``) and full-width digits; ``closed_at`` may be a date alone (``2026-11-20``), read
as the start of that day in the policy's time zone. The whole file is read and its header
checked before the first row is written (``bot.csv_import.read_records``). Rows are reported
by line number and id; notes and reasons are never printed.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, ClassVar, TextIO

from sqlalchemy.exc import SQLAlchemyError

from bot.csv_import import CsvFileError, ImportInterrupted, read_records
from bot.intake import FieldError, InvalidLead
from bot.lifecycle import Surface
from bot.outcomes import parse_data, record_outcome
from bot.policy import Policy
from bot.problems import Problem
from bot.row_report import FileReport, FileRow
from bot.services import Services

__all__ = [
    "OUTCOME_COLUMNS",
    "OutcomeFile",
    "OutcomeImport",
    "RowOutcome",
    "import_outcomes",
    "read_outcome_file",
]

#: the columns a file may have: the outcome webhook's fields
OUTCOME_COLUMNS = ("external_id", "lead_id", "outcome", "amount", "currency", "closed_at",
                   "reason", "note", "deal_id")
_WHOLE = re.compile(r"\d{1,19}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

#: ``progress(rows_done, rows_total)``, called before the first row and after each one
Progress = Callable[[int, int], None]


class RowOutcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    UNKNOWN_LEAD = "unknown_lead"
    NOT_CONVERTED = "not_converted"
    REJECTED = "rejected"  # does not follow the contract; nothing written


@dataclass(frozen=True)
class RowResult(FileRow[RowOutcome]):
    CATALOG: ClassVar[str] = "cli.import_outcomes"


@dataclass
class OutcomeImport(FileReport[RowResult, RowOutcome]):
    CATALOG: ClassVar[str] = "cli.import_outcomes"
    TAKEN: ClassVar[StrEnum] = RowOutcome.RECORDED
    REJECTED: ClassVar[StrEnum] = RowOutcome.REJECTED


@dataclass(frozen=True)
class OutcomeFile:
    """A decoded, split file whose header was checked: column → index, and the records."""

    columns: dict[str, int]
    width: int
    records: list[tuple[int, list[str]]]


def read_outcome_file(source: str | os.PathLike[str] | TextIO) -> OutcomeFile:
    """The whole file read and its header checked; ``CsvFileError`` (nothing written) when the
    file or its header cannot be used."""
    header, records = read_records(source)
    return OutcomeFile(_columns(header), len(header), records)


def import_outcomes(
    services: Services, source: str | os.PathLike[str] | TextIO | OutcomeFile, *,
    progress: Progress | None = None,
) -> OutcomeImport:
    """Record every row of ``source``; ``CsvFileError`` (nothing written) when the file or its
    header cannot be used; ``ImportInterrupted`` when the database fails mid-way (the rows
    before it are done; importing the file again finishes it)."""
    table = source if isinstance(source, OutcomeFile) else read_outcome_file(source)
    report = OutcomeImport(language=services.t.language)
    if progress:
        progress(0, len(table.records))
    for done, (line, cells) in enumerate(table.records, start=1):
        try:
            report.rows.append(_import_row(services, table.columns, table.width, line, cells))
        except SQLAlchemyError as exc:
            raise ImportInterrupted(line, report, exc) from exc
        if progress:
            progress(done, len(table.records))
    return report


def _columns(header: list[str]) -> dict[str, int]:
    """Column name → index; the file is refused for unknown, repeated or missing columns."""
    columns: dict[str, int] = {}
    problems: list[Problem] = []
    unknown: list[str] = []
    for index, raw in enumerate(header):
        name = raw.strip().lower()
        if not name:
            continue  # Excel's unnamed trailing columns
        if name in columns:
            problems.append(Problem("", f"repeated column: {name}", "cli.import.file.repeated",
                                    {"columns": name}))
        elif name not in OUTCOME_COLUMNS:
            unknown.append(name[:40])
        columns[name] = index
    if unknown:
        known = ", ".join(OUTCOME_COLUMNS)
        problems.append(Problem(
            "", f"unknown columns: {', '.join(unknown)} (the columns are: {known})",
            "cli.import.file.unknown", {"columns": ", ".join(unknown), "known": known}))
    if "outcome" not in columns:
        problems.append(Problem("", "missing required column: outcome",
                                "cli.import.file.missing", {"columns": "outcome"}))
    if "external_id" not in columns and "lead_id" not in columns:
        problems.append(Problem("", "missing required column: external_id (or lead_id)",
                                "cli.import.file.missing_id"))
    if problems:
        raise CsvFileError(*problems)
    return columns


def _import_row(
    services: Services, columns: dict[str, int], width: int, line: int, cells: list[str]
) -> RowResult:
    lead = _cell(cells, columns.get("external_id")) or _cell(cells, columns.get("lead_id"))
    lead = lead.strip() if lead else None
    try:
        data = parse_data(_row_data(services.policy, columns, width, cells),
                          now=services.clock.now())
    except InvalidLead as exc:
        detail = services.t("cli.import.problem_separator").join(
            f"{e.field}: {e.text(services.t)}" for e in exc.errors)
        return RowResult(line, lead, RowOutcome.REJECTED, detail)
    result = record_outcome(services, data, source="csv", surface=Surface.CSV)
    return RowResult(line, lead, RowOutcome(result.status), lead_id=result.lead_id)


def _row_data(
    policy: Policy, columns: dict[str, int], width: int, cells: list[str]
) -> dict[str, Any]:
    """The row as the webhook's payload: blank cells are "not given"."""
    if any(c.strip() for c in cells[width:]):
        raise InvalidLead([FieldError("(row)", f"has {len(cells)} cells but the header has {width}",
                                      "cli.validation.csv.cells",
                                      {"cells": len(cells), "width": width})])
    data: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, index in columns.items():
        value = _cell(cells, index)
        if value is None:
            continue
        if name == "lead_id":
            text = unicodedata.normalize("NFKC", value).strip()
            if not _WHOLE.fullmatch(text):
                errors.append(FieldError(name, "must be a whole number, e.g. 42",
                                         "cli.validation.outcome.lead_id"))
                continue
            data[name] = int(text)
        elif name == "amount":
            amount = _amount(value)
            if amount is None:
                errors.append(FieldError(name, "must be a number, e.g. 1200000",
                                         "cli.validation.outcome.number"))
                continue
            data[name] = amount
        elif name == "closed_at" and _DATE.fullmatch(value.strip()):
            try:
                day = date.fromisoformat(value.strip())
            except ValueError:
                errors.append(FieldError(name, "must be a real date, e.g. 2026-11-20",
                                         "cli.validation.outcome.real_date"))
                continue
            data[name] = datetime.combine(day, time(0), policy.tz).isoformat()
        else:
            data[name] = value
    if errors:
        raise InvalidLead(errors)
    return data


def _amount(value: str) -> Decimal | None:
    """``1,200,000``, ``１２０００００`` or ``1234.50`` as an exact number; None if not one."""
    text = unicodedata.normalize("NFKC", value).strip().replace(",", "").replace(" ", "")
    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _cell(cells: list[str], index: int | None) -> str | None:
    if index is None or index >= len(cells):
        return None
    value = cells[index]
    return value if value.strip() else None

