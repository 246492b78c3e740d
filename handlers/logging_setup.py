"""The process's one log setup: every line is one record, and libraries' bodies stay out.

Two things the log must never do, whatever the level:

* **carry personal data.** Our own lines carry ids only. Libraries do not: at INFO Bolt logs
  request bodies (a failed signature check, an unhandled suggestion), at DEBUG slack_sdk logs
  every Web API body (the hand-off message: name, company, note) and SQLAlchemy every
  statement's parameters. Their loggers are held at WARNING (``LIBRARY_FLOORS``) even when the
  root is at DEBUG.
* **be forged.** A value with a newline (a lead's ``source``, a URL path) would write a line
  that reads like a record of its own; ANSI escapes and bidi controls can hide or reorder
  text on a terminal. ``SafeFormatter`` escapes every non-printable character of the values
  (``\\n`` becomes the two characters ``\\`` ``n``), and indents every further line of a record
  (a traceback, a library's multi-line message) so no line of it can pass for a record.
"""

from __future__ import annotations

import copy
import logging
import sys
import traceback
from collections.abc import Mapping
from typing import Any, TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: loggers that log request or API bodies below this level (``sla_bot.bolt`` is Bolt's own
#: logger, handed to ``App``; Bolt copies its level to its ``slack_bolt.*`` loggers)
LIBRARY_FLOORS = {
    "sla_bot.bolt": logging.WARNING,
    "slack_bolt": logging.WARNING,
    "slack_sdk": logging.WARNING,
    "sqlalchemy": logging.WARNING,
    # "Context impl SQLiteImpl." on every command: noise, not news
    "alembic": logging.WARNING,
}
#: further lines of one record start with this, so none looks like a record
CONTINUATION = "\n    | "
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(text: str, keep_newlines: bool = False) -> str:
    """``text`` with every non-printable character (``str.isprintable``: C0/C1 controls, ESC,
    bidi and other format characters, line and paragraph separators) written as an escape."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or (keep_newlines and char == "\n")
        else _NAMED.get(char) or _code(ord(char))
        for char in text
    )


def _code(point: int) -> str:
    if point < 0x100:
        return f"\\x{point:02x}"
    return f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"


class _Escaped:
    """A log argument shown escaped by ``%s`` and ``%r`` alike."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return escape(str(self.value))

    def __repr__(self) -> str:
        return escape(repr(self.value))


def _escaped(value: object) -> object:
    """Numbers stay numbers (``%d``, ``%.1f``); anything else is escaped when formatted."""
    if value is None or isinstance(value, int | float):
        return value
    return _Escaped(value)


class SafeFormatter(logging.Formatter):
    """Escapes the record's values, then indents any further line of the record."""

    def format(self, record: logging.LogRecord) -> str:
        if record.args:
            record = copy.copy(record)  # other handlers see the record as it was
            args: Any = record.args
            if isinstance(args, Mapping):
                record.args = {key: _escaped(value) for key, value in args.items()}
            else:
                record.args = tuple(_escaped(value) for value in args)
        text = escape(super().format(record), keep_newlines=True)
        return text.replace("\n", CONTINUATION)


def without_text(error: BaseException) -> str:
    """Where ``error`` happened, without its message: a database error quotes its statement's
    parameters (a lead's name, a note), other errors quote values too. The type, the SQL
    statement (placeholders only) and the stack are kept."""
    from sqlalchemy.exc import StatementError

    detail = type(error).__name__
    if isinstance(error, StatementError) and error.orig is not None:
        detail += f" ({type(error.orig).__name__}) in: {error.statement}"
    stack = "".join(traceback.format_tb(error.__traceback__)).rstrip()
    return f"{detail}\n{stack}" if stack else detail


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (it may be replaced)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure(level: str | int, stream: TextIO | None = None) -> logging.Handler:
    """Install the one root handler (``stream``, default stderr) at ``level``.

    Called again, it replaces the handler it installed before. Library loggers are held at
    ``LIBRARY_FLOORS`` whatever ``level`` is.
    """
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            level = logging.INFO
    handler: logging.Handler = _Stderr() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter(FORMAT))
    handler.sla_bot = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "sla_bot", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, floor in LIBRARY_FLOORS.items():
        logging.getLogger(name).setLevel(max(level, floor))
    return handler
