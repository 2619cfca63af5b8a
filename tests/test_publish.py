"""Quality gates and publishing, with real files, real runs and real readers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from conftest import Shop

from kpi_tree.model import default_tree
from kpi_tree.units import publication_units
from pipelines.alerts.store import read_alerts
from pipelines.definitions import build_defs
from pipelines.partitions import daily_partitions
from pipelines.publish.serving import assemble_serving, file_stamp, published_dir, serving_db
from pipelines.runner import range_tags, run_nightly

UNITS = publication_units(default_tree())


def copy_of(shop: Shop, tmp_path: Path) -> Shop:
    target = tmp_path / "data"
    shutil.copytree(shop.data_dir, target, symlinks=True)
    copy = Shop(target, shop.manifest, shop.start, shop.end)
    assemble_serving(copy.settings)  # its views name the original's Parquet: as after a move
    return copy


def published_shop_run(shop: Shop) -> str:
    """The run that published the shop (its only night)."""
    return json.loads((published_dir(shop.settings) / "current" / "night.json").read_text())[
        "run_id"
    ]


def serving(shop: Shop) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(serving_db(shop.settings)), read_only=True)


def latest_log(con) -> dict[str, tuple]:
    rows = con.execute(
        "select unit, status, run_id, failed_expectations, data_as_of from publication_log "
        "order by published_at"
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_clean_shop_publishes_every_unit_with_traceable_rows(published_shop):
    with serving(published_shop) as con:
        log = latest_log(con)
        assert set(log) == set(UNITS)
        assert {status for status, *_ in log.values()} == {"published"}
        run_ids = {run for _, run, *_ in log.values()}
        traced = con.execute(
            "select distinct _published_run_id from marketing.marketing_kpis "
            "union select distinct _published_run_id from kpi_tree.kpi_values"
        ).fetchall()
        n_values = con.execute("select count(*) from kpi_tree.kpi_values").fetchall()[0][0]
        as_of = {r[3] for r in log.values()}
    assert {r[0] for r in traced} <= run_ids
    assert as_of == {published_shop.end}
    with published_shop.connect() as build:
        assert n_values == build.execute("select count(*) from kpi.fct_kpi_values").fetchall()[0][0]
    parquet = published_dir(published_shop.settings) / "marketing" / "marketing_kpis.parquet"
    assert duckdb.sql(f"select count(*) from '{parquet}'").fetchall()[0][0] > 0


def test_a_fault_in_one_team_holds_back_only_that_team(published_shop, tmp_path):
    shop = copy_of(published_shop, tmp_path)
    marketing_parquet = {
        p.name: p.read_bytes()
        for p in (published_dir(shop.settings) / "marketing").glob("*.parquet")
    }
    with serving(shop) as con:
        before = con.execute("select * from marketing.marketing_kpis order by all").fetchall()
    before_night = (published_dir(shop.settings) / "current").resolve()
    before_file = file_stamp(serving_db(shop.settings))
    # a fault that passed ingestion (clicks above impressions) reaches marketing's tables
    with duckdb.connect(str(shop.settings.build_db)) as build:
        build.execute(
            "update raw.ad_spend set clicks = impressions + 50 where date = ? and campaign = "
            "(select min(campaign) from raw.ad_spend where date = ?)",
            [shop.end, shop.end],
        )
    defs = build_defs(shop.data_dir)
    keys = [
        k
        for k in defs.resolve_job_def("nightly").asset_layer.executable_asset_keys
        if k.path[0] != "raw"
    ]  # keep the tampered raw table: no re-ingestion
    with dg.DagsterInstance.ephemeral() as instance:
        # as `kpi run` runs it: no asset events (the instance ends with the run)
        outcome = run_nightly(
            defs,
            shop.end,
            shop.end,
            instance,
            log_level="CRITICAL",
            asset_selection=keys,
            asset_events=False,
        )
        events = [e.dagster_event for e in instance.all_logs(outcome.run_id) if e.dagster_event]
    # no materialization written, planned or done; the gates' verdicts still recorded
    kinds = dg.DagsterEventType
    materialized = (kinds.ASSET_MATERIALIZATION, kinds.ASSET_MATERIALIZATION_PLANNED)
    assert not [e for e in events if e.event_type in materialized]
    judged = {
        e.asset_check_evaluation_data.asset_key.path[-1]
        for e in events
        if e.event_type == kinds.ASSET_CHECK_EVALUATION
    }
    assert {"marketing_kpis", "operations_kpis"} <= judged
    with serving(shop) as con:
        log = latest_log(con)
        after = con.execute("select * from marketing.marketing_kpis order by all").fetchall()
        fresh = con.execute(
            "select distinct _published_run_id from operations.operations_kpis"
        ).fetchall()
    status, run_id, failed, _ = log["marketing"]
    assert status == "held_back" and run_id == outcome.run_id
    # the night's tables are the last one's: it went live with its folder, in the same file
    assert file_stamp(serving_db(shop.settings)) == before_file
    assert any("ctr__numerator <= ctr__denominator" in f for f in failed), failed
    assert after == before
    assert {
        p.name: p.read_bytes()
        for p in (published_dir(shop.settings) / "marketing").glob("*.parquet")
    } == marketing_parquet
    for unit in set(UNITS) - {"marketing"}:
        assert log[unit][:2] == ("published", outcome.run_id), unit
    assert fresh == [(outcome.run_id,)]
    # one new night for all: marketing's last good files are in it (the very same files),
    # the others are the run's
    root = published_dir(shop.settings)
    night = (root / "current").resolve()
    assert night != before_night and night.parent == before_night.parent
    for table in marketing_parquet:
        assert (night / "marketing" / table).samefile(before_night / "marketing" / table)
    record = json.loads((night / "night.json").read_text())
    assert record["units"]["marketing"]["run_id"] == published_shop_run(published_shop)
    assert {u for u, r in record["units"].items() if r["run_id"] == outcome.run_id} == set(
        UNITS
    ) - {"marketing"}
    # the run says so, and is not a failure
    assert outcome.held_back == ["marketing"] and outcome.ok and not outcome.success
    # the team is told, on its channels (the default file sink), and gets no metric alerts
    raised = [a for a in read_alerts(shop.settings) if a["run_id"] == outcome.run_id]
    (notice,) = [a for a in raised if a["team"] == "marketing"]
    assert notice["kind"] == "held_back" and notice["day"] == shop.end.isoformat()
    assert notice["delivery_status"] == "delivered"
    outbox = shop.data_dir / "alerts" / "outbox.jsonl"
    sent = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    assert notice["alert_id"] in {m["alert_id"] for m in sent}
    with serving(shop) as con:
        served = con.execute(
            "select kind from main.alerts where run_id = ? and team = 'marketing'",
            [outcome.run_id],
        ).fetchall()
    assert served == [("held_back",)]


def test_a_failed_dbt_test_of_the_model_stops_every_publication(published_shop, tmp_path):
    """dbt's tests own the model's invariants (the gates do not check them again), so a failed
    one must stop publication by itself: it fails the dbt step, and no gate, publish or alert
    step after it runs (nothing published, nothing logged, the serving file as it was). A
    later run of the gates and the publication without dbt, on the same data, holds every unit
    back on dbt's standing failure."""
    shop = copy_of(published_shop, tmp_path)
    before = serving_db(shop.settings).read_bytes()

    def published_files() -> dict:  # the units' (main's tables are the log and the alerts)
        root = published_dir(shop.settings)
        return {
            p.relative_to(root): p.read_bytes()
            for p in root.rglob("*.parquet")
            if p.relative_to(root).parts[0] != "_main"
        }

    parquet = published_files()
    log_before = (published_dir(shop.settings) / "_publication_log.jsonl").read_text()
    # an order of the newest day in a channel the model does not know (accepted_values on
    # stg_shop__orders.channel); ingestion would have quarantined it, so no re-ingestion
    with duckdb.connect(str(shop.settings.build_db)) as build:
        build.execute(
            "update raw.orders set channel = 'carrier_pigeon' where _partition_date = ? and "
            "order_id = (select min(order_id) from raw.orders where _partition_date = ?)",
            [shop.end, shop.end],
        )
    gates = [
        k
        for k in build_defs(shop.data_dir).resolve_asset_graph().asset_check_keys
        if k.name == "gx_gate"
    ]
    publication = dg.define_asset_job(
        "publication",
        selection=dg.AssetSelection.checks(*gates) | dg.AssetSelection.groups("publish", "alerts"),
        partitions_def=daily_partitions(shop.settings),
    )
    defs = dg.Definitions.merge(build_defs(shop.data_dir), dg.Definitions(jobs=[publication]))
    night = defs.resolve_job_def("nightly")
    keys = [k for k in night.asset_layer.executable_asset_keys if k.path[0] != "raw"]
    run_config = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        result = night.execute_in_process(
            instance=instance,
            asset_selection=keys,
            tags=range_tags(shop.end, shop.end),
            run_config=run_config,
            raise_on_error=False,
        )
        assert not result.success
        failed = {
            (e.asset_key.to_user_string(), e.check_name)
            for e in result.get_asset_check_evaluations()
            if not e.passed
        }
        # the one failure is dbt's test of the channel, not anything after it
        ((asset, check),) = failed
        assert asset == "staging/stg_shop__orders" and check.startswith("kpi_accepted_members_")
        ran = {e.step_key for e in result.all_events if e.is_step_start}
        assert not [s for s in ran if s.startswith(("publish", "alerts")) or "gx_gate" in s]
        materialized = {e.asset_key.path[0] for e in result.get_asset_materialization_events()}
        assert not materialized & {"publish", "alerts"}
        assert serving_db(shop.settings).read_bytes() == before
        assert published_files() == parquet
        log = published_dir(shop.settings) / "_publication_log.jsonl"
        assert log.read_text() == log_before

        # the gates and the publication alone: the marts still hold the last good build, so
        # the suites pass, but dbt's failure stands
        again = defs.resolve_job_def("publication").execute_in_process(
            instance=instance,
            tags=range_tags(shop.end, shop.end),
            run_config=run_config,
            raise_on_error=False,
        )
    assert again.success
    entries = [
        json.loads(line) for line in log.read_text().splitlines()[len(log_before.splitlines()) :]
    ]
    assert {e["unit"]: e["status"] for e in entries} == dict.fromkeys(UNITS, "held_back")
    for entry in entries:
        assert entry["run_id"] == again.run_id
        assert entry["failed_expectations"][0].startswith(f"dbt test {check} on {asset}")
    assert published_files() == parquet


