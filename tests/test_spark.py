"""The same dbt project on Spark: the sample shop's first 60 days, then a night of three days
more (after a day whose files have not arrived), loaded by the real ingestion with `engine:
spark` (which hands the validated raw rows to Spark as Parquet), built by dbt on DuckDB and by
dbt-spark in session mode on a local Spark (the night incremental on both), and compared table
by table. With more days than maturity_days, the night matures periods (their provisional
mark cleared) and a late shipment update changes a day the first build had already built.

Needs `make spark-env` (dbt-spark, pyspark, a Java runtime): a missing piece fails the test,
it does not skip it. Marked `spark`, so `make test-fast` leaves it out (docs/spark.md)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import polars
import pytest
from conftest import TEST_PLAN, make_shop
from engine_compare import pace_tie, same_value

from kpi_tree.dbt_export import DBT_PROJECT_DIR
from kpi_tree.model import default_tree
from pipelines.definitions import build_defs
from pipelines.ingest.contracts import SOURCES
from pipelines.partitions import RunWindow, business_window, delivered_business_dates
from pipelines.runner import run_nightly
from pipelines.targets.assets import PLAN_VERSIONS, TARGETS
from pipelines.transform.assets import window_env
from pipelines.transform.project import dbt_executable, dbt_project

pytestmark = pytest.mark.spark

START = dt.date(2025, 1, 20)
#: the first build's days (more than maturity_days, 30, so that periods mature), then the
#: second run's: a night over three more delivery days, after one whose files have not
#: arrived (GAP), so that the night's as-of date moves on past its window's start and a
#: period matures that the night does not rebuild (its mark cleared by the update, on Spark
#: by the post-hook: docs/spark.md)
DAYS = 60
GAP = 1
MORE = 3

#: the tables compared, with their keys: every table of the KPI tree up to the team marts
#: (the views among them, staging's and the semantic layer's, are read through these)
PERIOD_KEY = ["grain", "period_start", "dimension", "member"]
COMPARED = {
    "stg_shop__orders": ("staging", ["order_id"]),
    "stg_shop__order_items": ("staging", ["order_id", "line_no"]),
    "stg_shop__conversations": ("staging", ["conversation_id"]),
    "stg_shop__source_days": ("staging", ["source", "delivered_on"]),
    "int_orders_enriched": ("intermediate", ["order_id"]),
    "int_customers": ("intermediate", ["customer_id"]),
    "int_shipments_latest": ("intermediate", ["shipment_id"]),
    "int_conversations_enriched": ("intermediate", ["conversation_id"]),
    "dim_kpi_nodes": ("kpi", ["kpi_id"]),
    "dim_kpi_edges": ("kpi", ["parent_kpi_id", "child_kpi_id"]),
    "fct_kpi_availability": ("kpi", ["kpi_id"]),
    "fct_base_measures": ("kpi", ["date_day", "dimension", "member", "measure_id"]),
    "fct_kpi_values": ("kpi", ["grain", "period_start", "kpi_id", "dimension", "member"]),
    "marketing_kpis": ("marketing", PERIOD_KEY),
    "operations_kpis": ("operations", PERIOD_KEY),
    "service_kpis": ("service", PERIOD_KEY),
    "logistics_kpis": ("logistics", PERIOD_KEY),
    "management_kpis": ("management", PERIOD_KEY),
    "fct_kpi_expected": ("kpi", ["grain", "period_start", "kpi_id", "dimension", "member"]),
    # the completion pattern: 60 days hold mature cohorts
    "fct_completion_factors": ("kpi", ["dimension", "member", "measure_id", "age"]),
    # targets and pace, from the plan versions the targets step hands Spark as Parquet
    "fct_targets": ("kpi", ["grain", "period_start", "kpi_id", "scope"]),
    "fct_kpi_vs_target": ("kpi", ["as_of_day", "period_grain", "period_start", "kpi_id", "scope"]),
}


def _dbt(args: list[str], env: dict[str, str], target_path: Path) -> None:
    result = subprocess.run(
        [
            dbt_executable(),
            *args,
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(target_path),
        ],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


def _spark_table(spark_dir: Path, schema: str, name: str) -> str:
    """Spark's managed table, read straight from its Parquet (a partitioned table's partition
    columns come from its folders' names)."""
    folder = spark_dir / "warehouse" / f"{schema}.db" / name
    assert folder.is_dir(), f"Spark built no table {schema}.{name} ({folder})"
    return f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true, union_by_name = true)"


def _same(a, b) -> bool:
    """A value on both engines as this test reads them: Spark's timestamps without a zone,
    its partition dates as text."""
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    if isinstance(b, str) and isinstance(a, dt.date):
        return a.isoformat() == b
    return same_value(a, b)


