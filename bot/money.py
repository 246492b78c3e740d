"""Amounts of money as people read them: ``¥1,200,000``, ``$3,400.00``, ``1,200,000円``.

An amount is always shown in its own currency with that currency's minor units
(``bot.currencies``); reports list one figure per currency and never convert (SPEC 10).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol

from bot.currencies import minor_units

__all__ = ["format_amount", "format_amounts"]

#: currencies written with a symbol in English; every other one as its ISO code
_SYMBOLS = {"JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}
#: currencies written with a Japanese unit after the number; every other one as its ISO code
_JA_UNITS = {"JPY": "円"}


def format_amount(amount: Decimal, currency: str, language: str) -> str:
    """``amount`` in ``currency`` for a reader of ``language``, grouped by thousands and
    rounded to the currency's minor units (``1200000 JPY`` → ``¥1,200,000`` / ``1,200,000円``;
    ``3400 USD`` → ``$3,400.00`` / ``USD 3,400.00``)."""
    places = minor_units(currency)
    places = 2 if places is None else places
    number = f"{amount.quantize(Decimal(1).scaleb(-places)):,.{places}f}"
    if language == "ja":
        unit = _JA_UNITS.get(currency)
        return f"{number}{unit}" if unit else f"{currency} {number}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{currency} {number}"


class Priced(Protocol):
    """An amount in one currency (``bot.outcome_metrics.CurrencySum``)."""

    @property
    def amount(self) -> Decimal: ...

    @property
    def currency(self) -> str: ...


def format_amounts(amounts: Iterable[Priced], language: str, *, empty: str = "—") -> str:
    """Several currencies' sums side by side, never added up (``¥1,200,000, $3,400.00`` /
    ``1,200,000円、USD 3,400.00``)."""
    parts = [format_amount(a.amount, a.currency, language) for a in amounts]
    return ("、" if language == "ja" else ", ").join(parts) if parts else empty
