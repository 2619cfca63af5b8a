"""The nightly refresh measured against what the hardware can do (`make bench`).

For each scale level (orders per day over a year of history) it measures, in one run:

- ingestion with validation (the nightly job's ingest steps) against a plain polars read of
  the same files (the floor: types inferred, dates parsed), against a read of them as text
  (the read ingestion starts with, no types inferred), and against the plain read with each
  frame written unchecked to DuckDB (the floor of reading and writing); the checks alone
  (each file read, typed and validated, nothing written) against the plain read;
- the full build of the year (the job's dbt step) against one hand-written DuckDB query that
  computes the same daily KPI values straight from the raw tables (the floor);
- the refresh of one new day, end to end (ingest -> tree -> targets -> publish -> alerts),
  with 3 months and with 12 months of history: the last nights (3 by default) each timed
  after both histories, alternating, each night's files landed just before its run; the
  median night is reported, with every night's time;
- the fixed cost of starting dbt and Dagster, and what Dagster spends on each asset and
  partition of a run over a range of days (a planned event and a materialization each, in
  memory as the bench's runs keep them and in SQLite files as `kpi run` does); each run's
  count of them, and dbt's own time in its dbt steps (its run_results.json);
- the peak memory (max RSS) of each stage: every stage runs in its own process; a level's
  peak is its pipeline stages' (the floors' is reported beside it); and the cores each
  stage's process kept busy, and the year's ingest steps (CPU seconds per second).

It prints a table and writes the figures as JSON with the machine's cores and memory and the
commit measured (and whether the working tree had uncommitted changes), after each level, to
``bench/results/<date>-<commit>.json`` (:func:`results_path`) and to ``latest.json`` beside
it. The dated files are the benchmark's history and are meant to be committed with the
change they measured; ``latest.json`` is git-ignored. docs/performance.md holds the latest
run's table. Not a test: nothing here passes or fails on time; the goals are reported
against the figures.

    python bench/run.py [--levels 1k,10k,100k] [--days 365] [--nights 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LEVELS = {"1k": 1_000, "10k": 10_000, "100k": 100_000}
#: the last night timed; the nights and the history before them are in the plan's year
#: (targets are paced)
NEW_DAY = dt.date(2025, 12, 31)
SHORT_HISTORY = 91  # "3 months"
#: new days timed after each history (consecutive nights; the median is reported): one
#: night's time varies by a fifth or more on this shared machine
NIGHTS = 3
PLAN = Path(__file__).with_name("plan.yaml")
#: each run's figures, one dated file a run (kept in git), and the latest run's (ignored)
RESULTS_DIR = ROOT / "bench" / "results"
LATEST = "latest.json"
SOURCES = ("orders", "order_items", "sessions", "ad_spend", "conversations", "shipments")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- stages: each runs in its own process (python bench/run.py stage NAME ...) ------------


def stage_generate(landing: str, start: str, days: str, orders_per_day: str) -> dict:
    from bench.scale import scaled_shop

    t0 = time.perf_counter()
    info = scaled_shop(
        Path(landing), dt.date.fromisoformat(start), int(days), int(orders_per_day), log=log
    )
    return {**info, "seconds": time.perf_counter() - t0}


def _day_files(landing: Path, start: dt.date, end: dt.date) -> list[tuple[str, Path]]:
    from pipelines.ingest.validate import DATE_IN_NAME

    out = []
    for source in SOURCES:
        for path in sorted((landing / source).glob("*")):
            m = DATE_IN_NAME.search(path.name)
            if m and start <= dt.date(int(m[1]), int(m[2]), int(m[3])) <= end:
                out.append((source, path))
    return out


def _read_plain(path: Path):
    """A file as polars reads it with no help: types inferred, nothing checked."""
    import polars as pl

    if path.suffix == ".csv":
        return pl.read_csv(path, try_parse_dates=True)
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    return pl.read_ndjson(path)


def stage_plain_read(landing: str, start: str, end: str, how: str = "inferred") -> dict:
    """The floor for ingestion: polars reads every file, nothing else. ``how``: "inferred"
    (types inferred, dates parsed: the issue's plain read) or "text" (CSV and JSON Lines as
    text: ingestion's own reader, before any check, which infers nothing)."""
    from pipelines.ingest.validate import read_raw

    read = {"inferred": _read_plain, "text": read_raw}[how]
    files = _day_files(Path(landing), dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    rows = 0
    size = 0
    t0 = time.perf_counter()
    for _, path in files:
        df = read(path)
        rows += df.height
        size += path.stat().st_size
    return {
        "seconds": time.perf_counter() - t0,
        "rows": rows,
        "files": len(files),
        "bytes": size,
    }


def stage_validated_read(data_dir: str, start: str, end: str) -> dict:
    """Ingestion's checks alone: every file read, typed and validated as the ingest steps do
    (the same function, the data dir's settings), nothing written. Against the plain read it
    is the cost of checking; against ingestion, the cost of writing the warehouse."""
    from pipelines.ingest.load import _validate
    from pipelines.settings import load_settings

    settings = load_settings(data_dir)
    files = _day_files(
        settings.landing_dir, dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    )
    rows = good = 0
    t0 = time.perf_counter()
    for source, path in files:
        checked = _validate(settings, source, path)
        rows += checked.rows_in
        good += checked.good.height
    return {
        "seconds": time.perf_counter() - t0,
        "rows": rows,
        "rows_good": good,
        "files": len(files),
    }


def stage_plain_load(landing: str, start: str, end: str, database: str) -> dict:
    """A second floor for ingestion: the same plain read, and each frame written as it is to
    a DuckDB table of its source. Validated ingestion also writes the warehouse; this
    separates the cost of checking from the cost of reading and writing. DuckDB gets the
    warehouse's default memory limit, as ingestion does."""
    import duckdb

    from pipelines.settings import DEFAULT_MEMORY_LIMIT

    files = _day_files(Path(landing), dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    Path(database).unlink(missing_ok=True)
    rows = 0
    t0 = time.perf_counter()
    with duckdb.connect(database, config={"memory_limit": DEFAULT_MEMORY_LIMIT}) as con:
        created: set[str] = set()
        for source, path in files:
            df = _read_plain(path)
            if source in created:
                con.execute(f"insert into {source} by name select * from df")
            else:
                con.execute(f"create table {source} as select * from df")
                created.add(source)
            rows += df.height
    seconds = time.perf_counter() - t0
    Path(database).unlink(missing_ok=True)
    return {"seconds": seconds, "rows": rows, "files": len(files)}


class CpuClock:
    """The process's CPU time (all threads, user and system), read every ``every`` seconds
    in a thread of its own: the CPU a step of a run used is read off it by the step's start
    and end times, from Dagster's event log."""

    def __init__(self, every: float = 0.2):
        import threading

        self._every = every
        self._samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-clock", daemon=True)

    def _read(self) -> None:
        t = os.times()
        self._samples.append((time.time(), t.user + t.system))

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._read()

    def __enter__(self) -> CpuClock:
        self._read()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read()

    def at(self, when: float) -> float:
        """CPU seconds used by ``when`` (wall clock), interpolated between samples."""
        import bisect

        i = bisect.bisect_left(self._samples, (when, float("-inf")))
        if i == 0:
            return self._samples[0][1]
        if i == len(self._samples):
            return self._samples[-1][1]
        (t0, c0), (t1, c1) = self._samples[i - 1], self._samples[i]
        return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c1


def stage_nightly(data_dir: str, start: str, end: str, dbt_json: str = "no") -> dict:
    """One run of the nightly job over start..end; each step's wall time from Dagster's log.
    ``dbt_json`` "yes": dbt writes its run_results.json (not written by default), for dbt's
    own time (:func:`dbt_elapsed`); the year's build only, where it is a second in minutes."""
    if dbt_json == "yes":
        os.environ["DBT_WRITE_JSON"] = "true"
    import dagster as dg
    import duckdb

    t_import = time.perf_counter()
    from pipelines.definitions import build_defs
    from pipelines.runner import run_nightly
    from pipelines.settings import load_settings

    defs = build_defs(data_dir)
    import_seconds = time.perf_counter() - t_import
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    t0, wall0 = time.perf_counter(), time.time()
    with dg.DagsterInstance.ephemeral() as instance:
        with CpuClock() as cpu:
            outcome = run_nightly(defs, first, last, instance, log_level="WARNING")
        total = time.perf_counter() - t0
        steps: dict[str, float] = {}
        steps_cpu: dict[str, float] = {}
        started: dict[str, float] = {}
        run_started = wall0
        events = {"planned": 0, "materialized": 0}
        for entry in instance.all_logs(outcome.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == dg.DagsterEventType.RUN_START:
                run_started = entry.timestamp
            elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
                events["planned"] += 1
            elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                events["materialized"] += 1
            if not entry.step_key:
                continue
            if event.event_type_value == "STEP_START":
                started[entry.step_key] = entry.timestamp
            elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and (
                entry.step_key in started
            ):
                steps[entry.step_key] = entry.timestamp - started[entry.step_key]
                steps_cpu[entry.step_key] = cpu.at(entry.timestamp) - cpu.at(
                    started[entry.step_key]
                )
    groups: dict[str, float] = {}
    groups_cpu: dict[str, float] = {}
    for key, seconds in steps.items():
        groups[_group(key)] = groups.get(_group(key), 0.0) + seconds
        groups_cpu[_group(key)] = groups_cpu.get(_group(key), 0.0) + steps_cpu[key]
    # before the run starts, Dagster writes an event for each asset and partition it plans
    groups["Dagster: the run's planned events"] = run_started - wall0
    # Dagster between steps, and the board, drawn once the run is over (pipelines/runner.py)
    groups["orchestration and board (outside steps)"] = (
        total - sum(steps.values()) - groups["Dagster: the run's planned events"]
    )
    settings = load_settings(data_dir)
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        rows = sum(
            con.execute(
                f"select count(*) from raw.{s} where _partition_date between ? and ?",
                [first, last],
            ).fetchall()[0][0]
            for s in SOURCES
        )
    return {
        "ok": outcome.ok,
        "error": outcome.error,
        "held_back": outcome.held_back,
        "seconds": total,
        "import_seconds": import_seconds,
        "groups": groups,
        "steps": steps,
        # CPU seconds of the process during each group's steps (steps run one at a time)
        "groups_cpu": groups_cpu,
        "rows_ingested": rows,
        "asset_events": events,
        "dbt_elapsed": dbt_elapsed(outcome.run_id),
    }


def dbt_elapsed(run_id: str) -> dict[str, float]:
    """dbt's own elapsed time (its run_results.json: the first node's start to the last's end,
    without starting dbt) of each dbt step of the run. dagster-dbt gives each invocation the
    target folder `<step>-<run id's first 7 characters>-<its own id>`."""
    from pipelines.transform.project import dbt_project

    target = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    if not target.is_absolute():
        target = Path(dbt_project().project_dir) / target
    elapsed: dict[str, float] = {}
    for step in ("kpi_tree_dbt", "kpi_targets_dbt"):
        for results in target.glob(f"{step}-{run_id[:7]}-*/run_results.json"):
            seconds = json.loads(results.read_text(encoding="utf-8"))["elapsed_time"]
            elapsed[step] = elapsed.get(step, 0.0) + seconds
    return elapsed


def _group(step_key: str) -> str:
    if step_key.startswith("raw__"):
        return "ingest"
    if step_key == "kpi_tree_dbt":
        return "dbt: KPI tree"
    if step_key == "kpi_targets_dbt":
        return "dbt: targets and pace"
    if step_key.startswith("targets"):
        return "targets"
    if "gx_gate" in step_key:
        return "quality gates"
    if step_key.startswith("publish__"):
        return "publish"
    if step_key.startswith("alerts__"):
        return "alerts"
    return "other"


FLOOR_SQL = """
with o as (
    select business_date as day, count(*) as orders, sum(amount) as gmv
    from raw.orders group by all
), s as (
    select business_date as day, sum(sessions) as sessions,
           sum(case when channel in ('paid_search', 'feed_ads') then sessions else 0 end)
               as paid_sessions
    from raw.sessions group by all
), a as (
    select business_date as day, sum(impressions) as impressions, sum(clicks) as clicks,
           sum(spend) as spend
    from raw.ad_spend group by all
), c as (
    select business_date as day, count(*) as conversations,
           avg(epoch(first_response_at) - epoch(started_at)) as first_response_mean,
           sum(case when topic = 'presale' and order_id is not null then 1 else 0 end)
               / nullif(sum(case when topic = 'presale' then 1 else 0 end), 0)
               as inquiry_conversion
    from raw.conversations group by all
), sh as (
    select ord.business_date as day,
           sum(case when x.status = 'signed' then ord.amount else 0 end) as signed_gmv,
           avg(case when x.status in ('signed', 'refused', 'returned')
               then epoch(x.delivered_at) - epoch(x.shipped_at) end) / 86400 as delivery_days
    from (select * from raw.shipments
          qualify row_number() over (partition by shipment_id order by updated_at desc) = 1) x
    join raw.orders ord using (order_id)
    group by all
)
select o.day, o.gmv, o.orders, s.sessions, s.paid_sessions, o.orders / s.sessions as cvr,
       o.gmv / o.orders as aov, a.spend, a.clicks / a.impressions as ctr,
       a.spend / a.clicks as cpc, c.first_response_mean, c.inquiry_conversion,
       sh.signed_gmv, sh.signed_gmv / o.gmv as signoff_rate, sh.delivery_days
from o left join s using (day) left join a using (day) left join c using (day)
left join sh using (day)
order by o.day
"""


def stage_floor(data_dir: str) -> dict:
    """The floor for the build: one hand-written query, daily KPI values from the raw tables
    (best of two runs, like a warm nightly), with the warehouse's own memory limit: the
    floor is what the hardware does under the budget the pipeline is given."""
    import duckdb

    from pipelines.queries import table_exists
    from pipelines.settings import load_settings

    settings = load_settings(data_dir)
    times = []
    with duckdb.connect(
        str(settings.build_db), read_only=True, config={"memory_limit": settings.memory_limit}
    ) as con:
        con.execute("set threads to 2")
        for _ in range(2):
            t0 = time.perf_counter()
            rows = con.execute(FLOOR_SQL).fetchall()
            times.append(time.perf_counter() - t0)
        # the floor computes the same numbers: compare the additive ones with the build's
        floor = {
            (r[0], k): r[i]
            for r in rows
            for k, i in (("gmv", 1), ("orders", 2), ("sessions", 3), ("ad_spend", 7))
        }
        built = (  # nothing to compare when the build stopped before it
            con.execute(
                "select period_start, kpi_id, value from kpi.fct_kpi_values where grain = 'day' "
                "and dimension = 'total' and kpi_id in ('gmv', 'orders', 'sessions', 'ad_spend')"
            ).fetchall()
            if table_exists(con, "kpi", "fct_kpi_values")
            else []
        )
    diffs = [abs((floor.get((d, k)) or 0) - (v or 0)) for d, k, v in built]
    return {
        "seconds": min(times),
        "runs": times,
        "days": len(rows),
        "max_abs_diff_vs_build": max(diffs) if diffs else None,
        "compared_values": len(diffs),
    }


def stage_overhead(data_dir: str) -> dict:
    """Fixed costs: importing the code location, a dbt invocation that builds nothing, and a
    Dagster run of one no-op asset."""
    t0 = time.perf_counter()
    import dagster as dg

    from pipelines.definitions import build_defs
    from pipelines.transform.project import dbt_executable, dbt_project

    build_defs(data_dir)
    imports = time.perf_counter() - t0

    env = {**os.environ, "KPI_BUILD_DB": str(Path(data_dir) / "warehouse" / "overhead.duckdb")}
    dbt = shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))
    t0 = time.perf_counter()
    done = subprocess.run(
        [dbt, "build", "--select", "tag:__bench_nothing__", "--quiet"],
        cwd=dbt_project().project_dir,
        env=env,
        capture_output=True,
        text=True,
    )
    dbt_seconds = time.perf_counter() - t0
    # the same invocation as the pipeline runs it: in this process (the code location
    # imported), the first one, then another
    from pipelines.transform.assets import KpiDbtCliResource

    os.environ["KPI_BUILD_DB"] = env["KPI_BUILD_DB"]
    resource = KpiDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())
    in_process = []
    with tempfile.TemporaryDirectory(prefix="bench-dbt-") as target:
        for i in range(2):
            t0 = time.perf_counter()
            invocation = resource.cli(
                ["build", "--select", "tag:__bench_nothing__"],
                raise_on_error=False,
                target_path=Path(target) / str(i),
            )
            invocation.wait()
            in_process.append(time.perf_counter() - t0)
            in_process_ok = invocation.is_successful()

    @dg.asset
    def noop() -> None:
        return None

    job = dg.define_asset_job("noop_job", selection=[noop])
    defs = dg.Definitions(assets=[noop], jobs=[job])
    t0 = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        defs.resolve_job_def("noop_job").execute_in_process(instance=instance)
    dagster_seconds = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="bench-dagster-") as home:
        on_disk = partition_event_seconds(lambda: dg.DagsterInstance.local_temp(home))
    return {
        "import_seconds": imports,
        "dbt_seconds": dbt_seconds,
        "dbt_ok": done.returncode == 0,
        # as the pipeline runs dbt (pipelines/transform/in_process.py)
        "dbt_in_process_first_seconds": in_process[0],
        "dbt_in_process_again_seconds": in_process[1],
        "dbt_in_process_ok": in_process_ok,
        "dagster_run_seconds": dagster_seconds,
        # per asset and partition of a run over a range of days: its planned event and its
        # materialization, in memory (as the bench's runs) and in SQLite files (as `kpi`'s)
        "dagster_seconds_per_asset_partition": {
            "in_memory": partition_event_seconds(dg.DagsterInstance.ephemeral),
            "on_disk": on_disk,
        },
    }


