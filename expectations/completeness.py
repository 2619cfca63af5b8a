"""Completeness of what the shop delivered, judged before a unit is published.

Two checks of the raw data a unit's KPIs read, each a frame of problems for the gate (one
row per problem, a sentence naming the day, the counts and what to do; no row, no problem):

* **incomplete days** (:func:`incomplete_days`): a delivery day of a source whose rows loaded
  (the file ledger's, quarantined rows not counted) are far below the source's own recent
  history: below ``band`` x the median of the same weekday over the last ``weeks`` weeks. A
  cut or half-exported file publishes half a day that the KPIs would show as a collapse of
  the business; this is a data problem, so the units that read the source are held back.
  No judgement without enough history (``weeks`` earlier same weekdays delivered), below
  ``min_usual_rows`` (a small source's days vary too much to tell), or on China's public
  holidays (the business itself drops then: the Spring Festival). A day the shop confirms
  as it is is listed under ``completeness.accept`` in kpi.yaml.
* **orphans** (:func:`orphans`): order lines without their order, and shipments without
  their order, counted by delivery day. A quarantined order row explains one order's
  lines of its day (the row was counted and reported at ingest already), and a shipment
  whose order id is in the quarantine is no orphan, however long the window; a shipment is
  judged only when it is dated more than the tree's ``maturity_days`` after the first order
  (an earlier one may belong to an order from before the history).

* **refused files** (:func:`refused_files`): a file the run's ingest refused (its columns,
  its encoding, cut mid-row, over the bad-row threshold; recorded in ``raw._refused``). The
  night goes on without it, and the units that read its source are held back by this frame
  until the file is fixed, delivered again and its day re-run.

Only the units whose KPIs read the source get its problems (:func:`unit_sources`).
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

import duckdb
import pandas as pd

from kpi_tree.model import Tree
from kpi_tree.targets.calendar import FestivalSpec, china_holidays, festival_window
from kpi_tree.units import SHARED_UNIT, unit_kpis
from pipelines.queries import table_exists

#: the frames' column: one sentence per problem
PROBLEM = "problem"
LEDGER = ("raw", "_file_ledger")
QUARANTINE = ("raw", "_quarantine")
#: the files a run's ingest refused (pipelines/ingest/load.py: ensure_tables)
REFUSED = ("raw", "_refused")


def N_(message: str) -> str:  # noqa: N802 - gettext's name for a marker
    """Marks a sentence for the message catalogue (pipelines/i18n.py reads this package too);
    the gate itself writes English, the record the verdict and the data docs keep."""
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - as N_, for a count
    """Marks a count's singular and plural for the catalogue (its plural forms per language)."""
    return singular, plural


# The gate's sentences, one per problem: what is wrong (the day, the counts) and what to do, in
# a shop's words. The verdict keeps them in English; the held-back notice says them in the
# reader's language by the same template (read_problem takes a sentence back to its fields).
INCOMPLETE_DAY = N_(
    "{source} {day} incomplete: {loaded} rows loaded from {files}, against a usual {usual} "
    "(the median of the same weekday in the last {weeks} weeks; below {band} of it). "
    "Deliver the rest of the day (a complete file for {day}, then `kpi run --date {day}`), "
    "or accept the day as it is: `completeness: {{accept: {{{source_id}: [{day}]}}}}` in "
    "kpi.yaml."
)
ORPHAN_LINES = N_(
    "order lines without an order, delivered {day}: {lines} of {orders} not in the orders "
    "delivered ({explained} set aside as unreadable that day). Deliver the missing orders "
    "(the day's complete orders file, then `kpi run --date {day}`)."
)
ORPHAN_SHIPMENTS = N_(
    "shipments without an order, delivered {day}: {updates} of {orders} not in the orders "
    "delivered nor set aside as unreadable (dated more than {days} days after the first "
    "order). Deliver the missing orders, then run their days again."
)
SENTENCES = (INCOMPLETE_DAY, ORPHAN_LINES, ORPHAN_SHIPMENTS)
#: the sentences' fields that are counts of something, worded with the count's plural form
#: (a notice words them again in the reader's language, from the number they begin with)
COUNTS = {
    "lines": NP_("{n} line", "{n} lines"),
    "orders": NP_("{n} order", "{n} orders"),
    "updates": NP_("{n} update", "{n} updates"),
    "explained": NP_("{n} order row", "{n} order rows"),
}


