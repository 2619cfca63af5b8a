"""Files by business date: a file holding many days loads into every business date its rows
fall on, and the run that loads it covers them all (dbt, gates, publication); plain `kpi run`
covers every business date of the landing; time zones are said once; partitions_start is one
clear message."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import polars as pl
import pytest
from conftest import TEST_PLAN, Shop

from kpi_tree.model import default_tree
from pipelines.definitions import build_defs
from pipelines.ingest.load import (
    DayLoader,
    ensure_tables,
    landed_by_day,
    undated_delivery_day,
)
from pipelines.ingest.validate import read_raw
from pipelines.partitions import (
    OutsidePartitions,
    business_window,
    check_days,
    last_complete_day,
    window_of,
)
from pipelines.publish.serving import read_log
from pipelines.runner import run_nightly
from pipelines.settings import load_settings
from sample_shop.generator import generate_shop

KPI = [sys.executable, "-m", "pipelines.cli"]
SHANGHAI = ZoneInfo("Asia/Shanghai")
KPI_COLUMNS = (
    "grain, period_start, kpi_id, dimension, member, numerator, denominator, value, is_provisional"
)


def kpi(data_dir: Path, *args: str, config: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "KPI_DATA_DIR": str(data_dir), "COLUMNS": "200", "KPI_LOCALE": "en_US"}
    env.pop("KPI_CONFIG", None)
    if config is not None:
        env["KPI_CONFIG"] = str(config)
    return subprocess.run([*KPI, *args], env=env, capture_output=True, text=True, timeout=900)


def _as_text(df: pl.DataFrame) -> pl.DataFrame:
    """A file as CSV holds it: timestamps with their offset (UTC) or without (local)."""
    out = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone:
            out.append(col.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        elif isinstance(dtype, pl.Datetime):
            out.append(col.dt.strftime("%Y-%m-%d %H:%M:%S"))
        else:
            out.append(col.cast(pl.String))
    return df.select(out)


def whole_history_landing(daily_landing: Path, landing: Path, name) -> dict[str, Path]:
    """Each source's daily files (but the byte-for-byte re-deliveries, which a shop's export
    of its history would not repeat), concatenated in delivery order into one CSV named
    ``name(source)``."""
    written = {}
    for folder in sorted(p for p in daily_landing.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.iterdir() if "_resend" not in p.name)
        frame = pl.concat([_as_text(read_raw(p)) for p in files], how="diagonal")
        out = landing / folder.name / name(folder.name)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.write_csv(out)
        written[folder.name] = out
    return written


def written_on(path: Path, day: dt.date, hour: int = 10) -> None:
    """Set the file's modification time to ``hour`` o'clock of ``day``, Shanghai time."""
    stamp = dt.datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).timestamp()
    os.utime(path, (stamp, stamp))


# --- a whole-history export, delivered on the last day ----------------------------------


@pytest.fixture(scope="module")
def whole_history(built_shop, tmp_path_factory):
    """The built shop's days concatenated into one file per source, run by a plain `kpi run`:
    the orders named with the last day's date, the other sources' files with no date in their
    name, written on the day after the last (so delivered on the last day)."""
    data = tmp_path_factory.mktemp("whole_history") / "data"
    end = built_shop.end
    files = whole_history_landing(
        built_shop.landing,
        data / "landing",
        lambda source: f"{source}_{end}.csv" if source == "orders" else f"{source}_export.csv",
    )
    for source, path in files.items():
        if source != "orders":
            written_on(path, end + dt.timedelta(days=1))
    plans = data / "targets" / "plans"
    plans.mkdir(parents=True)
    shutil.copyfile(TEST_PLAN, plans / TEST_PLAN.name)
    run = kpi(data, "run")
    shop = Shop(data, built_shop.manifest, built_shop.start, built_shop.end)
    return shop, run


def finished_held_back(run: subprocess.CompletedProcess) -> bool:
    """The run worked, and the gates held back the units the sample shop's missing traffic
    day holds back in the daily run too (kpi run exits 1 for a held-back unit)."""
    said = " ".join((run.stdout + run.stderr).split())
    return (
        run.returncode == 1
        and "finished; held back by their quality gates: marketing, operations" in said
        and not re.search(r"Run \S+ failed:", said)
    )


def test_a_whole_history_file_gives_the_kpi_values_of_the_daily_files(built_shop, whole_history):
    """Every month value (and every day and week value) of fct_kpi_values is the same whether
    the shop's days came as daily files, run over their range, or as one file per source
    delivered on the last day and run for that day alone."""
    shop, run = whole_history
    assert finished_held_back(run), run.stdout[-3000:] + run.stderr[-3000:]
    with built_shop.connect() as con:
        daily = con.execute(f"select {KPI_COLUMNS} from kpi.fct_kpi_values order by all").fetchall()
    with shop.connect() as con:
        # one delivery date: the run's partitions were that day alone
        delivered = con.execute("select distinct partition_date from raw._file_ledger").fetchall()
        whole = con.execute(f"select {KPI_COLUMNS} from kpi.fct_kpi_values order by all").fetchall()
    assert delivered == [(shop.end,)]
    months = [r for r in daily if r[0] == "month"]
    assert len({r[1] for r in months}) == 4  # January (from the 20th) .. April (to the 4th)
    assert [r for r in whole if r[0] == "month"] == months
    assert whole == daily


def test_one_month_of_the_whole_history_by_hand(built_shop, whole_history):
    """February's orders and GMV from the daily files themselves (polars, the injected bad rows
    left out as the generator's manifest lists them) equal the whole-history run's."""
    shop, _ = whole_history
    bad = {(f["file"], f["row"]) for f in built_shop.manifest["row_faults"]}
    folder = built_shop.landing / "orders"
    frames = []
    for path in sorted(p for p in folder.iterdir() if "_resend" not in p.name):
        rel = path.relative_to(built_shop.landing).as_posix()
        rows = pl.read_csv(path, infer_schema=False).with_row_index("row", offset=1)
        frames.append(rows.filter(~pl.col("row").is_in([r for f, r in bad if f == rel])))
    orders = pl.concat(frames)
    day = (
        pl.col("created_at")
        .str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
        .dt.convert_time_zone("Asia/Shanghai")
        .dt.date()
    )
    feb = orders.filter(day.dt.month() == 2)
    n, gmv = feb.height, feb["amount"].cast(pl.Float64).sum()
    with shop.connect() as con:
        got = dict(
            con.execute(
                "select kpi_id, value from kpi.fct_kpi_values where grain = 'month' "
                "and period_start = date '2025-02-01' and dimension = 'total' "
                "and kpi_id in ('orders', 'gmv')"
            ).fetchall()
        )
    assert n > 1000
    assert got["orders"] == n
    assert got["gmv"] == pytest.approx(gmv, rel=1e-9)


def test_plain_kpi_run_covers_every_business_date_of_the_landing(whole_history):
    """The landing holds files delivered on one day (a dated name, and names without a date
    counted as delivered on the last complete day when they were written); a plain `kpi run`
    loads them in one day's run, and dbt, the gates and the publications cover every business
    date their rows fall on."""
    shop, run = whole_history
    assert finished_held_back(run), run.stdout[-3000:] + run.stderr[-3000:]
    with shop.connect() as con:
        ledger = con.execute(
            "select source, partition_date, first_business_date, last_business_date "
            "from raw._file_ledger where status = 'loaded' order by source"
        ).fetchall()
        days = con.execute(
            "select min(period_start), max(period_start), count(*) from kpi.fct_kpi_values "
            "where grain = 'day' and kpi_id = 'orders' and dimension = 'total'"
        ).fetchone()
    assert len(ledger) == 6  # the dateless files too, delivered on the last day
    for source, delivered, first, last in ledger:
        assert delivered == shop.end, source
        assert (first, last) == (shop.start, shop.end), source
    n_days = (shop.end - shop.start).days + 1
    assert days == (shop.start, shop.end, n_days)
    log = read_log(shop.settings)
    assert {e["unit"] for e in log} == {u for u in log_units(shop)}
    for entry in log:  # every unit judged and reported the whole window
        assert (entry["window_start"], entry["data_as_of"]) == (
            str(shop.start),
            str(shop.end),
        ), entry["unit"]
    # the gates judged the whole window: the missing traffic day, weeks before the delivery,
    # holds marketing and operations back as it does in the daily run
    held = {e["unit"] for e in log if e["status"] == "held_back"}
    assert held == {"marketing", "operations"}
    (gap,) = [f["date"] for f in shop.manifest["file_faults"] if f["fault"] == "missing_day"]
    assert gap < str(shop.end - dt.timedelta(days=60))
    failed = " ".join(" ".join(e["failed_expectations"]) for e in log if e["unit"] in held)
    assert gap in failed


def log_units(shop: Shop) -> set[str]:
    from kpi_tree.units import publication_units

    return set(publication_units(default_tree()))


def test_a_nights_late_updates_leave_its_window_as_it_is(built_shop):
    """A night's shipment file holds updates of days before it (late updates): they lie within
    the days every run rebuilds anyway (maturity_days), so the night's window is its own day
    and costs what it did."""
    late = [f for f in built_shop.manifest["file_faults"] if f["fault"] == "late_updates"]
    path = max(late, key=lambda f: f["file"])["file"]  # the newest night with late updates
    night = dt.date.fromisoformat(path.rsplit("_", 1)[1].split(".")[0])
    with built_shop.connect() as con:
        first, last = con.execute(
            "select first_business_date, last_business_date from raw._file_ledger "
            "where file = ? and status = 'loaded'",
            [path],
        ).fetchone()
        window = window_of(con, built_shop.settings, (night, night))
    assert first < night == last  # the file holds late updates of earlier days
    assert (window.start, window.end, window.widened) == (night, night, False)


# --- the window, as a function ------------------------------------------------------------


def test_the_business_window_widens_to_the_dates_a_runs_files_hold():
    d = dt.date(2026, 6, 15)
    last_day = dt.date(2026, 12, 4)
    lookback = 30

    def window(first, last):
        w = business_window((d, d), (first, last), lookback, last_day)
        return w.start, w.end

    assert window(d, d) == (d, d)  # a night
    # dates within the lookback are rebuilt by every run: the window stays the night's
    assert window(d - dt.timedelta(days=lookback), d) == (d, d)
    # a whole history
    assert window(dt.date(2025, 1, 1), d) == (dt.date(2025, 1, 1), d)
    # rows after their delivery date: covered up to the last complete day, never beyond
    assert window(d, d + dt.timedelta(days=1)) == (d, d + dt.timedelta(days=1))
    assert window(d, dt.date(2099, 1, 1)) == (d, last_day)
    # nothing recorded (no ledger yet, or a day without files)
    assert business_window((d, d), None, lookback, last_day).start == d


def test_a_file_without_a_date_is_delivered_on_the_last_complete_day_it_was_written(tmp_path):
    folder = tmp_path / "landing" / "orders"
    folder.mkdir(parents=True)
    (folder / "orders_2025-03-14.csv").write_text("x\n")
    undated = folder / "orders_export.csv"
    undated.write_text("x\n")
    for hour in (0, 10, 23):  # any hour of the 16th, Shanghai time
        written_on(undated, dt.date(2025, 3, 16), hour)
        by_day = landed_by_day(tmp_path / "landing", "orders", "Asia/Shanghai")
        assert by_day == {
            "2025-03-14": [folder / "orders_2025-03-14.csv"],
            "2025-03-15": [undated],
        }
    # the day is the business zone's: 01:00 in Shanghai is still the 15th in UTC
    written_on(undated, dt.date(2025, 3, 16), 1)
    stamp = undated.stat().st_mtime_ns
    assert undated_delivery_day(stamp, "Asia/Shanghai") == dt.date(2025, 3, 15)
    assert undated_delivery_day(stamp, "UTC") == dt.date(2025, 3, 14)


def test_days_outside_the_partitions_are_refused_by_name(tmp_path, monkeypatch):
    config = tmp_path / "kpi.yaml"
    config.write_text("partitions_start: 2025-03-01\n")
    monkeypatch.setenv("KPI_CONFIG", str(config))
    settings = load_settings(tmp_path / "data")
    check_days(settings, dt.date(2025, 3, 1), last_complete_day(settings))
    with pytest.raises(OutsidePartitions, match="partitions_start") as early:
        check_days(settings, dt.date(2025, 2, 27), dt.date(2025, 3, 5))
    assert "2025-02-27" in str(early.value) and str(config) in str(early.value)
    today = last_complete_day(settings) + dt.timedelta(days=1)
    with pytest.raises(OutsidePartitions, match="not over yet"):
        check_days(settings, dt.date(2025, 3, 1), today)


# --- order lines are dated by their orders --------------------------------------------------


def test_order_lines_delivered_apart_from_their_orders_take_their_orders_dates(tmp_path):
    """Orders delivered day by day, then every order line in one file on the last day: the
    ledger gives the lines' file the business dates of their orders."""
    data = tmp_path / "data"
    start = dt.date(2025, 3, 10)
    generate_shop(data / "landing", start, 3, orders_per_day=10, seed=3, faults={})
    items = data / "landing" / "order_items"
    daily = sorted(items.iterdir())
    lines = pl.concat([_as_text(read_raw(p)) for p in daily])
    for p in daily:
        p.unlink()
    end = start + dt.timedelta(days=2)
    lines.write_csv(items / f"order_items_{end}.csv")
    settings = load_settings(data)
    settings.warehouse_dir.mkdir(parents=True)
    with duckdb.connect(str(settings.build_db)) as con:
        ensure_tables(con, ["orders", "order_items"])
        with DayLoader(con, settings, "orders") as loader:
            for i in range(3):
                loader.load(start + dt.timedelta(days=i))
        with DayLoader(con, settings, "order_items") as loader:
            loader.load(end)
        got = con.execute(
            "select source, partition_date, first_business_date, last_business_date "
            "from raw._file_ledger order by source, partition_date"
        ).fetchall()
    assert got == [
        ("order_items", end, start, end),
        *[
            ("orders", start + dt.timedelta(days=i), *(start + dt.timedelta(days=i),) * 2)
            for i in range(3)
        ],
    ]