def partition_event_seconds(new_instance, days: int = 365) -> float:
    """What Dagster spends on each asset and partition of a run over a range of days, with
    nothing to compute: a daily asset that does nothing, run over `days` partitions as one run
    (like a backfill of the nightly job), less the same run over one partition, per partition.
    Dagster writes a planned event and a materialization for each (its issues 18789, 19829,
    31694): a year's first build of the nightly job's 44 daily assets writes 32,000 events."""
    import dagster as dg

    from pipelines.partitions import daily_partitions
    from pipelines.runner import range_tags
    from pipelines.settings import settings

    daily = daily_partitions(settings())

    @dg.asset(partitions_def=daily, backfill_policy=dg.BackfillPolicy.single_run())
    def noop_daily() -> None:
        return None

    job = dg.Definitions(
        assets=[noop_daily],
        jobs=[dg.define_asset_job("noop_daily_job", selection=[noop_daily])],
    ).resolve_job_def("noop_daily_job")
    first = dt.date(2025, 1, 1)
    seconds = []
    for n in (1, days):
        with new_instance() as instance:
            t0 = time.perf_counter()
            result = job.execute_in_process(
                instance=instance,
                tags=range_tags(first, first + dt.timedelta(days=n - 1)),
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            seconds.append(time.perf_counter() - t0)
            materialized = len(result.asset_materializations_for_node("noop_daily"))
            if not result.success or materialized != n:
                raise RuntimeError(f"the no-op run over {n} days materialized {materialized}")
    return (seconds[1] - seconds[0]) / (days - 1)


#: the first backfill of a new shop (issue 40): two years of the sample shop at 200 orders a
#: day, as `kpi generate` writes them (CSV), every source, and orders alone (orders and their
#: lines: what a shop with only its order export delivers)
FIRST_BACKFILL_START = dt.date(2024, 7, 1)
FIRST_BACKFILL_DAYS = 730
FIRST_BACKFILL_ORDERS = 200
ORDERS_ONLY = ("orders", "order_items")
#: the goal: `kpi run` over that history, every source and orders alone, under this
FIRST_BACKFILL_GOAL_S = 30.0


def stage_kpi_generate(data_dir: str, start: str, days: str, orders_per_day: str) -> dict:
    """The shop's landing files as a new user makes them: `kpi generate`, CSV."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [_kpi(), "--data-dir", data_dir, "generate", "--start", start, "--days", days,
         "--orders-per-day", orders_per_day, "--format", "csv", "--clean"],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"kpi generate failed: {done.stderr[-2000:]}")
    return {"seconds": time.perf_counter() - t0}


def _kpi() -> str:
    return str(Path(sys.executable).with_name("kpi"))


def stage_kpi_run(data_dir: str) -> dict:
    """`kpi run` as a user types it (its own process: imports, the run, its report), over
    every landed file: wall time, and the CPU time (user and system) of the process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [_kpi(), "--data-dir", data_dir, "run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    out, _ = proc.communicate()
    seconds = time.perf_counter() - t0
    # the child's CPU: it has been waited for, so it is in this process's children's times
    cpu = os.times()
    return {
        "ok": proc.returncode == 0,
        "exit_code": proc.returncode,
        "seconds": seconds,
        "cpu_user_seconds": cpu.children_user,
        "cpu_system_seconds": cpu.children_system,
        "output_tail": out.strip().splitlines()[-12:],
    }


def _floor_views(con, frames: dict, zone: str) -> None:
    """Each source's frame as the table `raw.<source>` of the floor's query, with the business
    date its rows fall on (what ingestion adds): timestamps with an offset are UTC instants,
    local ones and dates are already in the business zone."""
    import polars as pl

    dated = {
        "orders": "created_at",
        "sessions": "hour_start",
        "ad_spend": "date",
        "conversations": "started_at",
    }
    con.execute("create schema raw")
    for source, df in frames.items():
        column = dated.get(source)
        if column is not None:
            value = df[column]
            if value.dtype == pl.Datetime and value.dtype.time_zone is not None:
                day = pl.col(column).dt.convert_time_zone(zone).dt.date()
            else:
                day = pl.col(column).cast(pl.Date)
            df = df.with_columns(day.alias("business_date"))
        con.register(f"_{source}", df)
        con.execute(f"create view raw.{source} as select * from _{source}")


#: the day-level KPIs of orders alone: orders, GMV, AOV, lines and units per order
ORDERS_FLOOR_SQL = """
with o as (
    select business_date as day, count(*) as orders, sum(amount) as gmv
    from raw.orders group by all
), i as (
    select ord.business_date as day, count(*) as lines, sum(i.quantity) as units
    from raw.order_items i join raw.orders ord using (order_id) group by all
)
select o.day, o.gmv, o.orders, o.gmv / o.orders as aov, i.lines / o.orders as lines_per_order,
       i.units
from o left join i using (day)
order by o.day
"""


def _read_source(paths: list[Path]):
    """A source's files as one frame, read by polars as they are (types inferred, dates
    parsed): one multi-file scan, which reads them in parallel; file by file where their
    inferred types differ."""
    import polars as pl

    try:
        return pl.scan_csv(paths, try_parse_dates=True).collect()
    except pl.exceptions.PolarsError:
        return pl.concat([_read_plain(p) for p in paths], how="diagonal_relaxed")


def stage_backfill_floor(landing: str, sources: str) -> dict:
    """The first backfill's floor: the irreducible work of a first build, in one process:
    every landed file of ``sources`` read by polars as it is (types inferred, dates parsed;
    each source's files in one multi-file read), and one DuckDB query that computes the
    day-level KPIs from those frames (the build's floor query, FLOOR_SQL, or ORDERS_FLOOR_SQL
    for orders alone). Nothing is checked, written or kept; no Dagster, no dbt, no imports
    but polars' and DuckDB's."""
    import duckdb

    from pipelines.settings import DEFAULT_MEMORY_LIMIT, load_settings

    wanted = sources.split(",")
    zone = load_settings(str(Path(landing).parent)).business_timezone
    t0 = time.perf_counter()
    cpu0 = os.times()
    frames = {}
    files = 0
    for source in wanted:
        paths = sorted((Path(landing) / source).glob("*.csv"))
        if paths:
            frames[source] = _read_source(paths)
            files += len(paths)
    read_seconds = time.perf_counter() - t0
    with duckdb.connect(config={"memory_limit": DEFAULT_MEMORY_LIMIT}) as con:
        _floor_views(con, frames, zone)
        sql = FLOOR_SQL if set(wanted) == set(SOURCES) else ORDERS_FLOOR_SQL
        rows = con.execute(sql).fetchall()
    cpu = os.times()
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": cpu.user + cpu.system - cpu0.user - cpu0.system,
        "read_seconds": read_seconds,
        "files": files,
        "rows": sum(df.height for df in frames.values()),
        "days": len(rows),
        "gmv": sum(r[1] or 0 for r in rows),
        "orders": sum(r[2] or 0 for r in rows),
    }


def _published_totals(data_dir: str) -> dict:
    """GMV and orders summed over the days `kpi run` published (the serving warehouse): the
    floor computes the same numbers."""
    import duckdb

    from pipelines.publish.serving import serving_db
    from pipelines.settings import load_settings

    serving = serving_db(load_settings(data_dir))
    if not serving.exists():
        return {}
    with duckdb.connect(str(serving), read_only=True) as con:
        rows = con.execute(
            "select kpi_id, sum(value) from kpi_tree.kpi_values where grain = 'day' "
            "and dimension = 'total' and kpi_id in ('gmv', 'orders') group by kpi_id"
        ).fetchall()
    return dict(rows)


def stage_prepare(data_dir: str) -> dict:
    """The code location loaded once (its bytecode compiled, the dbt project parsed)."""
    from pipelines.definitions import build_defs

    t0 = time.perf_counter()
    build_defs(data_dir)
    return {"seconds": time.perf_counter() - t0}


STAGES = {
    "prepare": stage_prepare,
    "kpi_generate": stage_kpi_generate,
    "kpi_run": stage_kpi_run,
    "backfill_floor": stage_backfill_floor,
    "generate": stage_generate,
    "plain_read": stage_plain_read,
    "plain_load": stage_plain_load,
    "validated_read": stage_validated_read,
    "nightly": stage_nightly,
    "floor": stage_floor,
    "overhead": stage_overhead,
}


# ---- the orchestrator -----------------------------------------------------------------------


STAGE_LOG: Path | None = None


def run_stage(name: str, *args: str) -> dict:
    """Run one stage in a fresh process; its JSON result plus its peak memory. The stage's
    own output (Dagster's and dbt's logs) goes to the stage log."""
    log(f"{name} {' '.join(Path(a).name if '/' in a else a for a in args)} ...")
    t0 = time.perf_counter()
    with open(STAGE_LOG or os.devnull, "a", encoding="utf-8") as err:
        err.write(f"\n==== {name} {' '.join(args)}\n")
        err.flush()
        proc = subprocess.Popen(
            [sys.executable, __file__, "stage", name, *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"stage {name} failed (exit {proc.returncode}); see {STAGE_LOG}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # KiB on Linux
    # the stage's process, imports included: CPU time and wall time (their ratio: cores busy)
    result["process_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["process_seconds"] = time.perf_counter() - t0
    log(f"  done in {time.perf_counter() - t0:.1f} s, peak {result['peak_rss_mib']:,.0f} MiB")
    return result


def _link_tree(src: Path, dst: Path, start: dt.date, end: dt.date) -> None:
    """dst gets hard links to src's landing files of start..end (no copies)."""
    for source, path in _day_files(src, start, end):
        target = dst / source / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)


def _prepare_data_dir(data: Path, landing: Path, start: dt.date, end: dt.date, level: int) -> None:
    if data.exists():
        shutil.rmtree(data)
    _link_tree(landing, data / "landing", start, end)
    plans = data / "targets" / "plans"
    plans.mkdir(parents=True)
    text = PLAN.read_text(encoding="utf-8").replace(
        "annual: 1_000_000", f"annual: {level * 365 * 230}"
    )
    (plans / PLAN.name).write_text(text, encoding="utf-8")


def bench_level(
    name: str, orders_per_day: int, days: int, work: Path, nights: int = NIGHTS
) -> dict:
    # the nights are the last `nights` days up to NEW_DAY; the history is the `days` before them
    first_night = NEW_DAY - dt.timedelta(days=nights - 1)
    start = first_night - dt.timedelta(days=days)
    history_end = first_night - dt.timedelta(days=1)
    short_start = first_night - dt.timedelta(days=SHORT_HISTORY)
    landing = work / name / "landing"
    out: dict = {"orders_per_day": orders_per_day, "history_days": days}
    for stale in ("year", "quarter"):
        # a previous run's data dirs hold hard links to the landing files about to be written
        # again: left in place, the old files stay on disk beside the new ones (twice the
        # landing files' space)
        shutil.rmtree(work / name / stale, ignore_errors=True)
    out["generate"] = run_stage(
        "generate", str(landing), start.isoformat(), str(days + nights), str(orders_per_day)
    )
    full = work / name / "year"
    _prepare_data_dir(full, landing, start, history_end, orders_per_day)
    out["plain_read"] = run_stage(
        "plain_read", str(landing), start.isoformat(), history_end.isoformat()
    )
    out["text_read"] = run_stage(
        "plain_read", str(landing), start.isoformat(), history_end.isoformat(), "text"
    )
    out["validated_read"] = run_stage(
        "validated_read", str(full), start.isoformat(), history_end.isoformat()
    )
    out["plain_load"] = run_stage(
        "plain_load",
        str(landing),
        start.isoformat(),
        history_end.isoformat(),
        str(work / name / "plain_load.duckdb"),
    )
    # 12 months: the full build of the history
    out["full_build"] = run_stage(
        "nightly", str(full), start.isoformat(), history_end.isoformat(), "yes"
    )
    out["floor"] = run_stage("floor", str(full))
    out["ingest"] = _ingest_rates(out)
    if not out["full_build"]["ok"]:
        # a new day on a broken history measures nothing: report what was measured
        out["stopped"] = f"the year's build failed: {out['full_build']['error']}"
        log(f"  {name}: {out['stopped']}; the new-day stages are skipped")
        return out
    # 3 months: the same days' files, a shorter history
    short = work / name / "quarter"
    _prepare_data_dir(short, landing, short_start, history_end, orders_per_day)
    out["history_3m"] = run_stage(
        "nightly", str(short), short_start.isoformat(), history_end.isoformat()
    )
    histories = {"12m": full}
    if out["history_3m"]["ok"]:
        histories["3m"] = short
    else:
        out["stopped"] = f"the 3 months' build failed: {out['history_3m']['error']}"
        log(f"  {name}: {out['stopped']}; the 3 months' new days are skipped")
    # each night's files land before its run (as they do in production), and the two
    # histories' nights alternate, so that a change in the machine's speed falls on both
    runs: dict[str, list[dict]] = {label: [] for label in histories}
    for i in range(nights):
        day = first_night + dt.timedelta(days=i)
        for label, data in histories.items():
            _link_tree(landing, data / "landing", day, day)
            night = run_stage("nightly", str(data), day.isoformat(), day.isoformat())
            night["day"] = day.isoformat()
            runs[label].append(night)
    for label, nights_run in runs.items():
        out[f"new_day_{label}_nights"] = nights_run
        out[f"new_day_{label}"] = median_night(nights_run)
    return out


def bench_first_backfill(work: Path) -> dict:
    """The first backfill of a new shop: its two years of files (every source, and orders
    alone) through `kpi run`, each against its floor measured beside it, alternating (run,
    floor) so that a change in the machine's speed falls on both."""
    root = work / "first_backfill"
    landing_dir = root / "generated"
    start = FIRST_BACKFILL_START.isoformat()
    out: dict = {
        "start": start,
        "days": FIRST_BACKFILL_DAYS,
        "orders_per_day": FIRST_BACKFILL_ORDERS,
        "generate": run_stage(
            "kpi_generate",
            str(landing_dir),
            start,
            str(FIRST_BACKFILL_DAYS),
            str(FIRST_BACKFILL_ORDERS),
        ),
    }
    for name, sources in (("every_source", SOURCES), ("orders_only", ORDERS_ONLY)):
        data = root / name
        shutil.rmtree(data, ignore_errors=True)
        for source in sources:  # hard links: the same files, a data dir of its own
            for path in sorted((landing_dir / "landing" / source).glob("*")):
                target = data / "landing" / source / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target)
        run = run_stage("kpi_run", str(data))
        floor = run_stage("backfill_floor", str(data / "landing"), ",".join(sources))
        run["published"] = _published_totals(str(data))
        out[name] = {
            "run": run,
            "floor": floor,
            "run_vs_floor": run["seconds"] / floor["seconds"],
            "goal_met": run["ok"] and run["seconds"] < FIRST_BACKFILL_GOAL_S,
        }
        log(
            f"  first backfill, {name}: kpi run {run['seconds']:.1f} s (CPU "
            f"{run['cpu_user_seconds'] + run['cpu_system_seconds']:.1f} s, exit "
            f"{run['exit_code']}), floor {floor['seconds']:.1f} s"
        )
    return out


def print_first_backfill(fb: dict) -> None:
    print(
        f"\nFirst backfill: {fb['days']} days from {fb['start']} at {fb['orders_per_day']} "
        f"orders a day (`kpi generate --format csv`), `kpi run` in its own process, against "
        f"its floor (every file read by polars and one DuckDB query of the day-level KPIs):"
    )
    for name in ("every_source", "orders_only"):
        r = fb.get(name)
        if not r:
            continue
        run, floor = r["run"], r["floor"]
        cpu = run["cpu_user_seconds"] + run["cpu_system_seconds"]
        goal = "met" if r["goal_met"] else "NOT met"
        print(
            f"  {name.replace('_', ' ')}: {run['seconds']:.1f} s (exit {run['exit_code']}; "
            f"CPU {run['cpu_user_seconds']:.1f} user + {run['cpu_system_seconds']:.1f} sys = "
            f"{cpu:.1f} s); floor {floor['seconds']:.1f} s (reading {floor['read_seconds']:.1f}"
            f" s, {floor['files']:,} files, {floor['rows']:,} rows); {r['run_vs_floor']:.1f}× "
            f"the floor; goal under {FIRST_BACKFILL_GOAL_S:.0f} s: {goal}"
        )
        published = run.get("published") or {}
        if published.get("gmv") is not None:
            print(
                f"    published GMV {published['gmv']:,.2f}, orders {published['orders']:,.0f}; "
                f"the floor's {floor['gmv']:,.2f}, {floor['orders']:,.0f}"
            )


def median_night(nights: list[dict]) -> dict:
    """The night of median time (the lower of the two middle ones for an even count); a
    failed night stands for all (a failure is no time)."""
    failed = [n for n in nights if not n.get("ok")]
    if failed:
        return failed[0]
    return sorted(nights, key=lambda n: n["seconds"])[(len(nights) - 1) // 2]


def _ingest_rates(out: dict) -> dict:
    return {
        "validated_rows_per_s": out["full_build"]["rows_ingested"]
        / out["full_build"]["groups"].get("ingest", float("nan")),
        "plain_rows_per_s": out["plain_read"]["rows"] / out["plain_read"]["seconds"],
        "text_rows_per_s": out["text_read"]["rows"] / out["text_read"]["seconds"],
        "plain_load_rows_per_s": out["plain_load"]["rows"] / out["plain_load"]["seconds"],
        "validated_read_rows_per_s": (
            out["validated_read"]["rows"] / out["validated_read"]["seconds"]
        ),
    }


def machine() -> dict:
    mem_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def code_version() -> dict:
    """The commit measured, and whether the working tree differed from it (a bench of
    uncommitted code is still a measurement, but not of a commit); None outside a checkout."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "uncommitted_changes": bool(changes) if commit else None}


def results_path(results_dir: Path, started: dt.datetime, code: dict) -> Path:
    """Where a run's figures go: ``<date>-<commit>.json`` in ``results_dir``, the date the run
    started (UTC, as ``started_at``) and the short commit measured, ``-dirty`` when the
    working tree had uncommitted changes (``unversioned`` outside a checkout). A second run
    of the same commit on the same day gets ``-2``, ``-3``...: a run never overwrites another.
    """
    commit = (code.get("commit") or "")[:7] or "unversioned"
    if code.get("uncommitted_changes"):
        commit += "-dirty"
    stem = f"{started.astimezone(dt.UTC):%Y-%m-%d}-{commit}"
    path = results_dir / f"{stem}.json"
    n = 2
    while path.exists():
        path = results_dir / f"{stem}-{n}.json"
        n += 1
    return path


def _timed(stage: dict | None) -> float | None:
    """A stage's seconds, if it ran and succeeded."""
    return stage["seconds"] if stage and stage.get("ok") else None


def summarize(results: dict) -> list[dict]:
    """The goals of issue 8, per level: measured figure, goal, met or not."""
    rows = []
    overhead = results["overhead"]
    # the KPI tree step is one dbt invocation, the process's first (dbt runs in the pipeline's
    # process since 2026-12-03; before, a subprocess)
    fixed = overhead.get("dbt_in_process_first_seconds", overhead["dbt_seconds"])
    for name, r in results["levels"].items():
        build = r["full_build"]
        dbt_build = build["groups"].get("dbt: KPI tree", 0.0)
        ratio_ingest = r["ingest"]["validated_rows_per_s"] / r["ingest"]["plain_rows_per_s"]
        plain_load = r["ingest"].get("plain_load_rows_per_s")
        checks_only = r["ingest"].get("validated_read_rows_per_s")
        text_read = r["ingest"].get("text_rows_per_s")
        # a failed build (the year's, or the 3 months') leaves no new day to time after it;
        # a failed new day is no time either
        stopped = not build["ok"]
        new_12m, new_3m = _timed(r.get("new_day_12m")), _timed(r.get("new_day_3m"))
        # dbt's own time in the tree step: the step less starting dbt and less what Dagster
        # spends on the step's assets and partitions (a materialization each), where it does
        # not overlap dbt's nodes; dbt may also wait on dagster-dbt reading its events
        dbt_own = build.get("dbt_elapsed", {}).get("kpi_tree_dbt")
        asset_partitions = build.get("asset_events", {}).get("planned")
        per_partition = overhead.get("dagster_seconds_per_asset_partition", {})
        rows.append(
            {
                "level": name,
                "rows_per_year": build["rows_ingested"],
                "new_day_12m_s": new_12m,
                "new_day_3m_s": new_3m,
                "growth_12m_vs_3m": new_12m / new_3m if new_12m and new_3m else None,
                # every night's time, in the order they ran (the two histories alternate)
                **{
                    f"new_day_{label}_nights_s": [
                        n["seconds"] if n.get("ok") else None for n in r[f"new_day_{label}_nights"]
                    ]
                    for label in ("12m", "3m")
                    if f"new_day_{label}_nights" in r
                },
                # the night against the same run's floor: the night's goal is a wall time,
                # and a shared machine's speed varies from day to day; at 100k (a large floor)
                # this compares nights across days, at 1k it is fixed costs
                "new_day_12m_vs_floor": new_12m / r["floor"]["seconds"] if new_12m else None,
                "build_dbt_s": None if stopped else dbt_build,
                "floor_s": r["floor"]["seconds"],
                "build_vs_floor_plus_fixed": (
                    None if stopped else dbt_build / (3 * r["floor"]["seconds"] + fixed)
                ),
                "build_dbt_own_s": None if stopped else dbt_own,
                # the goal's ratio had the step been dbt alone: dbt's own time and its start
                "build_dbt_own_plus_fixed_vs_floor_plus_fixed": (
                    None
                    if stopped or dbt_own is None
                    else (dbt_own + fixed) / (3 * r["floor"]["seconds"] + fixed)
                ),
                # the year's run: its assets x partitions, and what Dagster's bookkeeping of
                # them costs at the measured rate, in memory (this bench) and on disk (`kpi`)
                "year_asset_partitions": asset_partitions,
                "year_dagster_partitions_s": (
                    {where: asset_partitions * cost for where, cost in per_partition.items()}
                    if asset_partitions
                    else None
                ),
                "ingest_validated_vs_plain": ratio_ingest,
                # against the read as text (the read ingestion starts with): the plain read
                # infers types and parses dates: half to three quarters of its time here
                "ingest_validated_vs_text_read": (
                    r["ingest"]["validated_rows_per_s"] / text_read if text_read else None
                ),
                "ingest_validated_vs_plain_load": (
                    r["ingest"]["validated_rows_per_s"] / plain_load if plain_load else None
                ),
                # cores busy (CPU seconds per second) in the year's ingest steps, and in the
                # processes of the plain read and of the checks alone: of the machine's cores
                "ingest_cores_busy": (
                    build["groups_cpu"]["ingest"] / build["groups"]["ingest"]
                    if build.get("groups_cpu", {}).get("ingest")
                    else None
                ),
                "cores_busy": {
                    k: r[k]["process_cpu_seconds"] / r[k]["process_seconds"]
                    for k in ("plain_read", "text_read", "validated_read", "plain_load")
                    if "process_cpu_seconds" in r.get(k, {})
                },
                # the checks without the write: read, typed and validated, nothing stored
                "validated_read_vs_plain": (
                    checks_only / r["ingest"]["plain_rows_per_s"] if checks_only else None
                ),
                # the pipeline's own stages: the floors are not the pipeline
                "peak_rss_mib": max(
                    stage["peak_rss_mib"]
                    for k in ("full_build", "new_day_12m", "history_3m", "new_day_3m")
                    if k in r
                    for stage in r.get(f"{k}_nights", [r[k]])
                ),
                "floors_peak_rss_mib": max(
                    r[k]["peak_rss_mib"]
                    for k in ("plain_read", "text_read", "validated_read", "plain_load", "floor")
                    if k in r
                ),
                "full_run_s": build["seconds"],
                "stopped": r.get("stopped"),
            }
        )
    return rows


def print_table(results: dict) -> None:
    m = results["machine"]
    print(f"\nMachine: {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}")
    code = results.get("code") or {}
    if code.get("commit"):
        dirty = " with uncommitted changes" if code["uncommitted_changes"] else ""
        print(f"Code: {code['commit'][:12]}{dirty}")
    o = results["overhead"]
    in_process = ""
    if "dbt_in_process_first_seconds" in o:
        in_process = (
            f" as a `dbt` subprocess, {o['dbt_in_process_first_seconds']:.1f} s in the pipeline's "
            f"process (the first; {o['dbt_in_process_again_seconds']:.2f} s again)"
        )
    print(
        f"Fixed costs: importing the code location {o['import_seconds']:.1f} s, a dbt "
        f"invocation that builds nothing {o['dbt_seconds']:.1f} s{in_process}, a Dagster run "
        f"of one no-op asset {o['dagster_run_seconds']:.2f} s"
    )
    per = o.get("dagster_seconds_per_asset_partition")
    if per:
        print(
            "Dagster, per asset and partition of a run over a range of days (its planned event "
            f"and materialization): {per['in_memory'] * 1000:.1f} ms in memory (this bench's "
            f"runs), {per['on_disk'] * 1000:.1f} ms in SQLite files (`kpi run`'s instance)"
        )
    print()
    head = (
        "level",
        "rows/yr",
        "new day 12m",
        "new day 3m",
        "12m/3m",
        "year: dbt",
        "floor",
        "dbt/(3×floor+fixed)",
        "year: dbt's own",
        "(own+fixed)/(3×floor+fixed)",
        "ingest vs read",
        "ingest vs text read",
        "checks only vs read",
        "ingest vs read+write",
        "peak RSS",
        "floors' peak",
    )

    def fmt(value: float | None, spec: str, unit: str = "") -> str:
        return "-" if value is None else format(value, spec) + unit

    lines = [head]
    for s in results["summary"]:
        lines.append(
            (
                s["level"],
                f"{s['rows_per_year']:,}",
                fmt(s["new_day_12m_s"], ".1f", " s"),
                fmt(s["new_day_3m_s"], ".1f", " s"),
                fmt(s["growth_12m_vs_3m"], ".2f", "×"),
                fmt(s["build_dbt_s"], ".1f", " s"),
                f"{s['floor_s']:.2f} s",
                fmt(s["build_vs_floor_plus_fixed"], ".2f"),
                fmt(s.get("build_dbt_own_s"), ".1f", " s"),
                fmt(s.get("build_dbt_own_plus_fixed_vs_floor_plus_fixed"), ".2f"),
                f"{s['ingest_validated_vs_plain']:.2f}",
                fmt(s.get("ingest_validated_vs_text_read"), ".2f"),
                fmt(s.get("validated_read_vs_plain"), ".2f"),
                fmt(s.get("ingest_validated_vs_plain_load"), ".2f"),
                f"{s['peak_rss_mib']:,.0f} MiB",
                f"{s['floors_peak_rss_mib']:,.0f} MiB",
            )
        )
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(head))]
    for i, row in enumerate(lines):
        print(
            "  ".join(
                str(c).rjust(w) if i else str(c).ljust(w) for c, w in zip(row, widths, strict=True)
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("\nWhere a year's full run spends its time (seconds):")
    for name, r in results["levels"].items():
        groups = r["full_build"]["groups"]
        parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(groups.items(), key=lambda x: -x[1]))
        print(f"  {name}: {r['full_build']['seconds']:.1f} total: {parts}")
    for s in results["summary"]:
        est = s.get("year_dagster_partitions_s")
        if est:
            print(
                f"  {s['level']}: {s['year_asset_partitions']:,} assets x partitions; Dagster's "
                f"bookkeeping of them: about {est['in_memory']:.0f} s here, "
                f"{est['on_disk']:.0f} s in SQLite files"
            )
    for name, r in results["levels"].items():
        if "stopped" in r:
            print(f"  {name}: stopped: {r['stopped'][:300]}")
    print(f"Cores busy (CPU seconds per second, of {m['cores']}):")
    for s in results["summary"]:
        busy = {"ingest steps": s.get("ingest_cores_busy"), **s.get("cores_busy", {})}
        parts = ", ".join(f"{k} {v:.2f}" for k, v in busy.items() if v is not None)
        if parts:
            print(f"  {s['level']}: {parts}")

    def each(times: list | None) -> str:
        return ", ".join("failed" if t is None else f"{t:.1f}" for t in times or []) or "-"

    nightly = [s for s in results["summary"] if s.get("new_day_12m_nights_s")]
    if nightly:
        print("Each new day, in the order run (seconds; the table gives the median):")
    for s in nightly:
        print(
            f"  {s['level']}: 12 months {each(s['new_day_12m_nights_s'])}; "
            f"3 months {each(s.get('new_day_3m_nights_s'))}"
        )
    print("Where one new day (12 months of history; the median night) spends its time (seconds):")
    against_floor = {s["level"]: s.get("new_day_12m_vs_floor") for s in results["summary"]}
    for name, r in results["levels"].items():
        if "new_day_12m" not in r:
            continue
        groups = r["new_day_12m"]["groups"]
        parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(groups.items(), key=lambda x: -x[1]))
        ratio = against_floor.get(name)
        share = f" ({ratio:.2f} × the floor's time)" if ratio else ""
        print(f"  {name}: {r['new_day_12m']['seconds']:.1f} total{share}: {parts}")


def main(argv: list[str]) -> None:
    if argv[:1] == ["stage"]:
        result = STAGES[argv[1]](*argv[2:])
        print(json.dumps(result, default=str))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1k,10k,100k", help="comma-separated: 1k,10k,100k")
    parser.add_argument("--days", type=int, default=365, help="days of history (default 365)")
    parser.add_argument(
        "--nights",
        type=int,
        default=NIGHTS,
        help=f"new days timed after each history, the median reported (default {NIGHTS})",
    )
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    parser.add_argument(
        "--first-backfill",
        choices=("also", "only", "no"),
        default="also",
        help="the first backfill of a new shop (two years at 200 orders a day): with the "
        "levels (also, the default), alone (only: --levels is ignored) or not (no)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the figures here only (default: bench/results/<date>-<commit>.json, "
        "and bench/results/latest.json)",
    )
    args = parser.parse_args(argv)
    levels = [lv.strip() for lv in args.levels.split(",") if lv.strip()]
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        parser.error(f"unknown level(s) {unknown}; known: {sorted(LEVELS)}")
    if args.nights < 1:
        parser.error("--nights: at least one night")
    args.work.mkdir(parents=True, exist_ok=True)
    global STAGE_LOG
    STAGE_LOG = args.work / "stages.log"
    STAGE_LOG.write_text("", encoding="utf-8")
    log(f"stage logs: {STAGE_LOG}")
    # once unmeasured: a fresh checkout's first import compiles its bytecode and its first dbt
    # parses the whole project, neither of which a night (nor a user's first run) pays
    only_first_backfill = args.first_backfill == "only"
    run_stage("prepare" if only_first_backfill else "overhead", str(args.work / "overhead"))
    started = dt.datetime.now(dt.UTC)
    code = code_version()
    outputs = [args.out] if args.out else [results_path(RESULTS_DIR, started, code)]
    if not args.out:
        outputs.append(RESULTS_DIR / LATEST)
    results: dict = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "code": code,
        "days": args.days,
        "nights": args.nights,
        "overhead": None
        if only_first_backfill
        else run_stage("overhead", str(args.work / "overhead")),
        "levels": {},
    }
    if only_first_backfill:
        levels = []
    for level in levels:
        t0 = time.perf_counter()
        results["levels"][level] = bench_level(
            level, LEVELS[level], args.days, args.work, args.nights
        )
        log(f"level {level} done in {time.perf_counter() - t0:.0f} s")
        results["summary"] = summarize(results)
        for out in outputs:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    if args.first_backfill != "no":
        results["first_backfill"] = bench_first_backfill(args.work)
        for out in outputs:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    if levels:
        print_table(results)
    if "first_backfill" in results:
        print_first_backfill(results["first_backfill"])
    print(f"\nFigures: {outputs[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
