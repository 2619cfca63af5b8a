"""How a KPI value is written, in the shop's currency and display locale, for the CLI, the
alerts, the reports, the data dictionary and the board.

Every number is written by Babel (CLDR's patterns and symbols for the locale: the currency's
symbol and where it goes, grouping, the percent sign, the units of time); this module only
chooses each unit's precision. :class:`Formats` is the formatter of one currency and locale
(``currency`` and ``locale`` in kpi.yaml).

The board does not keep rules of its own: its page embeds :meth:`Formats.rules` (for each of
its languages, :func:`board_rules`), made from the same Babel patterns, and its script only
applies them (``pipelines/board/static/format.js``). So that both write the same digits, a
number is rounded as it is written in the shortest form that reads back as the same float
(1.005 is "1.005", so 1.01), half away from zero, before Babel writes it: what the browser's
``Intl.NumberFormat`` does. (Python's own ``format`` rounds the binary value instead, 1.005 →
1.00, and Babel rounds half to even.)

Amounts and counts also have a compact form (:meth:`Formats.compact`): CLDR's short patterns of
the locale, so 万 and 亿 in Chinese (¥85.6万, 1.23亿) and K, M, B in English, to three
significant digits; for a board's card, a narrow column or a chat line. Babel has
``format_compact_decimal``, but it picks the magnitude before rounding (99,995 → "10.0万", never
"10万") and rounds half to even; here the rounding is the one above and a value that rounds up
into the next magnitude is written in it (99,999,500 → "1亿").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any

from babel import Locale
from babel.numbers import (
    format_currency,
    format_decimal,
    format_percent,
    get_currency_precision,
    get_decimal_symbol,
    get_group_symbol,
    get_plus_sign_symbol,
    list_currencies,
    parse_pattern,
)
from babel.units import format_unit

#: the shop's currency (ISO 4217) and display locale when kpi.yaml names none
DEFAULT_CURRENCY = "CNY"
DEFAULT_LOCALE = "zh_CN"
#: the display locales, and the board's language for each
LOCALES = {"zh_CN": "zh", "en_US": "en"}
#: what a missing value (no data, not arrived, held back) is written as
MISSING = "–"
#: the units that have a compact form (万/亿, K/M/B), and how many significant digits it keeps
COMPACT_UNITS = ("money", "count")
COMPACT_DIGITS = 3


def is_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 currency Babel knows (``CNY``, ``USD``, ``EUR``)."""
    return code in list_currencies()


@dataclass(frozen=True)
class NumberFormat:
    """How many decimals a unit's numbers get: ``decimals``, or ``small_decimals`` for a
    number smaller than ``small_below`` in absolute value (``None``: the currency's own
    precision). ``kind`` is what Babel writes it as: ``currency``, ``percent`` (the number
    times 100), ``decimal``, or a CLDR unit of time (``duration-second``); ``suffix`` follows
    a decimal (CLDR has no unit for "times")."""

    kind: str
    decimals: int | None
    small_below: float = 0
    small_decimals: int | None = 0
    suffix: str = ""

    @property
    def scale(self) -> int:
        return 100 if self.kind == "percent" else 1


#: one rule per unit of the tree (kpi_tree.model.UNITS)
UNIT_FORMATS: dict[str, NumberFormat] = {
    "money": NumberFormat("currency", decimals=0, small_below=100, small_decimals=None),
    "count": NumberFormat("decimal", decimals=0),
    "ratio": NumberFormat("percent", decimals=2),
    "multiple": NumberFormat("decimal", decimals=2, suffix="×"),
    "seconds": NumberFormat("duration-second", decimals=1),
    "minutes": NumberFormat("duration-minute", decimals=1),
    "days": NumberFormat("duration-day", decimals=1),
}
#: a share of something: attainment of a target, a gap to it, a member's share of a total
SHARE_FORMAT = NumberFormat("percent", decimals=1)
#: an amount of money to the cent (a plan's annual target, its months)
MONEY_FORMAT = NumberFormat("currency", decimals=None)

_NUMBER = re.compile(r"[#0,]*0(?:\.[0#]*)?")


@dataclass(frozen=True)
class _CompactStep:
    """A compact magnitude: values from ``threshold`` are divided by 10 ** ``exponent`` and
    written by ``pattern`` (CLDR: ``0万`` from 10,000, ``00万`` from 100,000, …)."""

    threshold: Decimal
    exponent: int
    pattern: str


def _with_decimals(pattern: str, digits: int) -> str:
    """A CLDR number pattern (``¤#,##0.00``) with exactly ``digits`` decimals."""

    def fixed(match: re.Match) -> str:
        integer = match[0].split(".")[0]
        return integer + ("." + "0" * digits if digits else "")

    return _NUMBER.sub(fixed, pattern)