def test_a_rebuild_keeps_the_tables_other_steps_keep_in_the_serving_file(published_shop, tmp_path):
    """main.alerts is the alerts step's: written through the publish API (a ServedTable),
    kept by every rebuild, carried over from a serving file of the earlier layout (tables,
    not views), and described, with its columns, in the dictionary and the file's comments."""
    from pipelines.publish.serving import ServedTable, assemble_serving, main_dir, newest

    shop = copy_of(published_shop, tmp_path)
    settings = shop.settings
    with serving(shop) as con:
        alerts = con.execute("select * from main.alerts order by all").fetchall()
    assert alerts  # the clean shop's night raised some
    # a live file of the earlier layout, and no main folder yet: as an upgrade finds them
    history = newest(main_dir(published_shop.settings) / "alerts", ".parquet")
    shutil.rmtree(main_dir(settings))
    path = serving_db(settings)
    path.unlink()
    with duckdb.connect(str(path)) as con:
        con.execute("create table main._serving_units (unit varchar, version varchar)")
        con.execute("create table main.alerts as select * from read_parquet(?)", [str(history)])
        con.execute("comment on table main.alerts is 'The alerts, as the old file said.'")
    assemble_serving(settings)
    with serving(shop) as con:
        assert con.execute("select * from main.alerts order by all").fetchall() == alerts
        assert con.execute(
            "select comment from duckdb_views() where view_name = 'alerts'"
        ).fetchall() == [("The alerts, as the old file said.",)]
        assert not con.execute(
            "select * from duckdb_tables() where table_name = '_serving_units'"
        ).fetchall()
    other = ServedTable(
        "notes",
        [("day", "date"), ("note", "varchar")],
        [[shop.end, "it's fine"]],
        "Notes' text.",
        {"day": "The day noted.", "note": "What was noted."},
    )
    assemble_serving(settings, tables=[other])
    assemble_serving(settings)  # a later rebuild without it keeps it
    with serving(shop) as con:
        assert con.execute("select * from main.notes").fetchall() == [(shop.end, "it's fine")]
        assert con.execute("select * from main.alerts order by all").fetchall() == alerts
        described = dict(
            con.execute(
                "select table_name, description from kpi_tree.data_dictionary "
                "where schema_name = 'main' and column_name = ''"
            ).fetchall()
        )
        comments = dict(
            con.execute(
                "select column_name, comment from duckdb_columns() where table_name = 'notes'"
            ).fetchall()
        )
    assert described["notes"] == "Notes' text."
    assert set(described) == {"publication_log", "alerts", "notes"}
    assert comments == {"day": "The day noted.", "note": "What was noted."}
    with pytest.raises(ValueError, match="publication_log is written by the publish step"):
        assemble_serving(settings, tables=[ServedTable("publication_log", [], [], "")])


