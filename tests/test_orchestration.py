"""The Dagster code location: definitions, the nightly schedule, the landing sensor."""

from __future__ import annotations

import contextvars
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from pipelines.definitions import build_defs
from pipelines.ingest.contracts import SOURCES
from pipelines.resources import WAREHOUSE_POOL, Warehouse
from pipelines.sensors import contiguous_ranges

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def defs(tmp_path_factory) -> dg.Definitions:
    return build_defs(tmp_path_factory.mktemp("orchestration") / "data")


def test_every_source_has_a_pooled_daily_single_run_asset(defs):
    graph = defs.resolve_asset_graph()
    for source in SOURCES:
        node = graph.get(dg.AssetKey(["raw", source]))
        assert node.partitions_def is not None
        assert node.partitions_def.timezone == "Asia/Shanghai"
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
        assert node.pools == {WAREHOUSE_POOL}
    job = defs.resolve_job_def("nightly")
    in_job = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert in_job >= {f"raw/{s}" for s in SOURCES} | {"kpi/fct_kpi_values", "kpi/dim_kpi_nodes"}
    assert job.tags["dagster/max_retries"] == "2"


def test_dbt_models_are_pooled_partitioned_assets_and_dbt_tests_are_checks(defs):
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey(["kpi", "fct_kpi_values"]))
    assert node.pools == {WAREHOUSE_POOL}
    assert node.backfill_policy == dg.BackfillPolicy.single_run()
    assert node.partitions_def is not None
    # the raw tables are the dbt sources' upstream assets
    assert (
        dg.AssetKey(["raw", "orders"])
        in graph.get(dg.AssetKey(["staging", "stg_shop__orders"])).parent_keys
    )
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("kpi/fct_kpi_values", "assert_tree_identities_hold") in checks
    assert ("kpi/fct_base_measures", "assert_measure_parts_add_up") in checks
    assert len(checks) >= 20


def test_dbt_owns_the_models_invariants_and_the_gates_honour_them(defs):
    """Keys and identities are dbt's tests (blocking: a failure stops the dbt step), one
    per mart and per tree table; each unit has one gate, which holds its unit back while
    any of them stands failed (model_test_keys, read by pipelines/quality/checks.py)."""
    from kpi_tree.model import default_tree
    from kpi_tree.units import gated_table, publication_units, team_units
    from pipelines.quality.checks import GATE_CHECK
    from pipelines.transform.assets import model_test_keys

    graph = defs.resolve_asset_graph()
    tree = default_tree()
    blocking = {
        (key.asset_key.to_user_string(), key.name)
        for key in graph.asset_check_keys
        if graph.get_check_spec(key).blocking and key.name != GATE_CHECK
    }
    # dbt names a generic test <test>_<model>_<arguments>: (model, test) pairs
    owned = {(asset, name.split(f"_{asset.split('/')[1]}")[0]) for asset, name in blocking}
    for unit in team_units(tree):
        assert (f"{unit}/{unit}_kpis", "unique_combination") in owned, unit
    assert ("kpi/fct_kpi_values", "unique_combination") in owned
    assert ("kpi/fct_kpi_values", "assert_tree_identities_hold") in blocking
    assert ("kpi/dim_kpi_nodes", "unique") in owned
    assert {(k.asset_key.to_user_string(), k.name) for k in model_test_keys()} == blocking
    gates = {k.asset_key for k in graph.asset_check_keys if k.name == GATE_CHECK}
    assert gates == {dg.AssetKey(list(gated_table(u))) for u in publication_units(tree)}


