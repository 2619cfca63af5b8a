"""Ingestion end to end: generated files with injected faults through real Dagster runs."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter

import dagster as dg
from conftest import make_shop
from polars.testing import assert_frame_equal

from kpi_tree.model import default_tree
from kpi_tree.units import publication_units
from pipelines.definitions import build_defs
from pipelines.ingest.contracts import SOURCES
from pipelines.ingest.validate import read_raw
from pipelines.runner import run_nightly
from pipelines.settings import load_settings

RAW_COMPARE = "select * exclude (_loaded_at, _run_id) from raw.{source} order by _file, _row"


def test_every_injected_bad_row_is_quarantined_and_nothing_else(built_shop):
    row_faults = built_shop.manifest["row_faults"]
    assert {f["fault"] for f in row_faults} >= {
        "missing_value",
        "bad_type",
        "negative_amount",
        "unknown_category",
        "duplicate_key",
        "clicks_over_impressions",
        "time_travel",
        "out_of_range",
        "amount_mismatch",
    }
    with built_shop.connect() as con:
        quarantined = con.execute(
            "select distinct source, file, row_number from raw._quarantine"
        ).fetchall()
        reasons = con.execute(
            "select file, row_number, column_name from raw._quarantine"
        ).fetchall()
    injected = {(f["source"], f["file"], f["row"]) for f in row_faults}
    assert set(quarantined) == injected
    # per kind: as many quarantined rows as injected, each under the column the fault broke
    assert Counter(s for s, _, _ in quarantined) == Counter(f["source"] for f in row_faults)
    by_row = {(file, row): col for file, row, col in reasons}
    for fault in row_faults:
        assert by_row[(fault["file"], fault["row"])] == fault["column"], fault


def test_the_rest_of_each_file_loads(built_shop):
    bad_per_file = Counter(f["file"] for f in built_shop.manifest["row_faults"])
    copies = set(built_shop.manifest["expected"]["duplicate_files"])
    with built_shop.connect() as con:
        loaded = dict(
            con.execute(
                "select file, rows_loaded from raw._file_ledger where status = 'loaded'"
            ).fetchall()
        )
        for source in SOURCES:
            in_table = dict(
                con.execute(f"select _file, count(*) from raw.{source} group by _file").fetchall()
            )
            for file, n in in_table.items():
                assert loaded[file] == n
    for path in sorted(built_shop.landing.rglob("*.*")):
        rel = path.relative_to(built_shop.landing).as_posix()
        if path.name.startswith("_") or rel in copies:
            continue
        assert loaded[rel] == read_raw(path).height - bad_per_file[rel], rel


def test_file_delivered_twice_is_counted_once(built_shop):
    dup = next(f for f in built_shop.manifest["file_faults"] if f["fault"] == "duplicate_file")
    with built_shop.connect() as con:
        ledger = dict(
            con.execute(
                "select file, status from raw._file_ledger where file in (?, ?)",
                [dup["file"], dup["copy"]],
            ).fetchall()
        )
        source = dup["source"]
        from_copy = con.execute(
            f"select count(*) from raw.{source} where _file = ?", [dup["copy"]]
        ).fetchall()[0][0]
        key = {"orders": "order_id", "conversations": "conversation_id"}.get(source)
        dupes = (
            con.execute(f"select count(*) - count(distinct {key}) from raw.{source}").fetchall()[0][
                0
            ]
            if key
            else 0
        )
    assert ledger == {dup["file"]: "loaded", dup["copy"]: "duplicate"}
    assert from_copy == 0
    assert dupes == 0


def test_missing_day_is_reported_not_fatal(built_shop):
    missing = next(f for f in built_shop.manifest["file_faults"] if f["fault"] == "missing_day")
    with built_shop.connect() as con:
        n = con.execute(
            f"select count(*) from raw.{missing['source']} where _partition_date = ?",
            [dt.date.fromisoformat(missing["date"])],
        ).fetchall()[0][0]
    assert n == 0


def test_rerunning_a_day_gives_identical_raw_tables(shop_copy):
    day = shop_copy.start + dt.timedelta(days=20)
    with shop_copy.connect() as con:
        before = {s: con.execute(RAW_COMPARE.format(source=s)).fetchall() for s in SOURCES}
        quarantine = con.execute(
            "select * exclude (loaded_at, run_id) from raw._quarantine order by all"
        ).fetchall()
    outcome = shop_copy.run(day, day)
    assert outcome.ok, outcome.error
    with shop_copy.connect() as con:
        after = {s: con.execute(RAW_COMPARE.format(source=s)).fetchall() for s in SOURCES}
        assert (
            quarantine
            == con.execute(
                "select * exclude (loaded_at, run_id) from raw._quarantine order by all"
            ).fetchall()
        )
        reloaded = con.execute(
            "select count(*) from raw.orders where _partition_date = ? and _run_id = ?",
            [day, outcome.run_id],
        ).fetchall()[0][0]
    assert reloaded > 0  # the day really was loaded again, by this run
    for source in SOURCES:
        assert after[source] == before[source], source


def test_timestamps_become_business_days_in_shanghai(built_shop):
    with built_shop.connect() as con:
        rows = con.execute(
            "select created_at, business_date from raw.orders where hour(created_at) >= 16 limit 50"
        ).fetchall()
        conv = con.execute(
            "select started_at, business_date from raw.conversations "
            "where hour(started_at) >= 16 limit 50"
        ).fetchall()
    assert rows and conv
    # 16:00 UTC and later is the next day in Shanghai (UTC+8)
    for ts, day in rows + conv:
        assert day == ts.date() + dt.timedelta(days=1)


def test_threshold_refuses_the_file_and_holds_back_its_units(tmp_path, monkeypatch):
    shop = make_shop(
        tmp_path,
        start=dt.date(2025, 3, 3),
        days=3,
        orders_per_day=40,
        faults={"unknown_category": 6},
    )
    config = tmp_path / "kpi.yaml"
    config.write_text(json.dumps({"bad_row_threshold": 0.01}))
    monkeypatch.setenv("KPI_CONFIG", str(config))
    with dg.instance_for_test() as instance:
        outcome = run_nightly(
            build_defs(shop.data_dir), shop.start, shop.end, instance, log_level="CRITICAL"
        )
    # the file is refused, not the night: every unit reads orders, so every one is held back
    assert outcome.exit_code == 1 and outcome.error is None
    assert outcome.held_back == sorted(publication_units(default_tree()))
    faulty = {f["file"] for f in shop.manifest["row_faults"]}
    refused_files = {r["file"] for r in outcome.refused}
    assert {f for f in faulty if f.startswith("orders/")} <= refused_files <= faulty
    assert {r["rule"] for r in outcome.refused} == {"bad_rows"}
    bad = shop.manifest["row_faults"][0]
    (refused,) = [r for r in outcome.refused if r["file"] == bad["file"]]
    msg = refused["message"]
    assert bad["file"] in msg
    assert "rows are bad" in msg and "> threshold 1.0%" in msg and "Top reasons" in msg
    assert f"{bad['column']}: isin(" in msg


def test_schema_mismatch_names_file_and_column(tmp_path):
    shop = make_shop(
        tmp_path, start=dt.date(2025, 3, 3), days=2, orders_per_day=40, faults={"missing_column": 1}
    )
    fault = shop.manifest["schema_faults"][0]
    with dg.instance_for_test() as instance:
        outcome = run_nightly(
            build_defs(shop.data_dir), shop.start, shop.end, instance, log_level="CRITICAL"
        )
    assert outcome.exit_code == 1
    (refused,) = outcome.refused
    assert refused["file"] == fault["file"] and refused["rule"] == "schema"
    assert f"{fault['file']}: column '{fault['column']}' is missing" in refused["message"]


def test_csv_parquet_and_jsonl_give_the_same_typed_rows(tmp_path):
    from pipelines.ingest.validate import validate_file
    from sample_shop.generator import generate_shop

    day = dt.date(2025, 3, 3)
    settings = load_settings(tmp_path)
    typed = {}
    for fmt in ("csv", "parquet", "jsonl"):
        landing = tmp_path / fmt
        generate_shop(landing, day, 1, orders_per_day=30, seed=5, formats=fmt)
        for source in SOURCES:
            path = next((landing / source).glob(f"*.{fmt}"))
            checked = validate_file(path, source, settings.source(source), "Asia/Shanghai")
            assert checked.bad.height == 0, (fmt, source, checked.bad)
            typed[(fmt, source)] = checked.good
    for source in SOURCES:
        csv = typed[("csv", source)]
        assert csv.height > 0, source
        for fmt in ("parquet", "jsonl"):
            assert_frame_equal(typed[(fmt, source)], csv)


def _cut_run(tmp_path, cut, source="orders"):
    """Three days of a shop, the middle day's file of ``source`` cut by ``cut`` (its bytes ->
    the bytes left), run through that source's ingestion: the outcome, the file, its bytes
    whole, the raw rows per day and the rows each day's file holds."""
    import duckdb

    shop = make_shop(tmp_path, start=dt.date(2025, 3, 3), days=3, orders_per_day=40)
    day = shop.start + dt.timedelta(days=1)
    folder = shop.data_dir / "landing" / source
    path = next(folder.glob(f"*{day}*.csv"))
    whole = path.read_bytes()
    path.write_bytes(cut(whole))
    with dg.DagsterInstance.ephemeral() as instance:
        outcome = run_nightly(
            build_defs(shop.data_dir),
            shop.start,
            shop.end,
            instance,
            asset_selection=[dg.AssetKey(["raw", source])],
            log_level="CRITICAL",
        )
    with duckdb.connect(str(load_settings(shop.data_dir).build_db), read_only=True) as con:
        days = dict(
            con.execute(f"select _partition_date, count(*) from raw.{source} group by 1").fetchall()
        )
    # what each day's file holds, counted apart from the run (the cut day's as delivered whole)
    held = {
        d: read_raw(next(folder.glob(f"*{d}*.csv"))).height for d in (shop.start, day, shop.end)
    }
    held[day] = whole.rstrip(b"\r\n").count(b"\n")
    return outcome, path.relative_to(shop.data_dir / "landing").as_posix(), whole, days, held