def test_the_serving_file_is_built_again_only_when_its_views_would_change(published_shop, tmp_path):
    """Its views read the newest night and main's newest versions when a query starts: new
    numbers need no new file (the board's stamp still changes); a new table, a file someone
    wrote, a foreign WAL beside it, or ``--rebuild`` (force) get one."""
    from pipelines.publish.serving import LogEntry, ServedTable, append_log, served_stamp

    shop = copy_of(published_shop, tmp_path)
    settings = shop.settings
    path = serving_db(settings)
    built, shown = file_stamp(path), served_stamp(settings)
    entry = LogEntry("management", "a-later-run", "held_back", "2025-04-10T00:00:00", "", "")
    append_log(settings, entry)
    assemble_serving(settings)
    assert file_stamp(path) == built  # the same file ...
    assert served_stamp(settings) != shown  # ... serving something new
    with serving(shop) as con:
        runs = {r for (r,) in con.execute("select run_id from main.publication_log").fetchall()}
    assert "a-later-run" in runs

    notes = ServedTable("notes", [("note", "varchar")], [["hello"]], "Notes.", {})
    assemble_serving(settings, tables=[notes])
    assert file_stamp(path) != built
    with serving(shop) as con:
        assert con.execute("select note from main.notes").fetchall() == [("hello",)]

    built = file_stamp(path)
    assemble_serving(settings, force=True)
    assert file_stamp(path) != built

    built = file_stamp(path)
    with duckdb.connect(str(path)) as con:  # a BI tool that wrote into it
        con.execute("create table main.scratch as select 1 as x")
    assemble_serving(settings)
    assert file_stamp(path) != built
    with serving(shop) as con:
        assert not con.execute(
            "select * from duckdb_tables() where table_name = 'scratch'"
        ).fetchall()

    built = file_stamp(path)
    with duckdb.connect(str(path)) as con:  # one that left its WAL beside it
        con.execute("pragma disable_checkpoint_on_shutdown")
        con.execute("create table main.scratch as select 1 as x")
    assert (path.parent / f"{path.name}.wal").exists()
    assemble_serving(settings)
    assert file_stamp(path) != built
    assert not (path.parent / f"{path.name}.wal").exists()  # set aside: the new file opens
    with serving(shop) as con:
        assert not con.execute(
            "select * from duckdb_tables() where table_name = 'scratch'"
        ).fetchall()
        assert con.execute("select note from main.notes").fetchall() == [("hello",)]


