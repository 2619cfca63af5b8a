"""The landing folder: compressed deliveries read, empty files flagged, what is not read named,
an encoding error located (real files, a real build warehouse; `kpi run` in one test)."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import duckdb
import polars as pl
import pytest
from conftest import kpi

from pipelines.ingest.contracts import SOURCES
from pipelines.ingest.landing import Stray, stray_files
from pipelines.ingest.load import ensure_tables, load_day
from pipelines.ingest.validate import SchemaMismatch, validate_file
from pipelines.settings import load_settings
from sample_shop.generator import generate_shop

ORDERS_HEADER = "order_id,customer_id,created_at,channel,campaign,payment_method,amount,reviewed_at"
FOLDERS = ["ad_spend", "conversations", "order_items", "orders", "sessions", "shipments"]


def _settings(tmp_path, monkeypatch, **extra):
    config = tmp_path / "kpi.yaml"
    config.write_text(json.dumps(extra))
    monkeypatch.setenv("KPI_CONFIG", str(config))
    return load_settings(tmp_path / "data")


def _orders(day: dt.date, n: int, prefix: str) -> bytes:
    rows = "".join(
        f"{prefix}{i},c{i},{day}T01:{i:02d}:00Z,organic,,prepaid,{i}.5,\n" for i in range(1, n + 1)
    )
    return f"{ORDERS_HEADER}\n{rows}".encode()


def _zipped(name: str, members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for member, data in members.items():
            z.writestr(member, data)
    return buf.getvalue()


def test_compressed_files_load_what_they_hold_and_count_once_with_a_plain_copy(
    tmp_path, monkeypatch
):
    settings = _settings(tmp_path, monkeypatch)
    folder = settings.landing_dir / "orders"
    folder.mkdir(parents=True)
    d15, d16, d17 = dt.date(2025, 3, 15), dt.date(2025, 3, 16), dt.date(2025, 3, 17)
    first, second = _orders(d15, 12, "a"), _orders(d16, 7, "b")
    (folder / "orders_2025-03-15.csv.gz").write_bytes(gzip.compress(first))
    (folder / "orders_2025-03-16.zip").write_bytes(
        _zipped("x", {"export/orders_2025-03-16.csv": second})
    )
    (folder / "orders_2025-03-17_resend.csv").write_bytes(first)  # the 15th's, plain
    con = duckdb.connect(str(tmp_path / "b.duckdb"))
    ensure_tables(con, SOURCES)
    results = [load_day(con, settings, "orders", d) for d in (d15, d16, d17)]
    assert [[f.status for f in r.files] for r in results] == [["loaded"], ["loaded"], ["duplicate"]]
    assert results[2].files[0].duplicate_of == "orders/orders_2025-03-15.csv.gz"
    rows = dict(
        con.execute("select _partition_date, count(*) from raw.orders group by 1").fetchall()
    )
    assert rows == {d15: 12, d16: 7}
    amounts = con.execute(
        "select sum(amount) from raw.orders where _partition_date = ?", [d15]
    ).fetchall()[0][0]
    assert amounts == pytest.approx(sum(i + 0.5 for i in range(1, 13)))
    ledger = con.execute(
        "select file, sha256, size_bytes from raw._file_ledger order by file"
    ).fetchall()
    # the content hash is the plain file's, the size the delivery's on disk
    assert ledger[0][1] == ledger[2][1] == hashlib.sha256(first).hexdigest()
    assert ledger[1][1] == hashlib.sha256(second).hexdigest()
    assert ledger[0][2] == (folder / "orders_2025-03-15.csv.gz").stat().st_size


@pytest.mark.parametrize(
    ("name", "data", "said"),
    [
        (
            "orders_2025-03-15.zip",
            _zipped("x", {"a.csv": b"x\n", "b.csv": b"y\n"}),
            "holds a.csv, b.csv: a .zip delivery holds exactly one file",
        ),
        (
            "orders_2025-03-15.csv.gz",
            gzip.compress(_orders(dt.date(2025, 3, 15), 40, "a"))[:200],
            "cannot be opened as gz",
        ),
    ],
)
def test_a_compressed_file_that_cannot_be_opened_names_the_file(tmp_path, name, data, said):
    path = tmp_path / name
    path.write_bytes(data)
    settings = load_settings(tmp_path)
    with pytest.raises(SchemaMismatch) as err:
        validate_file(path, "orders", settings.source("orders"), "Asia/Shanghai", f"orders/{name}")
    assert str(err.value).startswith(f"orders/{name}: ")
    assert said in str(err.value)


def test_an_empty_or_header_only_file_is_no_delivery(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch)
    landing = settings.landing_dir
    d15, d16, d17 = dt.date(2025, 3, 15), dt.date(2025, 3, 16), dt.date(2025, 3, 17)
    (landing / "orders").mkdir(parents=True)
    (landing / "conversations").mkdir(parents=True)
    (landing / "orders" / "orders_2025-03-15.csv").write_text(ORDERS_HEADER + "\n")
    (landing / "orders" / "orders_2025-03-16.csv.gz").write_bytes(gzip.compress(b""))
    (landing / "orders" / "orders_2025-03-17.csv").write_bytes(_orders(d17, 5, "c"))
    (landing / "orders" / "orders_2025-03-17_header.csv").write_text(ORDERS_HEADER + "\n")
    (landing / "conversations" / "conversations_2025-03-15.jsonl").write_bytes(b"")
    con = duckdb.connect(str(tmp_path / "b.duckdb"))
    ensure_tables(con, SOURCES)
    results = {d: load_day(con, settings, "orders", d) for d in (d15, d16, d17)}
    talks = load_day(con, settings, "conversations", d15)
    assert [f.status for f in results[d15].files] == ["empty"]
    assert [f.status for f in results[d16].files] == ["empty"]
    assert [f.status for f in talks.files] == ["empty"]
    assert not results[d15].delivered and not results[d16].delivered and not talks.delivered
    # a day with rows in one of its files is delivered; its header-only file is still empty
    assert results[d17].delivered
    assert sorted(f.status for f in results[d17].files) == ["empty", "loaded"]
    ledger = con.execute(
        "select file, status, rows_loaded from raw._file_ledger order by file"
    ).fetchall()
    assert ledger == [
        ("conversations/conversations_2025-03-15.jsonl", "empty", 0),
        ("orders/orders_2025-03-15.csv", "empty", 0),
        ("orders/orders_2025-03-16.csv.gz", "empty", 0),
        ("orders/orders_2025-03-17.csv", "loaded", 5),
        ("orders/orders_2025-03-17_header.csv", "empty", 0),
    ]
    rows = con.execute("select _partition_date, count(*) from raw.orders group by 1").fetchall()
    assert rows == [(d17, 5)]


def test_what_the_landing_folder_holds_and_no_source_reads_is_named(tmp_path):
    landing = tmp_path / "landing"
    for folder in FOLDERS:
        (landing / folder).mkdir(parents=True)
    orders = _orders(dt.date(2025, 3, 15), 3, "a")
    files = {
        "orders/orders_2025-03-15.csv": orders,
        "orders/orders_2025-03-16.csv.gz": gzip.compress(orders),
        "orders/notes.txt": orders,  # delimited text: meant as a .csv
        "orders/dump.json": b'{"order_id": "a"}\n',
        "orders/orders_2025-03-17.cvs": orders,  # a typo
        "orders/photo.png": b"\x89PNG\r\n\x1a\n",
        "orders/_SUCCESS": b"",  # a marker: not listed
        "orders/.orders.csv.x1Yz": orders,  # in transfer: not listed
        "orders/2025/03/orders_2025-03-18.csv": orders,
        "order_items/order_items_2025-03-15.zip": _zipped("x", {"a.csv": b"x\n"}),
        "Orders/orders_2025-03-19.csv": orders,
        "Orders/orders_2025-03-20.csv": orders,
        "sesions/sessions_2025-03-15.parquet": b"PAR1",
        "misc/readme.md": b"hello\n",
        "orders_2025-03-21.csv": orders,
        "_sample_manifest.json": b"{}",
    }
    for rel, data in files.items():
        path = landing / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    found = stray_files(landing, FOLDERS)
    known = tuple(FOLDERS)
    assert found == [
        Stray("Orders/", "case", "orders", 2, "orders", known),
        Stray("misc/", "folder", None, 1, None, known),
        Stray("orders/2025/", "nested", None, 1, "orders"),
        Stray("orders/dump.json", "extension", ".jsonl", 1, "orders"),
        Stray("orders/notes.txt", "extension", ".csv", 1, "orders"),
        Stray("orders/orders_2025-03-17.cvs", "extension", ".csv", 1, "orders"),
        Stray("orders/photo.png", "extension", None, 1, "orders"),
        Stray("orders_2025-03-21.csv", "root", "orders", 1, "orders"),
        Stray("sesions/", "folder", "sessions", 1, "sessions", known),
    ]


def test_the_encoding_error_names_the_byte_line_and_the_setting(tmp_path, monkeypatch):
    body = (
        f"{ORDERS_HEADER}\n"
        "o1,c1,2025-03-15T01:00:00Z,organic,,prepaid,10,\n"
        "o2,张三,2025-03-15T02:00:00Z,organic,,prepaid,10,\n"
    )
    data = body.encode("gbk")
    path = tmp_path / "orders_2025-03-15.csv"
    path.write_bytes(data)
    offset = next(i for i, b in enumerate(data) if b >= 0x80)  # the first non-ASCII byte
    line = data[:offset].count(b"\n") + 1
    assert line == 3
    settings = load_settings(tmp_path)
    with pytest.raises(SchemaMismatch) as err:
        validate_file(path, "orders", settings.source("orders"), "Asia/Shanghai", "orders/x.csv")
    said = str(err.value)
    assert said.startswith("orders/x.csv: the file is not utf-8 text")
    assert f"byte {offset}, on line {line}," in said
    assert "`encoding: gb18030` under sources.orders in kpi.yaml" in said
    # and the setting it names reads the file
    conf = _settings(tmp_path, monkeypatch, sources={"orders": {"encoding": "gb18030"}})
    conf = conf.source("orders")
    checked = validate_file(path, "orders", conf, "Asia/Shanghai")
    assert checked.good["customer_id"].to_list() == ["c1", "张三"]


def test_kpi_run_and_status_name_what_was_not_loaded(tmp_path):
    """A real `kpi run` over a shop whose landing folder holds compressed deliveries, a
    wrong-case folder, a .txt file and a header-only file: the compressed ones load, the rest
    are named in the summary and by `kpi status`, and the empty file's day is not loaded."""
    data_dir = tmp_path / "data"
    landing = data_dir / "landing"
    start = dt.date(2025, 3, 3)
    generate_shop(landing, start, 3, orders_per_day=30, seed=7, faults={}, formats="csv")
    day2, day3 = start + dt.timedelta(days=1), start + dt.timedelta(days=2)
    plain_rows = {
        d: pl.read_csv(landing / "orders" / f"orders_{d}.csv").height for d in (start, day2)
    }
    orders = landing / "orders" / f"orders_{day2}.csv"
    (orders.parent / f"{orders.name}.gz").write_bytes(gzip.compress(orders.read_bytes()))
    orders.unlink()
    lines = landing / "order_items" / f"order_items_{day2}.csv"
    (lines.parent / f"order_items_{day2}.zip").write_bytes(
        _zipped("x", {lines.name: lines.read_bytes()})
    )
    lines.unlink()
    (landing / "Orders").mkdir()
    shutil.copy(landing / "orders" / f"orders_{day3}.csv", landing / "Orders" / "late.csv")
    shutil.copy(landing / "orders" / f"orders_{day3}.csv", landing / "orders" / "notes.txt")
    spend = landing / "ad_spend" / f"ad_spend_{day3}.csv"
    spend.write_text(spend.read_text().splitlines()[0] + "\n")

    code, out = kpi(data_dir, "run")
    settings = load_settings(data_dir)
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        orders_by_day = dict(
            con.execute("select _partition_date, count(*) from raw.orders group by 1").fetchall()
        )
        spend_days = {
            r[0]
            for r in con.execute("select distinct _partition_date from raw.ad_spend").fetchall()
        }
        spend_ledger = con.execute(
            "select status from raw._file_ledger where file = ?", [f"ad_spend/{spend.name}"]
        ).fetchall()
    assert code in (0, 1), out  # the empty day may hold marketing back at its gate
    assert orders_by_day[start] == plain_rows[start] and orders_by_day[day2] == plain_rows[day2]
    assert spend_days == {start, day2} and spend_ledger == [("empty",)]
    for said in (out, kpi(data_dir, "status")[1]):
        flat = " ".join(said.split())
        assert "Orders/: not loaded (1 file)" in flat and "move them to orders/" in flat
        assert "orders/notes.txt: not loaded" in flat and "it looks like .csv" in flat
        assert f"ad_spend/{spend.name}: empty" in flat
    # a gate that saw nothing on a day says so without "e.g. None"
    log = settings.data_dir / "published" / "_publication_log.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    failed = [f for e in entries for f in e.get("failed_expectations") or []]
    assert not [f for f in failed if f.endswith("e.g. None")], failed