def test_a_file_cut_mid_row_is_refused_naming_the_file_and_line(tmp_path):
    """A file that ends mid-row (cut in transfer) loads nothing of its day: it is refused,
    naming the file and its last line; the day before it stays loaded."""

    def mid_row(data: bytes) -> bytes:
        lines = data.split(b"\n")
        return b"\n".join(lines[:20]) + b"\n" + lines[20][: len(lines[20]) // 2]

    outcome, file, _whole, days, held = _cut_run(tmp_path, mid_row)
    assert outcome.exit_code == 1
    (refused,) = outcome.refused
    assert refused["file"] == file and refused["rule"] == "cut"
    assert f"{file}: the file ends mid-row: its last line, line 21," in refused["message"]
    cut = sorted(held)[1]
    # the days before and after it, whole; nothing of the cut day
    assert days == {d: n for d, n in held.items() if d != cut}


def test_a_file_cut_inside_its_last_number_does_not_load(tmp_path):
    """`61.0` for `61.08`: the last line still parses (ad spend, its last column an amount
    with no rule to catch it), but it has no line break at its end: refused, not loaded with
    a wrong amount."""
    outcome, file, whole, days, held = _cut_run(
        tmp_path, lambda data: data.rstrip(b"\r\n")[:-1], source="ad_spend"
    )
    assert re.search(rb",\d+\.\d\d$", whole.rstrip(b"\r\n"))  # it ended in an amount
    assert outcome.exit_code == 1
    (refused,) = outcome.refused
    lines = whole.rstrip(b"\r\n").count(b"\n") + 1
    assert f"{file}: the file ends mid-row: its last line, line {lines}," in refused["message"]
    cut = sorted(held)[1]
    assert days == {d: n for d, n in held.items() if d != cut}


def test_a_whole_file_with_crlf_line_breaks_loads(tmp_path):
    """Line breaks written as CRLF end a whole file as well as LF: nothing is refused."""
    outcome, _file, _whole, days, held = _cut_run(
        tmp_path, lambda data: data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    )
    assert outcome.success, outcome.error
    assert days == held


def test_kpi_check_names_a_cut_file_and_its_line(tmp_path):
    import os
    import subprocess
    import sys

    path = tmp_path / "ad_spend_2025-03-04.csv"
    path.write_text(
        "date,channel,campaign,impressions,clicks,spend\n"
        "2025-03-04,social,x,367,9,11.81\n"
        "2025-03-04,social,y,367,9,61.0"
    )
    env = {**os.environ, "KPI_DATA_DIR": str(tmp_path), "KPI_LOCALE": "en_US", "COLUMNS": "200"}
    env.pop("KPI_CONFIG", None)
    out = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "check", "ad_spend", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "ends mid-row: its last line, line 3," in out.stdout
    path.write_text(path.read_text() + "8\n")  # delivered again whole
    again = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "check", "ad_spend", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout + again.stderr
