"""The tree's values for a day and its month, as `kpi tree` prints them (pipelines/cli/tree.py,
which words and lays them out in the shop's language)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

RELATION_MARK = {"product": "×", "sum": "+", "driver": "·", None: " "}


@dataclass(frozen=True)
class TreePeriods:
    day: dt.date
    month: dt.date  # first day of the last complete month

    @classmethod
    def latest(cls, con: duckdb.DuckDBPyConnection) -> TreePeriods | None:
        row = con.execute("select max(date_day) from kpi.fct_base_measures").fetchall()[0]
        if row[0] is None:
            return None
        day: dt.date = row[0]
        next_day = day + dt.timedelta(days=1)
        month_start = day.replace(day=1)
        if next_day.month == day.month:  # the month is not over yet: take the one before
            month_start = (month_start - dt.timedelta(days=1)).replace(day=1)
        return cls(day, month_start)


def tree_values(
    con: duckdb.DuckDBPyConnection, grain: str, period_start: dt.date
) -> dict[str, tuple[float | None, bool]]:
    # a provisional value is shown as its expected final value (docs/kpi-tree.md), marked
    rows = con.execute(
        "select kpi_id, case when is_provisional and expected_value is not null "
        "then expected_value else value end, is_provisional from kpi.fct_kpi_values "
        "where grain = ? and period_start = ? and dimension = 'total'",
        [grain, period_start],
    ).fetchall()
    return {kpi: (value, provisional) for kpi, value, provisional in rows}