def test_kpi_run_with_only_a_wrong_case_folder_says_where_the_files_should_be(tmp_path):
    data_dir = tmp_path / "data"
    folder = data_dir / "landing" / "Orders"
    folder.mkdir(parents=True)
    (folder / "orders_2025-03-15.csv").write_bytes(_orders(dt.date(2025, 3, 15), 3, "a"))
    code, out = kpi(data_dir, "run")
    flat = " ".join(out.split())
    assert code == 2
    assert "Orders/: not loaded (1 file)" in flat and "move them to orders/" in flat
    assert not (data_dir / "warehouse" / "build.duckdb").exists()
    # in the shop's language too (the catalogue's Chinese), as the `kpi` command speaks it
    env = {**os.environ, "KPI_DATA_DIR": str(data_dir), "KPI_LOCALE": "zh_CN", "COLUMNS": "200"}
    env.pop("KPI_CONFIG", None)
    status = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert status.returncode == 0, status.stderr
    assert "Orders/：未载入（1 个文件）：文件夹名区分大小写" in " ".join(status.stdout.split())


@pytest.mark.parametrize(
    ("source", "name", "data", "config"),
    [
        ("conversations", "c.jsonl", b"\n\n  \n", {}),
        ("orders", "o.csv", b"\xef\xbb\xbf", {}),
        ("orders", "o.csv", b"", {"encoding": "gb18030"}),  # read by the mapping
        ("orders", "o.csv", (ORDERS_HEADER + "\r\n").encode(), {"encoding": "gb18030"}),
        ("sessions", "s.parquet", None, {}),
    ],
)
def test_a_file_without_rows_reads_as_no_rows_whatever_its_form(
    tmp_path, monkeypatch, source, name, data, config
):
    settings = _settings(tmp_path, monkeypatch, sources={source: config} if config else {})
    path = tmp_path / name
    if data is None:  # a Parquet file with the contract's columns and no rows
        from pipelines.ingest.contracts import SOURCE_SPECS

        pl.DataFrame(schema=dict.fromkeys(SOURCE_SPECS[source].dtypes, pl.String)).write_parquet(
            path
        )
    else:
        path.write_bytes(data)
    checked = validate_file(path, source, settings.source(source), "Asia/Shanghai")
    assert checked.rows_in == 0 and checked.good.height == 0 and checked.bad.height == 0


