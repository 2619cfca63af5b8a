"""Exact splitting of a target over parts (months, days, units) in integer cents.

Money is carried as integer fen (1 yuan = 100 fen; the helpers call them *cents*, the same
hundredths work for counts). A split is the largest-remainder method over exact rational
quotas: every part gets the floor of its quota, the cents left over go one each to the parts
with the largest remainders (ties to the earlier part), so the parts add up *exactly* to the
total, and no part is more than one cent from its exact share.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TypeVar

from kpi_tree.targets.calendar import iso_week, quarter

K = TypeVar("K", bound=Hashable)
Number = int | float | Fraction | Decimal | str


class SplitError(ValueError):
    """A split cannot be made (negative or all-zero weights, a bad cap)."""


def exact(x: Number) -> Fraction:
    """A number as an exact fraction; floats and strings through their decimal text."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, int):
        return Fraction(x)
    if isinstance(x, float):
        return Fraction(Decimal(repr(x)))
    return Fraction(Decimal(str(x)))


def round_half_up(x: Fraction) -> int:
    """Round an exact fraction to the nearest integer, halves away from zero."""
    sign = -1 if x < 0 else 1
    return sign * int((abs(x) + Fraction(1, 2)) // 1)


def to_cents(amount: Number) -> int:
    """Yuan (or any amount) to integer hundredths, half up."""
    return int(Decimal(str(amount)).scaleb(2).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_cents(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def scaled(total: int, factor: Number) -> int:
    """round(total × factor) in cents, exactly (factor such as 1 + buffer)."""
    return round_half_up(Fraction(total) * exact(factor))


def split_exact(total: int, weights: Sequence[Number]) -> list[int]:
    """Split integer ``total`` over ``weights`` by largest remainder; the parts sum to total."""
    if not isinstance(total, int):
        raise SplitError(f"the total must be integer cents, got {total!r}")
    ws = [exact(w) for w in weights]
    if not ws:
        if total:
            raise SplitError("cannot split a non-zero total over no parts")
        return []
    if any(w < 0 for w in ws):
        raise SplitError("weights must be >= 0")
    wsum = sum(ws)
    if wsum == 0:
        if total:
            raise SplitError("cannot split a non-zero total over weights that add up to zero")
        return [0] * len(ws)
    sign = -1 if total < 0 else 1
    quotas = [abs(total) * w / wsum for w in ws]
    parts = [int(q // 1) for q in quotas]
    left = abs(total) - sum(parts)
    order = sorted(range(len(ws)), key=lambda i: (-(quotas[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return [sign * p for p in parts]


def split_table(rows: Sequence[int], columns: Sequence[int]) -> list[list[int]]:
    """Integer cells whose rows add up exactly to ``rows`` and columns to ``columns``.

    Each cell is its exact share ``rows[i] × columns[j] / total`` rounded down or up (the
    *controlled rounding* of a two-way table, Cox & Ernst 1982, which always exists). The
    cells left over after flooring go to the largest remainders first, as in
    :func:`split_exact`; where that alone cannot meet both margins, an augmenting path moves
    a cent between cells. Used where units' years are split over months: each unit's months
    add up to its year, and each month's units to the month.
    """
    if any(r < 0 for r in rows) or any(c < 0 for c in columns):
        raise SplitError("a table's margins must be >= 0")
    total = sum(rows)
    if total != sum(columns):
        raise SplitError(f"the rows add up to {total}, the columns to {sum(columns)}")
    if total == 0:
        return [[0] * len(columns) for _ in rows]
    quotas = [[Fraction(r * c, total) for c in columns] for r in rows]
    cells = [[int(q // 1) for q in row] for row in quotas]
    row_need = [r - sum(row) for r, row in zip(rows, cells, strict=True)]
    col_need = [c - sum(cells[i][j] for i in range(len(rows))) for j, c in enumerate(columns)]
    fractional = {
        (i, j) for i, row in enumerate(quotas) for j, q in enumerate(row) if q != cells[i][j]
    }
    raised: set[tuple[int, int]] = set()
    for i, j in sorted(fractional, key=lambda ij: (-(quotas[ij[0]][ij[1]] % 1), ij)):
        if row_need[i] > 0 and col_need[j] > 0:
            raised.add((i, j))
            row_need[i] -= 1
            col_need[j] -= 1
    while any(row_need):
        raise_cells, lower_cells = _augmenting_path(row_need, col_need, fractional, raised)
        raised.update(raise_cells)
        raised.difference_update(lower_cells)
    for i, j in raised:
        cells[i][j] += 1
    return cells


def _augmenting_path(
    row_need: list[int],
    col_need: list[int],
    fractional: set[tuple[int, int]],
    raised: set[tuple[int, int]],
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The cells to raise and to lower that move one cent from a row still in need to a
    column still in need, every other margin unchanged: a path that raises a cell of the row,
    lowers another raised cell of that cell's column, raises one of the lowered cell's row, …
    until it raises a cell in a column in need (breadth first). The needs are updated."""
    from collections import deque

    n_rows, n_cols = len(row_need), len(col_need)
    starts = [i for i in range(n_rows) if row_need[i] > 0]
    col_from: dict[int, int] = {}  # column -> the row whose cell in it is raised
    row_from: dict[int, int] = {}  # row -> the column whose cell in it is lowered
    queue = deque(starts)
    seen = set(starts)
    while queue:
        i = queue.popleft()
        for j in range(n_cols):
            if (i, j) not in fractional or (i, j) in raised or j in col_from:
                continue
            col_from[j] = i
            if col_need[j] > 0:
                up, down = [], []
                while True:
                    row = col_from[j]
                    up.append((row, j))
                    if row not in row_from:
                        row_need[row] -= 1
                        break
                    j = row_from[row]
                    down.append((row, j))
                col_need[up[0][1]] -= 1
                return up, down
            for k in range(n_rows):
                if (k, j) in raised and k not in seen:
                    seen.add(k)
                    row_from[k] = j
                    queue.append(k)
    raise SplitError("no controlled rounding of the table")  # pragma: no cover - always exists


def split_mapping(total: int, weights: Mapping[K, Number]) -> dict[K, int]:
    """:func:`split_exact` over a mapping (order of the mapping breaks ties)."""
    keys = list(weights)
    return dict(zip(keys, split_exact(total, [weights[k] for k in keys]), strict=True))


def carve_new_business(annual: int, new_business: int) -> tuple[int, int]:
    """(base, upside): the new business is taken out of the year and kept as upside."""
    if not 0 <= new_business <= annual:
        raise SplitError(f"new business {new_business} must be between 0 and the year {annual}")
    return annual - new_business, new_business


def apply_year_end_cap(months: Sequence[int], last_n: int, max_share: Number) -> list[int]:
    """At most ``max_share`` of the total in the last ``last_n`` parts, exactly.

    If the tail holds more than floor(max_share × total), it is cut to exactly that: the
    tail parts give up the excess in proportion to their amounts and the earlier parts take
    it in proportion to theirs (largest remainder both ways). The total is unchanged.
    """
    parts = list(months)
    share = exact(max_share)
    if not 0 < last_n < len(parts):
        raise SplitError(f"year_end_cap.months must be between 1 and {len(parts) - 1}")
    if not 0 < share <= 1:
        raise SplitError("year_end_cap.max_share must be in (0, 1]")
    total = sum(parts)
    cap = int(share * total // 1)
    head, tail = parts[:-last_n], parts[-last_n:]
    excess = sum(tail) - cap
    if excess <= 0:
        return parts
    # earlier months take the excess in proportion to their amounts (evenly if all are zero)
    head_weights: list[Number] = list(head) if sum(head) else [1] * len(head)
    cut = split_exact(excess, tail)
    add = split_exact(excess, head_weights)
    return [h + a for h, a in zip(head, add, strict=True)] + [
        t - c for t, c in zip(tail, cut, strict=True)
    ]


def split_months(
    total: int,
    weights: Mapping[int, Number],
    *,
    buffer: Number = 0,
    year_end_cap: tuple[int, Number] | None = None,
) -> dict[int, int]:
    """The year's (base) target over months: they add up to round((1 + buffer) × total).

    ``year_end_cap`` = (last N months, max share of the year they may hold).
    """
    months = sorted(weights)
    parts = split_exact(scaled(total, 1 + exact(buffer)), [weights[m] for m in months])
    if year_end_cap is not None:
        parts = apply_year_end_cap(parts, year_end_cap[0], year_end_cap[1])
    return dict(zip(months, parts, strict=True))


def split_days(
    months: Mapping[int, int], day_weights: Mapping[dt.date, Number]
) -> dict[dt.date, int]:
    """Each month's target over its days by the day weights; every month adds up exactly."""
    out: dict[dt.date, int] = {}
    for month, amount in months.items():
        days = sorted(d for d in day_weights if d.month == month)
        if not days:
            raise SplitError(f"month {month} has no days among the day weights")
        out.update(zip(days, split_exact(amount, [day_weights[d] for d in days]), strict=True))
    return dict(sorted(out.items()))


def by_month(days: Mapping[dt.date, int]) -> dict[tuple[int, int], int]:
    return _roll(days, lambda d: (d.year, d.month))


def by_quarter(days: Mapping[dt.date, int]) -> dict[tuple[int, int], int]:
    return _roll(days, lambda d: (d.year, quarter(d)))


def by_iso_week(days: Mapping[dt.date, int]) -> dict[tuple[int, int], int]:
    """(ISO year, ISO week) -> sum of the days; weeks at the year's edges are partial."""
    return _roll(days, iso_week)


def _roll(days: Mapping[dt.date, int], key) -> dict:
    out: dict = {}
    for day in sorted(days):
        k = key(day)
        out[k] = out.get(k, 0) + days[day]
    return out
