"""The reports' reads: aggregate statements over the leads, run in one unit of work.

Each report figure is defined once, in SQL beside its definition in words (``bot.reporting``:
``metrics``, ``outcome_metrics``, ``review``), because the definitions are the policy's and the
lifecycle's. What this repository owns is the read: the session, the dialect the statements are
built for, and a report's own settings on PostgreSQL. It only reads: a ``Select`` in, rows out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Result, Select, text
from sqlalchemy.orm import Session

#: for a report's own read transaction on PostgreSQL: compiling its statements to machine
#: code (JIT) costs more than it saves at these sizes (hundreds of ms measured); its sorts (the
#: per-owner grouping, the percentiles) fit in memory instead of spilling to disk; and parallel
#: workers are worth starting for a month's scan (the default costs keep the grouped counts
#: in one process: 1.3-1.5x slower at 100,000 leads), though not for a small index read (a
#: lower setup cost started workers for the breach count: 22 ms instead of 2)
REPORT_SETTINGS = (
    "SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true),"
    " set_config('parallel_setup_cost', '300', true),"
    " set_config('parallel_tuple_cost', '0.01', true)"
)


class ReportQueries:
    """The statements of a report, read in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def on_postgresql(self) -> bool:
        """PostgreSQL computes percentiles and interval comparisons itself (ordered-set
        aggregates, ``timestamptz`` arithmetic)."""
        return self.session.get_bind().dialect.name == "postgresql"

    @property
    def on_sqlite(self) -> bool:
        """SQLite compares instants as Julian days and leaves percentiles to Python."""
        return self.session.get_bind().dialect.name == "sqlite"

    def tune(self) -> None:
        """``REPORT_SETTINGS`` for the rest of this transaction (PostgreSQL; a no-op
        elsewhere). Only a transaction that reads nothing but reports asks for them."""
        if self.on_postgresql:
            self.session.execute(text(REPORT_SETTINGS))

    def rows(self, query: Select[Any]) -> Result[Any]:
        """The rows of ``query`` (iterate them, or ask ``.mappings()``, ``.one()``, ``.all()``)."""
        return self.session.execute(query)

    def scalar(self, query: Select[Any]) -> Any:
        """The first column of the first row of ``query`` (None when there is none)."""
        return self.session.scalar(query)