# --- time zones said once -------------------------------------------------------------------

NAIVE_ORDERS = """order_id,customer_id,created_at,channel,campaign,payment_method,amount,reviewed_at
{n}o1,c1,{day} 23:30:00,direct,,prepaid,10.00,
{n}o2,c2,{day} 00:30:00,direct,,prepaid,20.00,
{n}o3,c3,{day},direct,,prepaid,30.00,
{n}o4,c4,{day}T12:00:00Z,direct,,prepaid,40.00,
"""


def _orders_only_run(tmp_path, monkeypatch, config_text: str):
    """Two days of orders written without offsets, run through the orders' ingestion only
    (a run of raw/orders), with ``config_text`` as kpi.yaml."""
    data = tmp_path / "data"
    days = [dt.date(2025, 3, 14), dt.date(2025, 3, 15)]
    folder = data / "landing" / "orders"
    folder.mkdir(parents=True)
    for i, day in enumerate(days):
        (folder / f"orders_{day}.csv").write_text(NAIVE_ORDERS.format(n=i, day=day))
    config = tmp_path / "kpi.yaml"
    config.write_text(config_text)
    monkeypatch.setenv("KPI_CONFIG", str(config))
    defs = build_defs(data)
    with dg.DagsterInstance.ephemeral() as instance:
        outcome = run_nightly(
            defs, days[0], days[-1], instance, asset_selection=[dg.AssetKey(["raw", "orders"])]
        )
        assert outcome.success, outcome.error
        said = [
            r.user_message
            for r in instance.all_logs(outcome.run_id)
            if "sources.orders.timezone" in (r.user_message or "")
        ]
        materializations = instance.all_logs(
            outcome.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        )
        (assumed,) = {
            r.asset_materialization.metadata["zone_assumed"].value for r in materializations
        }
    with duckdb.connect(str(load_settings(data).build_db), read_only=True) as con:
        rows = con.execute(
            "select order_id, business_date from raw.orders order by order_id"
        ).fetchall()
    return said, assumed, dict(rows)


