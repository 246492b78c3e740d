"""Amounts of money as people read them: ``¥1,200,000``, ``$3,400.50``.

An amount is always shown in its own currency with that currency's minor units
(``bot.currencies``); reports list one figure per currency and never convert (SPEC 10).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol

from bot.currencies import format_money

__all__ = ["format_amount", "format_amounts"]

def format_amount(amount: Decimal, currency: str, language: str) -> str:
    """``amount`` in ``currency`` for a reader of ``language``: one formatter for every
    surface (``bot.currencies.format_money``, CLDR through Babel): ``¥1,200,000`` /
    ``￥1,200,000``, ``$3,400.50``."""
    return format_money(amount, currency, language)


class Priced(Protocol):
    """An amount in one currency (``bot.reporting.outcome_metrics.CurrencySum``)."""

    @property
    def amount(self) -> Decimal: ...

    @property
    def currency(self) -> str: ...


def format_amounts(amounts: Iterable[Priced], language: str, *, empty: str = "—") -> str:
    """Several currencies' sums side by side, never added up (``¥1,200,000, $3,400.00`` /
    ``1,200,000円、USD 3,400.00``)."""
    parts = [format_amount(a.amount, a.currency, language) for a in amounts]
    return ("、" if language == "ja" else ", ").join(parts) if parts else empty