KILLED = r"""
import sys
from pipelines.settings import load_settings
from pipelines.publish.serving import assemble_serving
settings = load_settings(sys.argv[1])
while True:
    assemble_serving(settings, force=True)  # built every time, even when nothing changed
"""


def test_a_publish_killed_midway_leaves_the_previous_file_intact(published_shop, tmp_path):
    shop = copy_of(published_shop, tmp_path)
    path = serving_db(shop.settings)
    with serving(shop) as con:
        expected = con.execute("select count(*) from marketing.marketing_kpis").fetchall()
    killed_midway = False
    for _ in range(10):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED, str(shop.data_dir)],
            cwd=Path(__file__).resolve().parent.parent,
        )
        deadline = time.time() + 60
        while time.time() < deadline and not list(path.parent.glob(".kpi.duckdb.*.tmp")):
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if list(path.parent.glob(".kpi.duckdb.*.tmp")):
            killed_midway = True
            break
    assert killed_midway, "never caught the publish midway"
    with serving(shop) as con:  # the live file opens and holds the previous snapshot
        assert con.execute("select count(*) from marketing.marketing_kpis").fetchall() == expected
        assert con.execute("select count(*) from publication_log").fetchall()[0][0] >= len(UNITS)


def test_superset_style_sqlalchemy_read(published_shop):
    import sqlalchemy  # with duckdb-engine, as Superset connects

    path = serving_db(published_shop.settings)
    engine = sqlalchemy.create_engine(f"duckdb:///{path}", connect_args={"read_only": True})
    with engine.connect() as conn:
        rows = conn.execute(
            sqlalchemy.text(
                "select period_start, sessions from marketing.marketing_kpis "
                "where grain = 'month' and dimension = 'total' order by period_start"
            )
        ).fetchall()
    engine.dispose()
    with published_shop.connect() as build:
        want = build.execute(
            "select period_start, value from kpi.fct_kpi_values where kpi_id = 'sessions' "
            "and grain = 'month' and dimension = 'total' order by period_start"
        ).fetchall()
    assert [(r[0], r[1]) for r in rows] == want