def test_timestamps_without_a_zone_are_read_in_the_business_zone_and_said_once(
    tmp_path, monkeypatch
):
    """business_timezone alone moves no day: timestamps written without an offset are read in
    it (and the run says so once, for two files), a date without a time is that business day;
    a timestamp with an offset is the instant it says, on its day in the business zone."""
    said, assumed, days = _orders_only_run(
        tmp_path, monkeypatch, "business_timezone: America/New_York\n"
    )
    assert len(said) == 1 and "America/New_York" in said[0]
    assert assumed == "America/New_York"
    d14, d13 = dt.date(2025, 3, 14), dt.date(2025, 3, 13)
    assert {k: v for k, v in days.items() if k.startswith("0")} == {
        "0o1": d14,  # 23:30 local
        "0o2": d14,  # 00:30 local
        "0o3": d14,  # the date itself
        "0o4": d14,  # 12:00 UTC is 08:00 in New York
    }
    assert d13 not in days.values()


def test_a_declared_zone_reads_timestamps_in_it_and_says_nothing(tmp_path, monkeypatch):
    said, assumed, days = _orders_only_run(
        tmp_path,
        monkeypatch,
        "business_timezone: America/New_York\nsources:\n  orders:\n    timezone: UTC\n",
    )
    assert said == [] and assumed is None
    assert {k: v for k, v in days.items() if k.startswith("0")} == {
        "0o1": dt.date(2025, 3, 14),  # 23:30 UTC is 19:30 in New York
        "0o2": dt.date(2025, 3, 13),  # 00:30 UTC is 20:30 the evening before
        "0o3": dt.date(2025, 3, 14),  # a date is a business day, whatever the source's zone
        "0o4": dt.date(2025, 3, 14),
    }


