"""What a file import prints: a line for each row that was not simply taken, then a summary.

Why: ``sla-bot import`` (leads) and ``sla-bot import-outcomes`` (deals) report a file the same
way — a row by its line number and the id it was written with (made safe for a terminal, never
personal data), in the policy's language, and exit 1 when any row was rejected — so that shape
lives here once; each import names its catalog section and its outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Generic, TypeVar

from bot.i18n import Translator

__all__ = ["FileReport", "FileRow", "shown_id"]

#: An id longer than this is cut for the terminal (an export can carry very long ones).
SHOWN_ID_CHARS = 80

OutcomeT = TypeVar("OutcomeT", bound=StrEnum)
RowT = TypeVar("RowT", bound="FileRow")  # type: ignore[type-arg]


def shown_id(text: str) -> str:
    """An id made safe for a terminal: printable characters only, and short."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean if len(clean) <= SHOWN_ID_CHARS else clean[: SHOWN_ID_CHARS - 1] + "…"


@dataclass(frozen=True)
class FileRow(Generic[OutcomeT]):
    """One row's answer: its line, the id it was written with, what happened and why."""

    #: the catalog section its words come from (``cli.import``, ``cli.import_outcomes``)
    CATALOG: ClassVar[str]

    line: int
    row_id: str | None  # as written in the file (an external_id, or a lead id for outcomes)
    outcome: OutcomeT
    detail: str = ""
    lead_id: int | None = None

    def describe(self, t: Translator | None = None) -> str:
        """One line for the operator: line number, id, outcome — no personal data."""
        t = t or Translator("en")
        shown = shown_id(self.row_id) if self.row_id else t(f"{self.CATALOG}.no_id")
        head = t(f"{self.CATALOG}.row", line=self.line, id=shown,
                 outcome=t(f"{self.CATALOG}.outcome.{self.outcome.value}"))
        return f"{head}: {self.detail}" if self.detail else head


@dataclass
class FileReport(Generic[RowT, OutcomeT]):
    """Every row's answer, in file order, and what the command prints and exits with."""

    CATALOG: ClassVar[str]
    #: the outcome every row should have: such rows are counted, not listed
    TAKEN: ClassVar[StrEnum]
    #: the outcome of a row that does not follow the contract (nothing written): exit code 1
    REJECTED: ClassVar[StrEnum]

    rows: list[RowT] = field(default_factory=list)
    #: the language of the lines printed (the policy's, or the command's ``--language``)
    language: str = "en"

    def count(self, outcome: OutcomeT) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome)

    @property
    def exit_code(self) -> int:
        """0 when every row was read (whatever the answer), 1 when some were rejected."""
        return 1 if self.count(self.REJECTED) else 0  # type: ignore[arg-type]

    def summary(self) -> str:
        counts = {o.value: self.count(o) for o in type(self.TAKEN)}  # type: ignore[arg-type]
        return Translator(self.language).plural(f"{self.CATALOG}.summary", len(self.rows),
                                                total=len(self.rows), **counts)

    def notes(self) -> list[str]:
        """Lines after the summary (none unless an import has something to add)."""
        return []

    def lines(self) -> list[str]:
        """What the command prints: every row that was not simply taken, then the summary."""
        t = Translator(self.language)
        shown = [row.describe(t) for row in self.rows if row.outcome != self.TAKEN]
        return [*shown, self.summary(), *self.notes()]