@contextlib.contextmanager
def _spark_engine(config: Path):
    before = os.environ.get("KPI_CONFIG")
    os.environ["KPI_CONFIG"] = str(config)
    try:
        yield
    finally:
        if before is None:
            del os.environ["KPI_CONFIG"]
        else:
            os.environ["KPI_CONFIG"] = before


def _assets(shop, keys: list[dg.AssetKey], start: dt.date, end: dt.date) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        outcome = run_nightly(
            build_defs(shop.data_dir),
            start,
            end,
            instance,
            log_level="WARNING",
            asset_selection=keys,
        )
    assert outcome.success, outcome.error


def _build_both(shop, root: Path, config: Path, days: tuple[dt.date, dt.date], window: dict):
    """dbt's part of a run over the delivery dates ``days``, their raw rows loaded: the tree
    on DuckDB (a plan's history is read from it), the real targets step (which versions the
    plan and hands Spark its targets), the targets on DuckDB, then everything but the
    semantic layer's views on Spark; dbt with ``window``'s environment, as Dagster runs it."""
    settings = shop.settings
    env = {
        "KPI_BUILD_DB": str(settings.build_db),
        "KPI_SPARK_DIR": str(settings.spark_dir),
        **window,
    }
    with _spark_engine(config):
        _dbt(["run", "--target", "build", "--exclude", "tag:targets", "semantic"], env, root / "d")
        _assets(shop, [PLAN_VERSIONS, TARGETS], *days)
    _dbt(["run", "--target", "build", "--select", "tag:targets"], env, root / "d")
    _dbt(["run", "--target", "spark", "--exclude", "semantic"], env, root / "s")


RAW = [dg.AssetKey(["raw", source]) for source in SOURCES]


@dataclass
class Builds:
    shop: object
    #: the second run's window
    window: RunWindow
    #: per engine, the (grain, period_start) of fct_kpi_values marked provisional by the first
    #: build and no longer after the night
    cleared: dict[str, set]
    #: the periods an independent reckoning says the night matures: provisional before, ended
    #: maturity_days or more before the night's as-of date
    matured: set
    #: the late shipment update the night delivers: (shipment_id, its order's day)
    late: tuple[str, dt.date]


def _provisional(shop, engine: str) -> dict[tuple[str, dt.date], tuple[bool, dt.date]]:
    """Each (grain, period_start) of fct_kpi_values on ``engine``, and whether any of its rows
    is marked provisional, and its end (a plain query of the built table)."""
    settings = shop.settings
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        table = (
            "kpi.fct_kpi_values"
            if engine == "duckdb"
            else _spark_table(settings.spark_dir, "kpi", "fct_kpi_values")
        )
        rows = con.execute(
            f"select grain, cast(period_start as date), bool_or(is_provisional), max(period_end) "
            f"from {table} group by 1, 2"
        ).fetchall()
    return {(g, p): (flag, end) for g, p, flag, end in rows}


def _late_return(shop, day: dt.date, returned_on: dt.date, file_day: dt.date) -> str:
    """A shipment of ``day`` the first build saw signed, returned on ``returned_on`` (the
    order's amount refunded), the update at the end of the shipments file of ``file_day`` (a
    row appended to it before it is loaded, as a carrier's late update): its id."""
    with duckdb.connect(str(shop.settings.build_db), read_only=True) as con:
        found = con.execute(
            "select shipment_id, order_amount from intermediate.int_shipments_latest "
            "where order_business_date = ? and status = 'signed' order by shipment_id limit 1",
            [day],
        ).fetchone()
    assert found, f"no shipment of {day} signed: choose another day"
    shipment, amount = found
    folder = shop.settings.landing_dir / "shipments"
    rows = polars.concat(
        polars.read_csv(p, infer_schema=False) for p in sorted(folder.glob("*.csv"))
    )
    signed = rows.filter(
        (polars.col("shipment_id") == shipment) & (polars.col("status") == "signed")
    ).row(0, named=True)
    at = f"{returned_on.isoformat()}T02:00:00Z"
    returned = {
        **signed,
        "status": "returned",
        "returned_at": at,
        "refund_amount": f"{amount:.2f}",
        "updated_at": at,
    }
    path = folder / f"shipments_{file_day.isoformat()}.csv"
    text = path.read_text(encoding="utf-8")
    line = ",".join(returned[c] or "" for c in rows.columns)
    path.write_text(text + ("" if text.endswith("\n") else "\n") + line + "\n", encoding="utf-8")
    return shipment


