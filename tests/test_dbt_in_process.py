"""dbt run in the Dagster process (pipelines/transform/in_process.py, a fast path of
pipelines/fastpaths.py) behaves as the `dbt` subprocess dagster-dbt would start: the same
events, the warehouse let go. Its exit codes and run results against the subprocess's:
tests/test_fastpaths.py."""

from __future__ import annotations

import os

import duckdb

from pipelines.transform.assets import KpiDbtCliResource, dbt_window_env
from pipelines.transform.in_process import InProcessDbt, environment_set
from pipelines.transform.project import dbt_executable, dbt_project


def _dbt_environment(shop) -> dict[str, str]:
    day = shop.end
    return {
        "KPI_BUILD_DB": str(shop.settings.build_db),
        "KPI_WINDOW_START": day.isoformat(),
        "KPI_WINDOW_END": day.isoformat(),
        **dbt_window_env(day, day),  # the warehouse kept open, as on a night
    }


def test_dbt_in_process_builds_streams_its_events_and_lets_go_of_the_warehouse(
    shop_copy, tmp_path, monkeypatch
):
    monkeypatch.setenv("KPI_FASTPATHS", "1")
    dbt = KpiDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())
    build_db = shop_copy.settings.build_db
    with duckdb.connect(str(build_db)) as con:
        con.execute("delete from staging.stg_shop__orders where delivered_on = ?", [shop_copy.end])
        expected = con.execute(
            "select count(*) from raw.orders where _partition_date = ?", [shop_copy.end]
        ).fetchone()[0]
    assert expected > 0
    assert "DBT_TARGET_PATH" not in os.environ
    with environment_set(_dbt_environment(shop_copy)):
        invocation = dbt.cli(
            ["build", "--select", "stg_shop__orders"], target_path=tmp_path / "target"
        )
        events = list(invocation.stream_raw_events())
    assert isinstance(invocation.process, InProcessDbt)  # no `dbt` process was started
    assert invocation.is_successful()
    # dbt's result lines, as dagster-dbt turns them into materializations and check results
    results = {
        e.raw_event["data"]["node_info"]["unique_id"]: e.raw_event["data"]["node_info"][
            "node_status"
        ]
        for e in events
        if e.is_result_event
    }
    assert results.pop("model.kpi_warehouse.stg_shop__orders") == "success"
    assert results and set(results.values()) == {"pass"}  # its tests
    assert (tmp_path / "target" / "run_results.json").exists()
    # dagster-dbt's variables were this process's only while dbt ran
    assert "DBT_TARGET_PATH" not in os.environ
    # the warehouse is let go: a read-only connection in this process (other settings than
    # dbt's) opens it, and sees the night's orders rebuilt
    with duckdb.connect(str(build_db), read_only=True) as con:
        got = con.execute(
            "select count(*) from staging.stg_shop__orders where delivered_on = ?",
            [shop_copy.end],
        ).fetchone()[0]
    assert got == expected