@dataclass(frozen=True)
class Formats:
    """The writer of numbers in one currency and locale."""

    currency: str = DEFAULT_CURRENCY
    locale: str = DEFAULT_LOCALE

    def __post_init__(self) -> None:
        if not is_currency(self.currency):
            raise ValueError(f"unknown currency {self.currency!r}: use an ISO 4217 code (CNY)")
        if self.locale not in LOCALES:
            raise ValueError(f"unknown locale {self.locale!r}: one of {', '.join(LOCALES)}")

    @property
    def lang(self) -> str:
        """The language members and labels are shown in: ``en`` or ``zh``."""
        return LOCALES[self.locale]

    @cached_property
    def _locale(self) -> Locale:
        return Locale.parse(self.locale)

    def _digits(self, rule: NumberFormat, small: bool) -> int:
        digits = rule.small_decimals if small else rule.decimals
        return get_currency_precision(self.currency) if digits is None else digits

    def _pattern(self, rule: NumberFormat, digits: int) -> str:
        loc = self._locale
        if rule.kind == "currency":
            base = loc.currency_formats["standard"].pattern
        elif rule.kind == "percent":
            base = loc.percent_formats[None].pattern
        else:
            base = loc.decimal_formats[None].pattern
        return _with_decimals(base, digits)

    def _write(self, number: Decimal, rule: NumberFormat, digits: int) -> str:
        """``number`` (already rounded to ``digits``) written by Babel."""
        pattern, loc = self._pattern(rule, digits), self._locale
        if rule.kind == "currency":
            return format_currency(
                number, self.currency, format=pattern, locale=loc, currency_digits=False
            )
        if rule.kind == "percent":
            return format_percent(number / 100, format=pattern, locale=loc)
        if rule.kind == "decimal":
            return format_decimal(number, format=pattern, locale=loc) + rule.suffix
        return format_unit(number, rule.kind, length="short", format=pattern, locale=loc)

    def number(self, value: float | None, rule: NumberFormat, signed: bool = False) -> str:
        """``value`` by ``rule``; ``signed`` writes a plus sign before a positive number."""
        if value is None or not math.isfinite(value):
            return MISSING
        shown = value * rule.scale
        digits = self._digits(rule, abs(shown) < rule.small_below)
        magnitude = Decimal(repr(abs(shown))).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)
        negative = shown < 0 and magnitude != 0  # no sign on a value that rounds to nothing
        text = self._write(-magnitude if negative else magnitude, rule, digits)
        if signed and not negative and magnitude != 0:
            text = get_plus_sign_symbol(self._locale) + text
        return text

    def value(self, value: float | None, unit: str) -> str:
        """A KPI value in its unit: ¥1,234 (¥12.50 under 100), 1,234, 12.34%, 1.50×, 12.5秒."""
        return self.number(value, UNIT_FORMATS[unit])

    def share(self, value: float | None, signed: bool = False) -> str:
        """A share as a percentage with one decimal: 95.3%, or +4.7% when ``signed``."""
        return self.number(value, SHARE_FORMAT, signed)

    def money(self, value: float | None) -> str:
        """An amount of money to the currency's minor unit: ¥1,234,567.89."""
        return self.number(value, MONEY_FORMAT)

    def compact(self, value: float | None, unit: str) -> str:
        """A KPI value, short: an amount or a count in the locale's compact form to three
        significant digits (¥85.6万, 1.23亿, 1234万; CN¥856K, 1.23M), trailing zeros dropped;
        what is below the locale's first compact magnitude (10,000 in Chinese, 1,000 in
        English) and every other unit as :meth:`value` writes it."""
        if unit not in COMPACT_UNITS or value is None or not math.isfinite(value):
            return self.value(value, unit)
        steps = self._compact_steps(UNIT_FORMATS[unit].kind)
        magnitude = Decimal(repr(abs(value)))
        while True:
            below = [s for s in steps if s.threshold <= magnitude]
            if not below:
                return self.value(value, unit)
            step = below[-1]
            digits = magnitude.adjusted() + 1  # before the decimal point
            significant = max(COMPACT_DIGITS, digits - step.exponent)
            rounded = magnitude.quantize(Decimal(1).scaleb(digits - significant), ROUND_HALF_UP)
            after = [s for s in steps if s.threshold > step.threshold]
            if after and rounded >= after[0].threshold:
                magnitude = rounded  # rounded up into the next magnitude: written in it
                continue
            break
        shown = rounded.scaleb(-step.exponent).normalize()
        if shown.as_tuple().exponent > 0:  # normalize writes 10 as 1E+1
            shown = shown.quantize(Decimal(1))
        return parse_pattern(step.pattern).apply(
            -shown if value < 0 else shown,
            self._locale,
            currency=self.currency,
            currency_digits=False,
            decimal_quantization=False,
        )

    def _compact_steps(self, kind: str) -> list[_CompactStep]:
        """The locale's short compact patterns for ``kind`` (currency or decimal), by magnitude,
        without those that write the number as it is (Chinese has no compact thousands)."""
        formats = (
            self._locale.compact_currency_formats
            if kind == "currency"
            else self._locale.compact_decimal_formats
        )["short"]
        other = formats["other"]
        for form in formats:  # a plural form the page cannot choose must write as "other"
            if any(formats[form][m].pattern != other[m].pattern for m in formats[form]):
                raise ValueError(f"{self.locale}: compact {kind} has plural forms the board lacks")
        steps = []
        for threshold, pattern in sorted(other.items(), key=lambda item: int(item[0])):
            zeros = pattern.pattern.count("0")
            if re.sub(r"[0#,.]", "", pattern.pattern) == "":
                continue
            exponent = len(threshold) - 1 - (zeros - 1)
            steps.append(_CompactStep(Decimal(threshold), exponent, pattern.pattern))
        return steps

    # ---- the rules, for the board's script ------------------------------------------------

    def _affixes(self, rule: NumberFormat, digits: int) -> tuple[list[str], list[str]]:
        """What Babel writes before and after a positive and a negative number of ``rule``:
        ([before positive, before negative], [after positive, after negative])."""
        before: list[str] = []
        after: list[str] = []
        for sign in (1, -1):
            seen = set()
            # the same for a number that is one and one that is not: a plural form of a unit
            # (1 day, 2 days) would need the plural rules in the page, which it does not have
            for sample in (1, 7):
                number = Decimal(sign * sample).quantize(Decimal(1).scaleb(-digits))
                text = self._write(number, rule, digits)
                written = format_decimal(
                    abs(number), format=_with_decimals("0", digits), locale=self._locale
                )
                head, found, tail = text.partition(written)
                if not found:
                    raise ValueError(f"{self.locale}: cannot find {written!r} in {text!r}")
                seen.add((head, tail))
            if len(seen) != 1:
                raise ValueError(f"{self.locale}: {rule.kind} has plural forms the board lacks")
            ((head, tail),) = seen
            before.append(head)
            after.append(tail)
        return before, after

    def _rule(self, rule: NumberFormat) -> dict[str, Any]:
        big, small = self._digits(rule, False), self._digits(rule, True)
        prefix, suffix = self._affixes(rule, big)
        if rule.small_below and self._affixes(rule, small) != (prefix, suffix):
            raise ValueError(f"{self.locale}: {rule.kind} is written otherwise when small")
        return {
            "decimals": big,
            "small_below": rule.small_below,
            "small_decimals": small,
            "scale": rule.scale,
            "prefix": prefix,
            "suffix": suffix,
            "grouping": list(parse_pattern(self._pattern(rule, big)).grouping),
        }

    def _compact_rule(self, unit: str) -> list[dict[str, Any]]:
        """Each compact magnitude of ``unit``: from which value, the power of ten it divides by,
        and what Babel writes before and after a positive and a negative number."""
        out = []
        for step in self._compact_steps(UNIT_FORMATS[unit].kind):
            before, after = [], []
            sample = "7" * step.pattern.count("0")  # as many digits as the pattern's least
            for sign in (1, -1):
                text = parse_pattern(step.pattern).apply(
                    Decimal(sample) * sign,
                    self._locale,
                    currency=self.currency,
                    currency_digits=False,
                    decimal_quantization=False,
                )
                head, found, tail = text.partition(sample)
                if not found:
                    raise ValueError(f"{self.locale}: cannot find {sample} in {text!r}")
                before.append(head)
                after.append(tail)
            out.append(
                {
                    "from": int(step.threshold),
                    "exponent": step.exponent,
                    "prefix": before,
                    "suffix": after,
                }
            )
        return out

    def rules(self) -> dict[str, Any]:
        """This currency's and locale's rules as data, for ``format.js`` to apply."""
        loc = self._locale
        return {
            "locale": self.locale,
            "missing": MISSING,
            "group": get_group_symbol(loc),
            "decimal": get_decimal_symbol(loc),
            "plus": get_plus_sign_symbol(loc),
            "units": {unit: self._rule(rule) for unit, rule in UNIT_FORMATS.items()},
            "share": self._rule(SHARE_FORMAT),
            "compact": {unit: self._compact_rule(unit) for unit in COMPACT_UNITS},
            "compact_digits": COMPACT_DIGITS,
        }


def board_rules(currency: str) -> dict[str, dict[str, Any]]:
    """The rules of each of the board's languages (en, zh) for ``currency``."""
    return {lang: Formats(currency, locale).rules() for locale, lang in LOCALES.items()}