@pytest.fixture(scope="module")
def both_builds(tmp_path_factory) -> Builds:
    """The sample shop's first DAYS days built on both engines, then a night over MORE days
    more after GAP days not delivered, incremental on both: a windowed run, as Dagster's. Late
    shipment updates arrive in it (the sample's `late_updates` fault: a day's updates at the
    end of a later day's file), and one of them returns a shipment of the earliest day the
    night rebuilds."""
    if shutil.which("java") is None:
        pytest.fail("no Java runtime: run `make spark-env`")
    root = tmp_path_factory.mktemp("spark")
    shop = make_shop(
        root, start=START, days=DAYS + GAP + MORE, orders_per_day=40, faults={"late_updates": 20}
    )
    plans = shop.settings.targets_dir / "plans"
    plans.mkdir(parents=True)
    shutil.copyfile(TEST_PLAN, plans / TEST_PLAN.name)
    config = root / "kpi.yaml"
    config.write_text("engine: spark\n", encoding="utf-8")
    with _spark_engine(config):
        dbt_project()  # the generated macros the models read
    first_end = START + dt.timedelta(days=DAYS - 1)
    # the real ingestion, which hands Spark the raw rows
    with _spark_engine(config):
        _assets(shop, RAW, START, first_end)
    _build_both(shop, root, config, (START, first_end), {})
    maturity = default_tree().maturity_days
    before = {engine: _provisional(shop, engine) for engine in ("duckdb", "spark")}

    night = (first_end + dt.timedelta(days=1 + GAP), shop.end)
    # the earliest day whose base measures the night rebuilds (its window reaches
    # maturity_days back): a shipment of it returned on the night's first day, the update
    # delivered two days late
    early = night[0] - dt.timedelta(days=maturity)
    shipment = _late_return(shop, early, night[0], night[1])
    with _spark_engine(config):
        _assets(shop, RAW, *night)
    with duckdb.connect(str(shop.settings.build_db), read_only=True) as con:
        late = con.execute(
            "select count(*) from raw.shipments where _partition_date between ? and ? "
            "and shipment_id = ? and status = 'returned'",
            [*night, shipment],
        ).fetchone()[0]
        assert late == 1, "the late shipment update was not loaded"
        window = business_window(night, delivered_business_dates(con, *night), maturity, shop.end)
    _build_both(shop, root, config, night, window_env(window))
    after = {engine: _provisional(shop, engine) for engine in ("duckdb", "spark")}
    cleared = {
        engine: {
            period
            for period, (flag, _) in before[engine].items()
            if flag and period in after[engine] and not after[engine][period][0]
        }
        for engine in before
    }
    mature_until = shop.end - dt.timedelta(days=maturity)
    matured = {
        period for period, (flag, end) in before["duckdb"].items() if flag and end <= mature_until
    }
    return Builds(shop, window, cleared, matured, (shipment, early))


def test_ingestion_hands_spark_every_raw_row_as_parquet(both_builds):
    settings = both_builds.shop.settings
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        for source in SOURCES:
            raw = con.execute(
                f"select _partition_date, count(*) from raw.{source} group by 1 order by 1"
            ).fetchall()
            handed = con.execute(
                f"""select _partition_date, count(*) from read_parquet(
                    '{settings.spark_raw_dir / source}/*/*.parquet', hive_partitioning = true,
                    hive_types = {{'_partition_date': date}}) group by 1 order by 1"""
            ).fetchall()
            assert raw, source
            assert handed == raw, source


#: the one difference known: a delivery's days (seconds / 86400, a double) become an exact
#: decimal(38, 6) per row, and a double whose shortest decimal form ends in 5 at the seventh
#: place (2.0109375) rounds down on DuckDB (its exact binary value lies below) and up on Spark
#: (which rounds the shortest form). What it touches, left out of the comparison above and
#: compared on its own below (issue 44 still wants them equal): (rows, columns) per table
DELIVERY_DAYS = {
    "fct_base_measures": ("measure_id = 'delivery_days'", []),
    "fct_kpi_values": ("kpi_id = 'delivery_time'", []),
    "logistics_kpis": (None, ["delivery_time", "delivery_time__numerator"]),
    # and, with mature cohorts, the delivery days' completion pattern and expected values
    "fct_completion_factors": ("measure_id = 'delivery_days'", []),
    "fct_kpi_expected": ("kpi_id = 'delivery_time'", []),
}