# --- partitions_start -----------------------------------------------------------------------


@pytest.fixture
def small_landing(tmp_path) -> tuple[Path, dt.date]:
    data = tmp_path / "data"
    start = dt.date(2025, 3, 10)
    generate_shop(data / "landing", start, 3, orders_per_day=10, seed=5, faults={})
    return data, start


def test_kpi_run_before_partitions_start_is_one_message_and_no_run(small_landing, tmp_path):
    data, start = small_landing
    config = tmp_path / "kpi.yaml"
    config.write_text(f"partitions_start: {start + dt.timedelta(days=1)}\n")
    for args in (["run"], ["run", "--start", str(start)]):
        out = kpi(data, *args, config=config)
        said = out.stdout + out.stderr
        assert out.returncode == 2, said
        assert "partitions_start" in said and str(start) in said, said
        assert "CheckError" not in said and "Traceback" not in said
    assert not (data / "warehouse" / "build.duckdb").exists()  # no run started
    future = kpi(data, "run", "--end", str(dt.date.today() + dt.timedelta(days=2)))
    assert future.returncode == 2 and "not over yet" in future.stdout + future.stderr


def test_rows_before_partitions_start_fail_the_run_once_by_name(small_landing, monkeypatch):
    """A file delivered after partitions_start whose rows begin before it: its source's
    ingestion fails once (no retry) naming the setting and the earliest date, and nothing of
    the file is loaded."""
    data, start = small_landing
    end = start + dt.timedelta(days=2)
    whole = data.parent / "whole"
    whole_history_landing(data / "landing", whole / "landing", lambda s: f"{s}_{end}.csv")
    config = data.parent / "kpi.yaml"
    config.write_text(f"partitions_start: {end}\n")
    monkeypatch.setenv("KPI_CONFIG", str(config))
    with dg.DagsterInstance.ephemeral() as instance:
        outcome = run_nightly(build_defs(whole), end, end, instance, log_level="ERROR")
        retried = instance.all_logs(outcome.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert not outcome.ok
    assert "partitions_start" in outcome.error and str(start) in outcome.error
    assert retried == []
    with duckdb.connect(str(whole / "warehouse" / "build.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.orders").fetchone() == (0,)


# --- the date horizon -----------------------------------------------------------------------


def test_rows_dated_beyond_the_horizon_or_before_the_start_are_quarantined(tmp_path, monkeypatch):
    """A row dated after the run's date + date_horizon_days (a mistyped year), or a stray one
    before partitions_start, is quarantined with its rule; a row within the horizon and the
    file's other rows load; the ledger's dates end where the loaded rows do."""
    data = tmp_path / "data"
    day = dt.date(2025, 3, 14)
    today = dt.datetime.now(SHANGHAI).date()
    folder = data / "landing" / "orders"
    folder.mkdir(parents=True)
    header = NAIVE_ORDERS.splitlines()[0]
    rows = [
        f"a1,c1,{day}T10:00:00+08:00,direct,,prepaid,10.00,",
        "a2,c2,2099-01-01T10:00:00+08:00,direct,,prepaid,20.00,",
        f"a3,c3,{today + dt.timedelta(days=1)},direct,,prepaid,30.00,",
        f"a4,c4,{today + dt.timedelta(days=3)},direct,,prepaid,40.00,",
        "a5,c5,2019-05-01T10:00:00+08:00,direct,,prepaid,50.00,",  # before partitions_start
    ]
    (folder / f"orders_{day}.csv").write_text("\n".join([header, *rows]) + "\n")
    config = tmp_path / "kpi.yaml"
    config.write_text("bad_row_threshold: 0.6\ndate_horizon_days: 2\n")
    monkeypatch.setenv("KPI_CONFIG", str(config))
    with dg.DagsterInstance.ephemeral() as instance:
        outcome = run_nightly(
            build_defs(data), day, day, instance, asset_selection=[dg.AssetKey(["raw", "orders"])]
        )
    assert outcome.success, outcome.error
    with duckdb.connect(str(load_settings(data).build_db), read_only=True) as con:
        loaded = con.execute("select order_id from raw.orders order by 1").fetchall()
        quarantined = con.execute(
            "select file, row_number, column_name, check_name, value from raw._quarantine "
            "order by row_number"
        ).fetchall()
        ledger = con.execute(
            "select rows_in, rows_loaded, rows_quarantined, first_business_date, "
            "last_business_date from raw._file_ledger"
        ).fetchall()
    horizon = today + dt.timedelta(days=2)
    assert loaded == [("a1",), ("a3",)]
    assert [(f, r, c) for f, r, c, _check, _v in quarantined] == [
        (f"orders/orders_{day}.csv", 2, "created_at"),
        (f"orders/orders_{day}.csv", 4, "created_at"),
        (f"orders/orders_{day}.csv", 5, "created_at"),
    ]
    checks = [check for *_rest, check, _v in quarantined]
    assert str(horizon) in checks[0] and str(horizon) in checks[1]
    assert "partitions_start" in checks[2] and "2024-01-01" in checks[2]
    assert quarantined[0][4].startswith("2099-01-01")
    assert ledger == [(5, 2, 3, day, today + dt.timedelta(days=1))]


def test_the_date_horizon_is_a_setting_of_whole_days(tmp_path, monkeypatch):
    config = tmp_path / "kpi.yaml"
    monkeypatch.setenv("KPI_CONFIG", str(config))
    now = dt.datetime(2025, 3, 14, 20, 0, tzinfo=dt.UTC)  # 04:00 on the 15th in Shanghai
    config.write_text("")
    assert load_settings(tmp_path).date_horizon(now) == dt.date(2025, 3, 16)
    config.write_text("date_horizon_days: 0\n")
    assert load_settings(tmp_path).date_horizon(now) == dt.date(2025, 3, 15)
    config.write_text("date_horizon_days: -1\n")
    with pytest.raises(Exception, match="date_horizon_days"):
        load_settings(tmp_path)


def test_provisional_days_are_judged_from_the_runs_date_not_a_future_row(tmp_path):
    """A warehouse holding one base measure dated 2099 (loaded before the horizon existed):
    a night run after it marks as provisional exactly the days a clean run does, not none."""
    from conftest import make_shop

    end = last_complete_day(load_settings(tmp_path))
    shop = make_shop(tmp_path, start=end - dt.timedelta(days=9), days=10, orders_per_day=20)

    def provisional() -> list[tuple]:
        with shop.connect() as con:
            return con.execute(
                "select period_start, count(*) from kpi.fct_kpi_values "
                "where grain = 'day' and is_provisional group by 1 order by 1"
            ).fetchall()

    first = shop.run()
    assert first.success, first.error
    clean = provisional()
    assert clean  # the newest days' late facts are still maturing
    with duckdb.connect(str(shop.settings.build_db)) as con:
        con.execute(
            "insert into kpi.fct_base_measures select * replace (date '2099-01-01' as date_day) "
            "from kpi.fct_base_measures limit 1"
        )
    again = shop.run(end, end)
    assert again.success, again.error
    assert provisional() == clean


def test_kpi_run_refuses_a_file_named_beyond_the_horizon_and_runs_the_rest(small_landing):
    """`orders_2036-06-16.csv` (a mistyped year) is refused by name: the run covers the real
    deliveries only (no day planned past the last complete one), the rest loads, and the
    night exits 1."""
    data, start = small_landing
    end = start + dt.timedelta(days=2)
    orders = data / "landing" / "orders"
    typo = orders / "orders_2036-06-16.csv"
    body = next(orders.glob(f"*{start}*.csv")).read_text().splitlines()
    typo.write_text("\n".join([body[0], *(line.replace("o", "x", 1) for line in body[1:3])]) + "\n")
    out = kpi(data, "run")
    said = out.stdout + out.stderr
    assert out.returncode == 1, said
    assert "orders/orders_2036-06-16.csv: refused" in out.stderr
    assert f"files delivered {start} .. {end} (3 days)" in out.stdout
    with duckdb.connect(str(data / "warehouse" / "build.duckdb"), read_only=True) as con:
        delivered = con.execute(
            "select distinct partition_date from raw._file_ledger order by 1"
        ).fetchall()
        newest = con.execute("select max(date_day) from kpi.fct_base_measures").fetchone()[0]
    assert delivered == [(start + dt.timedelta(days=i),) for i in range(3)]
    assert newest == end


def _ledger(data: Path) -> list[tuple]:
    with duckdb.connect(str(data / "warehouse" / "build.duckdb"), read_only=True) as con:
        return con.execute(
            "select file, partition_date, run_id from raw._file_ledger order by file, loaded_at"
        ).fetchall()


def test_plain_kpi_run_takes_only_the_new_and_changed_deliveries(
    small_landing, tmp_path, monkeypatch
):
    """A second plain `kpi run` does not load the history again: with nothing new it says so
    and starts no run; with a new day it runs from that day, the loaded days' files left as
    they were. A copy of a loaded file (same content, a new time) is not new; a changed file
    is, and a changed kpi.yaml makes every day run again."""
    from pipelines.runner import finished_runs, unsettled_deliveries
    from pipelines.sensors import landed_files

    data, start = small_landing
    day3 = start + dt.timedelta(days=2)
    held = tmp_path / "held"
    for path in (data / "landing").glob(f"*/*{day3}*"):
        (held / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.move(path, held / path.parent.name / path.name)
    first = kpi(data, "run")
    assert first.returncode in (0, 1) and "Traceback" not in first.stderr, first.stderr
    settings = load_settings(data)
    assert len(finished_runs(settings)) == 1
    loaded, log = _ledger(data), read_log(settings)

    again = kpi(data, "run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing new" in again.stdout and f"{start} .. {start + dt.timedelta(days=1)}" in (
        " ".join(again.stdout.split())
    )
    assert _ledger(data) == loaded and read_log(settings) == log  # no run started

    for folder in held.iterdir():
        for path in folder.iterdir():
            shutil.move(path, data / "landing" / folder.name / path.name)
    third = kpi(data, "run")
    assert third.returncode in (0, 1) and "Traceback" not in third.stderr, third.stderr
    flat = " ".join(third.stdout.split())
    assert f"from {day3}" in flat and f"files delivered {day3} .. {day3} (1 day)" in flat, flat
    after = _ledger(data)
    assert [r for r in after if r[1] < day3] == [r for r in loaded if r[1] < day3]
    new_runs = {r[2] for r in after if r[1] == day3}
    assert len(new_runs) == 1 and new_runs.isdisjoint({r[2] for r in loaded})
    newest = [e for e in read_log(settings) if e["run_id"] in new_runs]
    assert newest and {e["data_as_of"] for e in newest} == {day3.isoformat()}

    def unsettled() -> list[dt.date]:
        s = load_settings(data)
        landed = [(p, d) for p, d, _ in landed_files(s.landing_dir, s.business_timezone)]
        result = unsettled_deliveries(s, landed)
        assert result is not None and not result.config_changed
        return result.days

    orders = next((data / "landing" / "orders").glob(f"*{start}*"))
    copy = tmp_path / "copy.csv"
    shutil.copyfile(orders, copy)
    shutil.copyfile(copy, orders)  # the same content, written now
    assert unsettled() == []
    body = orders.read_bytes()
    orders.write_bytes(body[:-2] + b"9\n")  # the last value changed, the same size
    assert unsettled() == [start]
    shutil.copyfile(copy, orders)

    config = tmp_path / "kpi.yaml"
    config.write_text("bad_row_threshold: 0.5\n")
    monkeypatch.setenv("KPI_CONFIG", str(config))
    s = load_settings(data)
    result = unsettled_deliveries(
        s, [(p, d) for p, d, _ in landed_files(s.landing_dir, s.business_timezone)]
    )
    assert result is not None and result.config_changed