def test_dagster_definitions_validate_passes(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "KPI_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "dagster.yaml").write_text((ROOT / "pipelines" / "dagster.yaml").read_text())
    out = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_nightly_schedule_runs_the_previous_business_day_at_0230_shanghai(defs):
    nightly_schedule = defs.resolve_schedule_def("nightly_schedule")
    # 2025-03-15 02:30 in Shanghai is 2025-03-14 18:30 UTC
    tick = dt.datetime(2025, 3, 14, 18, 30, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        result = nightly_schedule.evaluate_tick(ctx)
    assert [r.partition_key for r in result.run_requests] == ["2025-03-14"]
    assert nightly_schedule.cron_schedule == "30 2 * * *"
    assert nightly_schedule.execution_timezone == "Asia/Shanghai"


def _touch(path: Path, text: str = "x", written_ns: int | None = None) -> None:
    """Write ``path``, modified at ``written_ns`` when given (file times advance in ticks of
    a few milliseconds: files written one after the other may share theirs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if written_ns is not None:
        os.utime(path, ns=(written_ns, written_ns))


def test_landing_sensor_requests_one_range_run_per_block_of_new_days(defs, tmp_path):
    landing_sensor = defs.resolve_sensor_def("landing_sensor")
    landing = tmp_path / "data" / "landing"
    _touch(landing / "orders" / "orders_2025-03-01.csv")
    warehouse = Warehouse(data_dir=str(tmp_path / "data"))
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
        first = landing_sensor(ctx)
        assert isinstance(first, dg.SkipReason) and "Started watching 1" in first.skip_message
        cursor = ctx.cursor
        later = int(cursor) + 1_000_000  # landed after the sensor's first look
        for day in ("2025-03-02", "2025-03-03", "2025-03-04", "2025-03-09"):
            _touch(landing / "sessions" / f"sessions_{day}.parquet", written_ns=later)
        _touch(landing / "shipments" / "shipments_2025-03-03.csv", written_ns=later)
        _touch(landing / "orders" / "notes.txt", written_ns=later)  # not a landing file
        ctx = dg.build_sensor_context(
            instance=instance, resources={"warehouse": warehouse}, cursor=cursor
        )
        requests = landing_sensor(ctx)
        got = [
            (
                r.tags.get("dagster/asset_partition_range_start", r.partition_key),
                r.tags.get("dagster/asset_partition_range_end", r.partition_key),
            )
            for r in requests
        ]
        assert got == [("2025-03-02", "2025-03-04"), ("2025-03-09", "2025-03-09")]
        # nothing new since: skip
        ctx = dg.build_sensor_context(
            instance=instance, resources={"warehouse": warehouse}, cursor=ctx.cursor
        )
        assert isinstance(landing_sensor(ctx), dg.SkipReason)


def test_contiguous_ranges():
    d = dt.date
    days = {d(2025, 1, 1), d(2025, 1, 2), d(2025, 1, 5), d(2024, 12, 31)}
    assert contiguous_ranges(days) == [
        (d(2024, 12, 31), d(2025, 1, 2)),
        (d(2025, 1, 5), d(2025, 1, 5)),
    ]


def _rendered_profile(env_values: dict[str, str]) -> dict:
    """profiles.yml's build output as dbt renders it with ``env_values`` in the environment
    (in a context of its own: dbt's environment does not outlive it)."""
    from dbt.config.profile import read_profile
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_DBT_")}
    env.update(env_values)

    def render() -> dict:
        set_invocation_context(env)
        raw = read_profile(str(ROOT / "dbt_project"))["kpi_warehouse"]["outputs"]["build"]
        return ProfileRenderer({}).render_data(raw)

    return contextvars.copy_context().run(render)


def test_dbt_runs_a_short_window_with_two_threads_and_the_warehouse_kept_open():
    """A night (or a catch-up of up to a month) runs two dbt nodes at a time and keeps one
    DuckDB connection for the whole dbt invocation; a longer window (a first build, a backfill)
    runs one node at a time and closes the warehouse between nodes, as dbt run by hand does."""
    from pipelines.transform.assets import SHORT_WINDOW_DAYS, dbt_window_env

    start = dt.date(2025, 1, 1)
    assert SHORT_WINDOW_DAYS == 31
    rendered = {}
    for days in (1, 31, 32, 365):
        end = start + dt.timedelta(days=days - 1)
        profile = _rendered_profile(dbt_window_env(start, end))
        rendered[days] = (profile["threads"], profile["keep_open"])
    assert rendered == {1: (2, True), 31: (2, True), 32: (1, False), 365: (1, False)}
    by_hand = _rendered_profile({})
    assert (by_hand["threads"], by_hand["keep_open"]) == (1, False)


def test_dbt_runs_a_long_window_over_a_small_warehouse_as_a_short_one():
    """A small shop's first build (two years at 200 orders a day: about 2.2 million raw rows)
    runs as a night does; a long window over a large warehouse, or one whose size is not
    known, one node at a time with the warehouse closed between nodes."""
    from pipelines.transform.assets import SMALL_WAREHOUSE_ROWS, dbt_window_env

    start, end = dt.date(2024, 7, 1), dt.date(2026, 6, 30)
    assert SMALL_WAREHOUSE_ROWS == 5_000_000

    def profile(rows: int | None) -> tuple:
        rendered = _rendered_profile(dbt_window_env(start, end, rows))
        return rendered["threads"], rendered["keep_open"]

    assert profile(2_200_000) == (2, True)
    assert profile(5_000_000) == (2, True)
    assert profile(5_000_001) == (1, False)
    assert profile(None) == (1, False)
    # a night stays short whatever the warehouse holds
    night = _rendered_profile(dbt_window_env(end, end, 200_000_000))
    assert (night["threads"], night["keep_open"]) == (2, True)


def test_only_the_newest_dbt_target_folders_of_a_step_are_kept(tmp_path):
    """dagster-dbt leaves a target folder per dbt invocation; after each, the step keeps its
    newest KEPT_INVOCATIONS, and leaves the other step's folders and dbt's own files alone."""
    from pipelines.transform.assets import KEPT_INVOCATIONS, _prune_invocations

    def folder(name: str, age: int) -> Path:
        path = tmp_path / name
        (path / "compiled").mkdir(parents=True)
        (path / "run_results.json").write_text("{}")
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    tree = [folder(f"kpi_tree_dbt-{i:07x}-aaaaaaa", age=1000 - i) for i in range(20)]
    targets = [folder(f"kpi_targets_dbt-{i:07x}-bbbbbbb", age=2000 - i) for i in range(20)]
    (tmp_path / "partial_parse.msgpack").write_bytes(b"x")
    _prune_invocations(tree[-1])
    kept = sorted(p.name for p in tmp_path.glob("kpi_tree_dbt-*"))
    assert kept == sorted(p.name for p in tree[-KEPT_INVOCATIONS:])
    assert all(p.exists() for p in targets)
    assert (tmp_path / "partial_parse.msgpack").exists()
    # a step's own folder stays even when its clock says otherwise
    os.utime(targets[0], (0, 0))
    _prune_invocations(targets[0], keep=3)
    assert sorted(p.name for p in tmp_path.glob("kpi_targets_dbt-*")) == sorted(
        [targets[0].name] + [p.name for p in targets[-3:]]
    )