def counted(field: str, n: int) -> str:
    """``n`` of the count ``field`` in English (the record's language): 1 order, 2 orders."""
    singular, plural = COUNTS[field]
    return (singular if n == 1 else plural).format(n=n)


@cache
def _pattern(template: str) -> re.Pattern[str]:
    """A sentence of ``template`` as a pattern, each field a named group (a field that comes
    back is the same text again)."""
    parts, seen = [], set()
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is None:
            continue
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
    return re.compile("^" + "".join(parts) + "$", re.S)


def read_problem(sentence: str) -> tuple[str, dict[str, str]] | None:
    """(the template, its fields) a gate sentence was written by, or None (another)."""
    for template in SENTENCES:
        found = _pattern(template).match(sentence)
        if found:
            return template, found.groupdict()
    return None


@dataclass(frozen=True)
class Band:
    """How far below its usual volume a delivery day is incomplete (kpi.yaml
    ``completeness:``)."""

    band: float = 0.5
    weeks: int = 4
    min_usual_rows: int = 50
    #: source -> days accepted as they are
    accept: Mapping[str, frozenset[dt.date]] = field(default_factory=dict)


def unit_sources(tree: Tree, unit: str) -> set[str]:
    """The sources a unit's KPIs read (the shared unit publishes every team's values)."""
    nodes = list(tree.nodes.values()) if unit == SHARED_UNIT else unit_kpis(tree, unit)
    return {s for node in nodes for s in tree.node_sources(node)}


