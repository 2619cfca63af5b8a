"""The daily partitions every asset shares, and the window of business days a run covers.

A file's **delivery date** (the date in its name) is the Dagster partition it is loaded into.
Its rows fall on **business dates** of their own, which can be many (a whole-history export
holds months). A run covers both: its **business window** (:func:`run_window`) is its
delivery dates widened to every business date the files delivered on them hold, as the file
ledger records them at ingestion (``raw._file_ledger``: each file's first and last business
date). dbt rebuilds the window (reaching ``maturity_days`` further back for the facts that
mature late), the gates judge it, publication and alerts report it: one window, read by one
function (docs/orchestration.md, "The run's window").

Nothing here reads the settings when imported: the definitions factory
(``pipelines.definitions.build_defs``) builds the partitions from the settings it is given and
hands them to each domain's definitions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg
import duckdb

from kpi_tree.model import default_tree
from pipelines.settings import Settings

#: the file ledger, where ingestion records each file's business dates (pipelines/ingest/load.py)
LEDGER = "raw._file_ledger"


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """One partition per business day from ``partitions_start``, in the business time zone."""
    return dg.DailyPartitionsDefinition(
        start_date=settings.partitions_start,
        timezone=settings.business_timezone,
    )


def last_complete_day(settings: Settings, now: dt.datetime | None = None) -> dt.date:
    """The newest partition: the last business day that has ended."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(settings.tz)
    return now.date() - dt.timedelta(days=1)


class OutsidePartitions(ValueError):
    """Days asked for that are not partitions: before ``partitions_start``, or not over yet."""


def check_days(settings: Settings, start: dt.date, end: dt.date, what: str = "") -> None:
    """Refuse a range start..end that is not all partitions, with what to do
    (:class:`OutsidePartitions`); ``what`` says where the days come from."""
    first = dt.date.fromisoformat(settings.partitions_start)
    last = last_complete_day(settings)
    where = f" ({what})" if what else ""
    if start < first:
        config = settings.config_file or "kpi.yaml"
        raise OutsidePartitions(
            f"{start}{where} is before partitions_start ({first}), where the warehouse's days "
            f"begin. Set partitions_start: {start} (or earlier) in {config}, or start later."
        )
    if end > last:
        raise OutsidePartitions(
            f"{end}{where} is not over yet: the last complete business day is {last} "
            f"({settings.business_timezone}). A day's files are loaded once it has ended."
        )


def delivery_window(tags: dict[str, str]) -> tuple[dt.date, dt.date] | None:
    """The run's partitions from its tags (one day, or a range run's first and last): the
    delivery dates whose files it loads."""
    start = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition")
    end = tags.get("dagster/asset_partition_range_end") or tags.get("dagster/partition")
    if not (start and end):
        return None
    return dt.date.fromisoformat(start), dt.date.fromisoformat(end)


def delivered_business_dates(
    con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date
) -> tuple[dt.date, dt.date] | None:
    """The first and last business date of the rows loaded from the files delivered
    start..end, every source's (None: none recorded, or no ledger yet)."""
    try:
        first, last = con.execute(
            f"select min(first_business_date), max(last_business_date) from {LEDGER} "
            "where partition_date between ? and ? and status = 'loaded'",
            [start, end],
        ).fetchone()
    except (duckdb.CatalogException, duckdb.BinderException):  # no ledger (of these) yet
        return None
    return (first, last) if first is not None else None


@dataclass(frozen=True)
class RunWindow:
    """The business days a run covers (``start``..``end``, inclusive) and its partitions."""

    start: dt.date
    end: dt.date
    #: the run's partitions: the delivery dates whose files it loads
    delivered: tuple[dt.date, dt.date]
    #: the run's as-of date: the last complete business day when it was planned. Whether a
    #: day is still maturing is judged from it, never from the newest date in a table (one row
    #: stamped years ahead would make every real day look mature)
    as_of: dt.date | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def widened(self) -> bool:
        """Whether the window reaches beyond the run's delivery dates."""
        return (self.start, self.end) != self.delivered


def business_window(
    delivered: tuple[dt.date, dt.date],
    touched: tuple[dt.date, dt.date] | None,
    lookback: int,
    last_day: dt.date,
) -> RunWindow:
    """The business window of a run over the delivery dates ``delivered`` whose files' rows
    fall on the business dates ``touched`` (first, last).

    - It starts at the earliest date touched when that lies before what the run rebuilds
      anyway: the facts that mature late make every run rebuild ``lookback`` days before its
      window, so a night's late updates of the days just before it (a shipment's change of
      status) leave the window, and the night's cost, as they are.
    - It ends at the latest date touched, but never after ``last_day`` (the last complete
      day): a row dated in the future of its delivery is not a reason to build days that
      have not happened (nor to plan thousands of them, for a mistyped year).
    """
    start, end = delivered
    if touched is not None:
        first, last = touched
        if first < start - dt.timedelta(days=lookback):
            start = first
        end = max(end, min(last, last_day))
    return RunWindow(start, end, delivered, as_of=last_day)


def window_of(
    con: duckdb.DuckDBPyConnection | None,
    settings: Settings,
    delivered: tuple[dt.date, dt.date],
) -> RunWindow:
    """:func:`business_window` of the delivery dates ``delivered``, as the ledger of the build
    warehouse (``con``; None: none yet) records their files."""
    touched = delivered_business_dates(con, *delivered) if con is not None else None
    return business_window(
        delivered, touched, default_tree().maturity_days, last_complete_day(settings)
    )


#: the windows of the runs this process served, by run and warehouse: each step after
#: ingestion asks for its run's, and the ledger of its delivery dates no longer changes
_WINDOWS: dict[tuple[str, str], RunWindow] = {}


def run_window(
    context: dg.OpExecutionContext | dg.AssetCheckExecutionContext, warehouse
) -> RunWindow | None:
    """**The run's business window**: what dbt rebuilds, the gates judge and publication and
    alerts report (None outside a partitioned run). ``warehouse`` is the
    :class:`~pipelines.resources.Warehouse` resource. Asked by the steps after ingestion
    (every caller is downstream of the ingest assets)."""
    delivered = delivery_window(context.run.tags)
    if delivered is None:
        return None
    settings = warehouse.settings()
    key = (context.run.run_id, str(settings.build_db))
    if key not in _WINDOWS:
        if not settings.build_db.exists():
            return window_of(None, settings, delivered)
        with warehouse.connect(read_only=True) as con:
            _WINDOWS[key] = window_of(con, settings, delivered)
    return _WINDOWS[key]
