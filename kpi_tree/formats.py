"""How a KPI value is written: one rule per unit, for the CLI, the alerts, the reports and the
board.

The board does not keep rules of its own: the page embeds :func:`format_rules` and its script
only applies them (``pipelines/board/static/format.js``). So that both write the same digits,
a number is rounded as it is written in the shortest form that reads back as the same float
(1.005 is "1.005", so 1.01), half away from zero: what the browser's ``Intl.NumberFormat``
does. Python's own ``format`` rounds the binary value instead (1.005 → 1.00).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal

#: the shop's currency; another issue makes it configurable: this is its one place
CURRENCY = "¥"
#: what a missing value (no data, not arrived, held back) is written as
MISSING = "–"


@dataclass(frozen=True)
class NumberFormat:
    """``prefix`` + the number (times ``scale``) with ``decimals`` digits + ``suffix``; a
    number smaller than ``small_below`` (in absolute value) gets ``small_decimals``."""

    decimals: int
    prefix: str = ""
    suffix: str = ""
    scale: float = 1
    small_below: float = 0
    small_decimals: int = 0


#: one rule per unit of the tree (kpi_tree.model.UNITS)
UNIT_FORMATS: dict[str, NumberFormat] = {
    "yuan": NumberFormat(decimals=0, prefix=CURRENCY, small_below=100, small_decimals=2),
    "count": NumberFormat(decimals=0),
    "ratio": NumberFormat(decimals=2, scale=100, suffix=" %"),
    "multiple": NumberFormat(decimals=2, suffix="×"),
    "seconds": NumberFormat(decimals=1, suffix=" s"),
    "minutes": NumberFormat(decimals=1, suffix=" min"),
    "days": NumberFormat(decimals=1, suffix=" d"),
}
#: a share of something: attainment of a target, a gap to it, a member's share of a total
SHARE_FORMAT = NumberFormat(decimals=1, scale=100, suffix=" %")
#: an amount of money to the cent (a plan's annual target, its months)
MONEY_FORMAT = NumberFormat(decimals=2, prefix=CURRENCY)


def format_number(value: float | None, rule: NumberFormat, signed: bool = False) -> str:
    """``value`` by ``rule``; ``signed`` writes a plus sign before a positive number."""
    if value is None or not math.isfinite(value):
        return MISSING
    shown = value * rule.scale
    digits = rule.decimals if abs(shown) >= rule.small_below else rule.small_decimals
    magnitude = Decimal(repr(abs(shown))).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)
    sign = "" if magnitude == 0 else "-" if shown < 0 else "+" if signed else ""
    return f"{sign}{rule.prefix}{magnitude:,.{digits}f}{rule.suffix}"


def format_value(value: float | None, unit: str) -> str:
    """A KPI value in its unit: ¥1,234 (¥12.50 under ¥100), 1,234, 12.34 %, 1.50×, 12.5 s."""
    return format_number(value, UNIT_FORMATS[unit])


def format_share(value: float | None, signed: bool = False) -> str:
    """A share as a percentage with one decimal: 95.3 %, or +4.7 % when ``signed``."""
    return format_number(value, SHARE_FORMAT, signed)


def format_money(value: float | None) -> str:
    """An amount of money to the cent: ¥1,234,567.89."""
    return format_number(value, MONEY_FORMAT)


def format_rules() -> dict:
    """The rules as data, for the board's page to embed and its script to apply."""
    return {
        "missing": MISSING,
        "units": {unit: asdict(rule) for unit, rule in UNIT_FORMATS.items()},
        "share": asdict(SHARE_FORMAT),
    }