def _frame(problems: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({PROBLEM: pd.Series(list(problems), dtype="object")})


def refused_files(
    con: duckdb.DuckDBPyConnection, sources: Iterable[str], run_id: str
) -> pd.DataFrame:
    """The files of ``sources`` the run ``run_id`` refused at ingest, one sentence each
    (pipelines/alerts/heldback.py words it for the teams, from its parts)."""
    sources = sorted(sources)
    if not sources or not table_exists(con, *REFUSED):
        return _frame([])
    rows = con.execute(
        f"""
        select distinct source, partition_date, file, rule, message
        from {".".join(REFUSED)}
        where run_id = ? and source in ({", ".join("?" for _ in sources)})
        order by partition_date, source, file
        """,
        [run_id, *sources],
    ).fetchall()
    return _frame(
        f"refused: {file} ({source}, {day}), rule {rule}: {message} Fix the file, deliver it "
        f"again, then `kpi run --date {day}`."
        for source, day, file, rule, message in rows
    )


def incomplete_days(
    con: duckdb.DuckDBPyConnection,
    sources: Iterable[str],
    start: dt.date,
    end: dt.date,
    band: Band = Band(),
) -> pd.DataFrame:
    """The delivery days start..end of ``sources`` whose loaded rows are below the band."""
    sources = sorted(sources)
    if not sources or not table_exists(con, *LEDGER):
        return _frame([])
    first = start - dt.timedelta(weeks=band.weeks)
    rows = con.execute(
        f"""
        select source, partition_date, sum(rows_loaded) as rows,
            string_agg(file, ', ' order by file) as files
        from {".".join(LEDGER)}
        where status = 'loaded' and source in ({", ".join("?" for _ in sources)})
          and partition_date between ? and ?
        group by all
        """,
        [*sources, first, end],
    ).fetchall()
    delivered = {(s, d): (int(n or 0), files) for s, d, n, files in rows}
    problems = []
    for (source, day), (loaded, files) in sorted(delivered.items()):
        if day < start or day in band.accept.get(source, ()) or festive(day):
            continue
        history = [
            delivered[(source, earlier)][0]
            for week in range(1, band.weeks + 1)
            if (source, earlier := day - dt.timedelta(weeks=week)) in delivered
            and not festive(earlier)
        ]
        if len(history) < band.weeks:
            continue
        usual = statistics.median(history)
        if usual < band.min_usual_rows or loaded >= band.band * usual:
            continue
        problems.append(
            INCOMPLETE_DAY.format(
                source=source,
                source_id=source,
                day=day,
                loaded=loaded,
                files=files,
                usual=f"{usual:g}",
                weeks=band.weeks,
                band=f"{band.band:.0%}",
            )
        )
    return _frame(problems)


#: the orders of the rows `delivered` (a CTE of order ids) that raw.orders holds, read from
#: the range of their ids only (joined as one row, none when nothing was delivered: a range
#: of scalar subqueries is null then, and DuckDB reads every order before the filter drops
#: them): a shop's order ids follow time and the window's rows name recent orders, so DuckDB
#: skips the older row groups by their min/max. An anti-join against every order instead
#: reads the whole history on every gate.
_FOUND_ORDERS = """found as (
                select distinct o.order_id from raw.orders as o
                inner join (
                    select min(order_id) as low, max(order_id) as high from delivered
                    having count(order_id) > 0
                ) as ids on o.order_id between ids.low and ids.high
                where o.order_id in (select order_id from delivered)
            )"""


def orphans(
    con: duckdb.DuckDBPyConnection,
    sources: Iterable[str],
    start: dt.date,
    end: dt.date,
    maturity_days: int,
) -> pd.DataFrame:
    """Order lines (when ``sources`` has order_items) and shipments (shipments) delivered
    start..end without their order, per delivery day, beyond what quarantined orders
    explain."""
    sources = set(sources)
    have = {s for s in ("orders", "order_items", "shipments") if table_exists(con, "raw", s)}
    if "orders" not in have or not con.execute("select count(*) from raw.orders").fetchone()[0]:
        return _frame([])
    quarantined = dict(
        con.execute(
            f"""select partition_date, count(distinct (file, row_number))
            from {".".join(QUARANTINE)} where source = 'orders' group by all"""
        ).fetchall()
        if table_exists(con, *QUARANTINE)
        else []
    )
    problems = []
    if "order_items" in sources and "order_items" in have:
        for day, lines, orders in con.execute(
            f"""
            with delivered as (
                select _partition_date, order_id from raw.order_items
                where _partition_date between ? and ?
            ),
            {_FOUND_ORDERS}
            select _partition_date, count(*), count(distinct order_id)
            from delivered
            where not exists (select 1 from found where found.order_id = delivered.order_id)
            group by all order by 1
            """,
            [start, end],
        ).fetchall():
            explained = quarantined.get(day, 0)
            if orders > explained:
                problems.append(
                    ORPHAN_LINES.format(
                        day=day,
                        lines=counted("lines", lines),
                        orders=counted("orders", orders),
                        explained=counted("explained", explained),
                    )
                )
    if "shipments" in sources and "shipments" in have:
        since = con.execute("select min(business_date) from raw.orders").fetchone()[0]
        # a shipment of a quarantined order is no orphan: the quarantine told it already
        # (matched by order id: over a long backfill, a count of quarantined rows in a window
        # says nothing of which shipments they explain)
        quarantined_ids = (
            f"""and s.order_id not in (select row_key from {".".join(QUARANTINE)}
                  where source = 'orders' and row_key is not null)"""
            if table_exists(con, *QUARANTINE) and _has_row_key(con)
            else ""
        )
        rows = con.execute(
            f"""
            with delivered as (
                select s._partition_date, s.order_id from raw.shipments as s
                where s._partition_date between ? and ?
                  and s.business_date > ?::date + ?::integer
                  {quarantined_ids}
            ),
            {_FOUND_ORDERS}
            select _partition_date, count(*), count(distinct order_id)
            from delivered
            where not exists (select 1 from found where found.order_id = delivered.order_id)
            group by all order by 1
            """,
            [start, end, since, maturity_days],
        ).fetchall()
        for day, updates, orders in rows:
            problems.append(
                ORPHAN_SHIPMENTS.format(
                    day=day,
                    updates=counted("updates", updates),
                    orders=counted("orders", orders),
                    days=maturity_days,
                )
            )
    return _frame(problems)


def _has_row_key(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the quarantine keeps its rows' keys (a warehouse built before it did not)."""
    return bool(
        con.execute(
            """select count(*) from information_schema.columns
            where table_schema = ? and table_name = ? and column_name = 'row_key'""",
            list(QUARANTINE),
        ).fetchone()[0]
    )


def festive(day: dt.date) -> bool:
    """A day the business itself drops on: a public holiday, or inside the Spring Festival's
    window (the holidays library leaves the weekends of the festival's week out, and trade
    slows for a week either side of it)."""
    if day in china_holidays(day.year):
        return True
    first, last = festival_window(day.year, FestivalSpec())
    return first <= day <= last