def test_every_published_column_is_in_the_generated_dictionary(published_shop):
    with serving(published_shop) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema in ('marketing', 'operations', 'service', 'logistics', "
            "'management', 'kpi_tree') and table_name <> 'data_dictionary'"
        ).fetchall()
        documented = {
            (s, t, c)
            for s, t, c in con.execute(
                "select schema_name, table_name, column_name from kpi_tree.data_dictionary"
            ).fetchall()
        }
        kpi_doc = con.execute(
            "select description from kpi_tree.data_dictionary "
            "where table_name = 'marketing_kpis' and column_name = 'ctr'"
        ).fetchall()
    missing = [
        col for col in columns if col not in documented and ("*", "*", col[2]) not in documented
    ]
    assert columns and missing == []
    assert kpi_doc == [
        (
            "Ad click-through rate (广告点击率), ratio, owned by Marketing, higher is better: "
            "Σ ad clicks / Σ impressions.",
        )
    ]


def test_publish_reads_the_verdict_itself_and_refuses_one_from_another_run(
    published_shop, tmp_path
):
    shop = copy_of(published_shop, tmp_path)
    before = serving_db(shop.settings).read_bytes()
    with dg.DagsterInstance.ephemeral() as instance:
        # the publish asset alone: its gate does not run in this run
        outcome = run_nightly(
            build_defs(shop.data_dir),
            shop.end,
            shop.end,
            instance,
            log_level="CRITICAL",
            asset_selection=[dg.AssetKey(["publish", "marketing"])],
        )
    assert not outcome.ok
    assert "marketing not published: the verdict is from run" in outcome.error
    assert serving_db(shop.settings).read_bytes() == before


def test_the_generators_missing_day_is_caught_at_the_gate(built_shop):
    """Of the generator's faults, a missing day is the one that reaches a team's tables
    (bad rows are quarantined, a resent file is skipped, late updates restate)."""
    missing = next(f for f in built_shop.manifest["file_faults"] if f["fault"] == "missing_day")
    assert missing["source"] == "sessions"
    with serving(built_shop) as con:
        log = latest_log(con)
    status, _, failed, _ = log["marketing"]
    assert status == "held_back"
    # held back by the gaps check (the day is unknown, never 0) until repaired or accepted
    assert any(f.startswith("expect_column_values_to_be_null on gaps.unaccepted") for f in failed)
    # conversion needs sessions too: operations is held back, the rest publish
    assert log["operations"][0] == "held_back"
    assert {u for u, (s, *_) in log.items() if s == "published"} == {
        "service",
        "logistics",
        "management",
        "kpi_tree",
    }