def _compare(shop, model: str, delivery_days: bool) -> tuple[int, list]:
    """The rows of ``model`` compared (DuckDB's count) and those that differ. With
    ``delivery_days``, only what :data:`DELIVERY_DAYS` sets apart; else all the rest."""
    schema, key = COMPARED[model]
    settings = shop.settings
    rows, left_out = DELIVERY_DAYS.get(model, (None, []))
    where = ""
    if rows:
        where = f"where {rows}" if delivery_days else f"where not ({rows})"
    order = ", ".join(key)
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        every = [d[0] for d in con.execute(f"select * from {schema}.{model} limit 0").description]
        if delivery_days and left_out:
            columns = key + left_out
        else:
            columns = [c for c in every if c not in left_out]
        listed = ", ".join(columns)
        want = con.execute(f"select {listed} from {schema}.{model} {where} order by {order}")
        want_rows = want.fetchall()
        spark = _spark_table(settings.spark_dir, schema, model)
        got_rows = con.execute(f"select {listed} from {spark} {where} order by {order}").fetchall()
    assert len(got_rows) == len(want_rows), model
    bad = []
    for w, g in zip(want_rows, got_rows, strict=True):
        row = dict(zip(columns, w, strict=True))
        differ = [
            (c, x, y)
            for c, x, y in zip(columns, w, g, strict=True)
            if not (_same(x, y) or (model == "fct_kpi_vs_target" and pace_tie(row, c, x, y)))
        ]
        if differ:
            bad.append((dict(zip(key, w, strict=False)), differ))
    return len(want_rows), bad


@pytest.mark.parametrize("model", list(COMPARED))
def test_spark_builds_the_same_rows_as_duckdb(both_builds, model):
    compared, bad = _compare(both_builds.shop, model, delivery_days=False)
    assert compared, f"{model}: DuckDB built no rows, nothing is compared"
    assert not bad, f"{model}: {len(bad)} rows differ, first {bad[:3]}"


#: how far apart the delivery days may be: one millionth of a day (the decimal's last place)
#: per shipment summed, a few hundred shipments a day at most; a wrong shipment or a day's
#: whole delivery counted twice is a full day or more
ROUNDING_APART = 1e-3


@pytest.mark.parametrize("model", list(DELIVERY_DAYS))
def test_delivery_days_differ_only_in_the_rounding_of_their_last_place(both_builds, model):
    compared, bad = _compare(both_builds.shop, model, delivery_days=True)
    assert compared, model
    beyond = [
        (where, c, x, y)
        for where, differ in bad
        for c, x, y in differ
        if x is None or y is None or abs(float(x) - float(y)) > ROUNDING_APART
    ]
    assert not beyond, f"{model}: {beyond[:3]}"


def test_the_night_clears_the_provisional_mark_of_the_periods_it_matured(both_builds):
    """With more history than maturity_days, the night's newer as-of date matures periods the
    first build marked provisional; both engines clear the same marks, and exactly those of
    the periods that matured. One of them is a day before the first the night rebuilds (its
    window's start, less maturity_days): its mark is cleared by DuckDB's update and Spark's
    post-hook, not by the night's insert."""
    cleared = both_builds.cleared
    assert both_builds.matured, "the night matures no period: the test needs more days"
    assert cleared["duckdb"] == both_builds.matured
    assert cleared["spark"] == cleared["duckdb"]
    rebuilt_from = both_builds.window.start - dt.timedelta(days=default_tree().maturity_days)
    outside = {(grain, start) for grain, start in cleared["spark"] if start < rebuilt_from}
    assert outside, f"the night rebuilt (from {rebuilt_from}) every period it matured"


def test_a_late_update_of_an_early_day_reaches_both_engines(both_builds):
    """The shipment returned in the night's files, of the earliest day the night rebuilds, is
    returned in both engines' latest shipments, and counted in its day's returned orders."""
    shipment, day = both_builds.late
    settings = both_builds.shop.settings
    latest = _spark_table(settings.spark_dir, "intermediate", "int_shipments_latest")
    measures = _spark_table(settings.spark_dir, "kpi", "fct_base_measures")
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        for table in ("intermediate.int_shipments_latest", latest):
            status = con.execute(
                f"select status from {table} where shipment_id = ?", [shipment]
            ).fetchall()
            assert status == [("returned",)], table
        for table in ("kpi.fct_base_measures", measures):
            returned = con.execute(
                f"select value from {table} where measure_id = 'returned_orders' "
                "and dimension = 'total' and cast(date_day as date) = ?",
                [day],
            ).fetchone()
            counted = con.execute(
                "select count(*) from intermediate.int_shipments_latest "
                "where order_business_date = ? and status = 'returned'",
                [day],
            ).fetchone()
            assert returned is not None and returned[0] == counted[0] >= 1, table
