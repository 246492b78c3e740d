"""Real databases for tests: a SQLite file per test, and — when ``TEST_DATABASE_URL`` is set —
a PostgreSQL schema per test (dropped afterwards), so tests are isolated yet several
connections can race each other like bot processes do."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from storage.db import make_engine

PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()


@dataclass
class Database:
    kind: str
    url: str
    engine: Engine


def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'test.db'}"
    engine = make_engine(url)
    yield Database("sqlite", url, engine)
    engine.dispose()


@contextmanager
def postgresql_schema() -> Iterator[str]:
    """A fresh schema on ``TEST_DATABASE_URL``, dropped afterwards: its name. The test is
    skipped without it."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def postgresql_database() -> Iterator[Database]:
    """A fresh schema on ``TEST_DATABASE_URL``; the test is skipped without it."""
    with postgresql_schema() as schema:
        engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
        try:
            yield Database("postgresql", PG_URL, engine)
        finally:
            engine.dispose()
