"""ISO 4217 currencies in use, with their minor units (decimal places).

A deal's amount is kept in its own currency and summed per currency, never converted
(SPEC 10); the code is checked against this list and the amount against its minor units, so
"JPY 1200000.5" or a typo like "JYP" is refused where it arrives instead of becoming a currency
of its own in every report. Funds, precious metals and testing codes (XAU, XDR, XTS…) are left
out: no deal is priced in them.
"""

from __future__ import annotations

import re
from decimal import Decimal

from babel.numbers import format_currency

_NO_MINOR_UNIT = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_PLACES = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_PLACES = "CLF UYW"
_TWO_PLACES = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED "
    "VES WST XCD XCG YER ZAR ZMW ZWG"
)

#: code → decimal places of its minor unit
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_TWO_PLACES.split(), 2),
    **dict.fromkeys(_NO_MINOR_UNIT.split(), 0),
    **dict.fromkeys(_THREE_PLACES.split(), 3),
    **dict.fromkeys(_FOUR_PLACES.split(), 4),
}


def minor_units(code: str) -> int | None:
    """The decimal places of ``code`` (``JPY`` → 0, ``USD`` → 2); None: not a currency."""
    return MINOR_UNITS.get(code)



_LETTERS_THEN_DIGIT = re.compile(r"^(-?[A-Za-z]{2,})(\d)")


def format_money(amount: Decimal, currency: str, language: str) -> str:
    """An amount as readers of ``language`` write it in its currency, from CLDR (Babel):
    ``¥1,200,000`` (``￥1,200,000`` in Japanese), ``$12,000.50``, ``€1,234.50`` — the symbol,
    its place and the currency's decimals per locale. Digits beyond the currency's usual
    decimals are shown, never rounded away: the amount is the CRM's, exactly."""
    text = format_currency(amount, currency, locale="ja" if language == "ja" else "en",
                           currency_digits=True, decimal_quantization=False)
    # CLDR's currency spacing, which Babel leaves out: a code of letters is set apart from
    # its number ("CHF 99.00", not "CHF99.00"); symbols stay close ("$99.00")
    return _LETTERS_THEN_DIGIT.sub(r"\1 \2", text)
