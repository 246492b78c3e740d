"""What is wrong with an input, in English and in the reader's language (SPEC 8).

Validation speaks English where it happens (pydantic, our validators): that wording is kept
for logs, the webhooks' answers and integrations. A person at the terminal reads the same
problem in the policy's language, so each one also carries a catalog key (``cli.validation.*``)
and its values: our validators raise ``Invalid`` with theirs, pydantic's own errors are keyed
by their ``type`` with the values of their ``ctx``. English output is the original wording,
unchanged; a type the catalog does not know reads as a generic "invalid value" elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.i18n import FALLBACK, Translator

__all__ = ["Invalid", "Problem", "pydantic_key"]


class Invalid(ValueError):
    """A validator's refusal: English text, and its catalog key with values.

    pydantic keeps the exception in the error's ``ctx["error"]``, so the key travels with it.
    """

    def __init__(self, english: str, key: str, /, **params: Any) -> None:
        super().__init__(english)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Problem:
    """One problem: where (a dotted key or a field, kept as written), what in English, and
    the catalog key and values that say it in another language."""

    where: str
    english: str
    key: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    #: the value given, when it is shown after the problem ("(got 'x')")
    got: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.english}" if self.where else self.english

    def text(self, t: Translator) -> str:
        """The problem without ``where``, in ``t``'s language."""
        if t.language == FALLBACK:
            return self.english
        said = t(self.key, **self.params) if self.key else t("cli.validation.invalid")
        if said == self.key:  # a key the catalog does not know
            said = t("cli.validation.invalid")
        return said + (t("cli.validation.got", value=self.got) if self.got is not None else "")

    def line(self, t: Translator) -> str:
        """``where: problem`` in ``t``'s language."""
        if t.language == FALLBACK:
            return str(self)
        return f"{self.where}: {self.text(t)}" if self.where else self.text(t)


#: pydantic's error types → catalog keys; their ``ctx`` values fill the template
_PYDANTIC = {
    "missing": "cli.validation.required",
    "extra_forbidden": "cli.validation.unknown_key",
    "greater_than": "cli.validation.greater_than",
    "greater_than_equal": "cli.validation.greater_than_equal",
    "less_than": "cli.validation.less_than",
    "less_than_equal": "cli.validation.less_than_equal",
    "int_parsing": "cli.validation.integer",
    "int_type": "cli.validation.integer",
    "int_from_float": "cli.validation.integer",
    "float_parsing": "cli.validation.number",
    "float_type": "cli.validation.number",
    "finite_number": "cli.validation.finite",
    "bool_parsing": "cli.validation.boolean",
    "bool_type": "cli.validation.boolean",
    "string_type": "cli.validation.string",
    "string_too_short": "cli.validation.string_too_short",
    "string_too_long": "cli.validation.string_too_long",
    "string_pattern_mismatch": "cli.validation.pattern",
    "literal_error": "cli.validation.one_of",
    "enum": "cli.validation.one_of",
    "too_short": "cli.validation.too_short",
    "too_long": "cli.validation.too_long",
    "list_type": "cli.validation.list",
    "tuple_type": "cli.validation.list",
    "dict_type": "cli.validation.table",
    "model_type": "cli.validation.table",
    "model_attributes_type": "cli.validation.table",
    "time_parsing": "cli.validation.time",
    "time_type": "cli.validation.time",
    "date_parsing": "cli.validation.date",
    "date_type": "cli.validation.date",
    "date_from_datetime_parsing": "cli.validation.date",
    "date_from_datetime_inexact": "cli.validation.date",
    "datetime_parsing": "cli.validation.datetime",
    "datetime_type": "cli.validation.datetime",
    "datetime_from_date_parsing": "cli.validation.datetime",
    "timezone_aware": "cli.validation.timezone_aware",
}


def pydantic_key(error: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The catalog key and values for one of pydantic's errors (``None``: not known)."""
    ctx = dict(error.get("ctx") or {})
    cause = ctx.get("error")
    if isinstance(cause, Invalid):
        return cause.key, dict(cause.params)
    key = _PYDANTIC.get(str(error.get("type")))
    # a bound of a float field reads "0", not "0.0"
    params = {k: int(v) if isinstance(v, float) and v.is_integer() else v
              for k, v in ctx.items() if k != "error"}
    if "expected" in params:  # "'en' or 'ja'": the choices, listed without English words
        params["expected"] = str(params["expected"]).replace(" or ", ", ")
    return key, params