def test_the_ingest_step_records_what_it_did_not_load(tmp_path):
    """A real Dagster run of the orders step: its metadata lists what of its folder it did not
    read (and what is no source's), and counts the empty files; a day whose only file is empty
    is not delivered, one with a file of rows beside an empty one is."""
    import dagster as dg
    from conftest import make_shop

    from pipelines.definitions import build_defs
    from pipelines.runner import run_nightly

    shop = make_shop(tmp_path, start=dt.date(2025, 3, 3), days=2, orders_per_day=20)
    orders = shop.landing / "orders"
    shutil.copy(next(orders.glob("*.csv")), orders / "notes.txt")
    (orders / "orders_2025-03-04_more.csv").write_text(ORDERS_HEADER + "\n")
    (orders / "orders_2025-03-03.csv").write_text(ORDERS_HEADER + "\n")  # its only file
    (shop.landing / "misc").mkdir()
    (shop.landing / "misc" / "a.md").write_text("x\n")
    (shop.landing / "sessions" / "readme.txt").write_text("x\n")  # the sessions step's
    with dg.instance_for_test() as instance:
        outcome = run_nightly(
            build_defs(shop.data_dir),
            shop.start,
            shop.end,
            instance,
            asset_selection=[dg.AssetKey(["raw", "orders"])],
            log_level="CRITICAL",
        )
        event = instance.get_latest_materialization_event(dg.AssetKey(["raw", "orders"]))
    assert outcome.ok, outcome.error
    assert event is not None and event.asset_materialization is not None
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert meta["not_loaded"] == ["misc/", "orders/notes.txt"]
    assert meta["files_empty"] == 2 and meta["files_loaded"] == 1
    assert meta["missing_days"] == ["2025-03-03"]
