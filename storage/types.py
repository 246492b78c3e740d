"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import BigInteger, DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """Store instants in UTC; always hand back timezone-aware UTC datetimes.

    SQLite has no time zone support and returns naive values; PostgreSQL returns the
    session's zone. Deadlines are compared across both, so every value in and out is
    normalized here, and a naive value going in is a bug we refuse loudly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class StrEnumText(TypeDecorator[E]):
    """A ``StrEnum`` stored as its value in a ``VARCHAR``, handed back as the enum member.

    The column stays plain text (the same DDL as ``String(length)``), so readers get the
    enum itself instead of re-casting the string they were given.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> Any:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


#: decimal places a stored amount keeps (ISO 4217 minor units go up to 4: CLF, UYW)
MONEY_PLACES = 4
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)


class Money(TypeDecorator[Decimal]):
    """An exact amount of money, handed back as a ``Decimal`` with ``MONEY_PLACES`` places.

    Amounts are summed per currency in the reports, so no value may pass through a float:
    PostgreSQL stores ``NUMERIC(18, 4)``; SQLite, which has no exact decimal type, stores the
    amount in ten-thousandths as an integer (its integer ``sum`` is exact, and fails loudly
    rather than rounding on overflow). Expressions typed by the column (``func.sum(col)``,
    ``func.max(col)``) are converted back the same way on both databases.
    """

    impl = Numeric(18, MONEY_PLACES)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, MONEY_PLACES, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float) or not isinstance(value, Decimal | int):
            raise TypeError(f"amounts are Decimal or int, never {type(value).__name__}")
        exact = Decimal(value).quantize(_MONEY_QUANTUM)
        if exact != value:
            raise ValueError(f"an amount keeps at most {MONEY_PLACES} decimal places")
        return int(exact.scaleb(MONEY_PLACES)) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-MONEY_PLACES).quantize(_MONEY_QUANTUM)
        return Decimal(value).quantize(_MONEY_QUANTUM)
