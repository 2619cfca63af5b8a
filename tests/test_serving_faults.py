"""Faults a real night meets at the serving file, done for real: a BI tool holding the file
read-write with an uncommitted write, pooled BI connections across a night, a publish killed
after its Parquet swap, a serving file that cannot be built (issue 45, items 1, 4 and 6)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from conftest import Shop, kpi

from kpi_tree.model import default_tree
from kpi_tree.units import publication_units
from pipelines.publish.holders import wal_of
from pipelines.publish.night import interrupted
from pipelines.publish.serving import (
    assemble_serving,
    current_night,
    published_dir,
    read_log,
    serving_db,
)

ROOT = Path(__file__).resolve().parent.parent
UNITS = publication_units(default_tree())
TREE_RUNS = "select distinct _published_run_id from kpi_tree.kpi_values"


def copy_of(shop: Shop, tmp_path: Path, rebuild: bool = True) -> Shop:
    target = tmp_path / "data"
    shutil.copytree(shop.data_dir, target, symlinks=True)
    copy = Shop(target, shop.manifest, shop.start, shop.end)
    if rebuild:  # its views name the original's Parquet, as after a move
        assemble_serving(copy.settings)
    return copy


def fresh_read(path: Path, sql: str = TREE_RUNS) -> tuple[int, str]:
    """A query by a process that opens the serving file afresh, as a BI tool does."""
    script = (
        "import json, sys, duckdb\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "print(json.dumps(sorted(r[0] for r in con.execute(sys.argv[2]).fetchall())))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), sql], capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout if done.returncode == 0 else done.stderr


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def run_entries(shop: Shop, run_id: str) -> list[dict]:
    return [e for e in read_log(shop.settings) if e["run_id"] == run_id]


def epoch(utc_iso: str) -> float:
    return dt.datetime.fromisoformat(utc_iso).replace(tzinfo=dt.UTC).timestamp()


HOLDER = r"""
import os, sys, time, duckdb
path, ready, stop = sys.argv[1:4]
con = duckdb.connect(path)  # read-write: a SQL client's default
con.execute("create table main.scratch_kept as select 1 as x")  # committed: it leaves a WAL
con.execute("begin")
con.execute("create table main.scratch as select 42 as answer")  # and one not committed
open(ready, "w").write("held")
while not os.path.exists(stop):
    time.sleep(0.05)
con.execute("commit")  # into its own WAL, wherever that now is
con.close()
"""


def test_a_read_write_holder_cannot_brick_the_serving_file(published_shop, tmp_path):
    shop = copy_of(published_shop, tmp_path)
    path = serving_db(shop.settings)
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(ready), str(stop)])
    try:
        wait_for(ready, holder)
        # as the issue found it: a WAL beside the file, and no one else can open it
        assert wal_of(path).exists()
        code, err = fresh_read(path)
        assert code != 0 and "lock" in err.lower()
        code, out = kpi(shop.data_dir, "serve-info")  # names it, and cannot list the tables
        assert code == 1 and f"PID {holder.pid}" in out.replace("\n", " ")

        outcome = shop.run(shop.end, shop.end)  # a real night, the holder still holding
        assert outcome.success, outcome.error

        # readers that open the file afresh get the new night, the holder still holding
        code, out = fresh_read(path)
        assert code == 0, out
        assert json.loads(out) == [outcome.run_id]
        assert not wal_of(path).exists()
        assert list(path.parent.glob("kpi.duckdb.wal.foreign-*"))
        # the holder is named where the operator looks: the run's log entries
        entries = run_entries(shop, outcome.run_id)
        assert {e["unit"] for e in entries if e["status"] == "published"} == set(UNITS)
        for entry in entries:
            assert any(f"PID {holder.pid} (python" in n for n in entry["notes"]), entry
    finally:
        stop.write_text("stop")
        assert holder.wait(timeout=60) == 0
    # the holder committed and closed: the serving file still opens, and has no WAL
    code, out = fresh_read(path)
    assert code == 0 and json.loads(out) == [outcome.run_id], out
    assert not wal_of(path).exists()


POOLED = r"""
import json, os, sys, threading, time
import sqlalchemy
from sqlalchemy import text

path, ready, stop = sys.argv[1:4]
# Superset's recipe: SQLAlchemy + duckdb-engine, read-only, SQLAlchemy's default pool
engine = sqlalchemy.create_engine(f"duckdb:///{path}", connect_args={"read_only": True})
QUERIES = {
    "tree": "select distinct _published_run_id from kpi_tree.kpi_values",
    "team": "select distinct _published_run_id from marketing.marketing_kpis",
    "pace": "select distinct _published_run_id from kpi_tree.kpi_vs_target_latest",
}
results, lock, started = [], threading.Lock(), threading.Barrier(5)
held = engine.connect()  # one connection checked out the whole night, as a BI server keeps one


def query(conn, name):
    at = time.time()
    runs = sorted({r[0] for r in conn.execute(text(QUERIES[name]))})
    pooled = id(conn.connection.dbapi_connection)
    return {"query": name, "started": at, "runs": runs, "conn": pooled}


def reader(n):
    i = 0
    while True:
        stopping = os.path.exists(stop)
        if n == 0:
            result = query(held, ("tree", "team", "pace")[i % 3])
        else:
            with engine.connect() as conn:
                result = query(conn, ("tree", "team", "pace")[i % 3])
        with lock:
            results.append({"thread": n, **result})
        if i == 0:
            started.wait()
            if n == 0:
                open(ready, "w").write("ok")
        if stopping:
            return  # this query started after the stop signal
        i += 1
        time.sleep(0.01)


threads = [threading.Thread(target=reader, args=(n,)) for n in range(5)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(results))
"""


def test_pooled_readers_see_the_new_night_on_their_next_query_never_two_at_once(
    published_shop, tmp_path
):
    shop = copy_of(published_shop, tmp_path, rebuild=False)
    path = serving_db(shop.settings)
    # a copied data folder: its serving file still reads the original's Parquet, and says so
    code, out = kpi(shop.data_dir, "serve-info")
    assert code == 0 and "kpi serve-info --rebuild" in " ".join(out.split())
    assert str(published_dir(published_shop.settings)) in out.replace("\n", "")
    code, out = kpi(shop.data_dir, "serve-info", "--rebuild")
    assert code == 0 and "--rebuild" not in out.split("Built", 1)[1]
    code, out = fresh_read(path)
    (old,) = json.loads(out)
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    readers = subprocess.Popen(
        [sys.executable, "-c", POOLED, str(path), str(ready), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(ready, readers)
    outcome = shop.run(shop.end, shop.end)
    stop.write_text("stop")
    out, err = readers.communicate(timeout=300)
    assert readers.returncode == 0 and not err, err[-3000:]  # no query failed
    assert outcome.success, outcome.error
    results = json.loads(out)
    new = outcome.run_id
    (live_at,) = {epoch(e["published_at"]) for e in run_entries(shop, new)}
    # every query saw one night, the old or the new, never a mix of two
    assert {tuple(r["runs"]) for r in results} <= {(old,), (new,)}
    assert any(r["runs"] == [old] for r in results)
    # every query that started once the night was live saw it, on every pooled connection
    after = [r for r in results if r["started"] > live_at]
    stale = [r for r in after if r["runs"] != [new]]
    assert after and not stale, (live_at, stale[:5], len(stale), len(after))
    assert {r["thread"] for r in after} == set(range(5))
    assert {r["query"] for r in after if r["thread"] == 0} >= {"tree", "team"}  # the held one
    # without reconnecting: the pool's five connections served every query
    assert len({r["conn"] for r in results}) <= 5


KILL_AFTER_SWAP = r"""
import datetime as dt, os, signal, sys
import dagster as dg
from pipelines.definitions import build_defs
from pipelines.publish import night
from pipelines.runner import run_nightly

data_dir, day = sys.argv[1], dt.date.fromisoformat(sys.argv[2])


def killed_once_the_night_is_live(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # the night's Parquet is live, nothing else done


night.put_in_place = killed_once_the_night_is_live
with dg.DagsterInstance.ephemeral() as instance:
    run_nightly(build_defs(data_dir), day, day, instance, log_level="CRITICAL")
"""


def test_a_publish_killed_after_its_parquet_swap_is_logged_failed_and_repaired(
    published_shop, tmp_path
):
    shop = copy_of(published_shop, tmp_path)
    root = published_dir(shop.settings)
    before = (root / "current").resolve()
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_SWAP, str(shop.data_dir), shop.end.isoformat()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    journal = interrupted(shop.settings)
    assert journal is not None
    run_x = journal["run_id"]
    assert current_night(shop.settings).name == journal["night"]  # its night went live
    assert (root / "current").resolve() == before  # the rest was not done
    assert not [e for e in run_entries(shop, run_x) if e["status"] == "published"]
    code, out = fresh_read(serving_db(shop.settings))  # the views read the live night
    assert code == 0 and json.loads(out) == [run_x], out
    code, out = kpi(shop.data_dir, "serve-info")
    assert code == 0 and f"run {run_x[:8]}" in out and "has not finished" in out

    outcome = shop.run(shop.end, shop.end)
    assert outcome.success, outcome.error
    assert interrupted(shop.settings) is None
    for unit in UNITS:
        told = [(e["status"], " ".join(e["notes"])) for e in run_entries(shop, run_x)]
        told = [t for t, e in zip(told, run_entries(shop, run_x), strict=True) if e["unit"] == unit]
        (failed, why), (repaired, how) = told
        assert failed == "failed" and "went live, before it was recorded" in why
        assert outcome.run_id in why  # found by the next run
        assert repaired == "published" and f"repaired by run {outcome.run_id}" in how
    assert {e["unit"]: e["status"] for e in run_entries(shop, outcome.run_id)} == dict.fromkeys(
        UNITS, "published"
    )
    # the Parquet and the serving file are at the same night for every unit
    with duckdb.connect(str(serving_db(shop.settings)), read_only=True) as serving:
        for unit in UNITS:
            for parquet in sorted((root / unit).glob("*.parquet")):
                sql = f"select * from {unit}.{parquet.stem} order by all"
                files = duckdb.sql(
                    f"select * from read_parquet('{parquet}') order by all"
                ).fetchall()
                assert serving.execute(sql).fetchall() == files, parquet
        assert serving.execute(TREE_RUNS).fetchall() == [(outcome.run_id,)]


def test_a_serving_file_that_cannot_be_built_stops_the_night_before_it_is_seen(
    published_shop, tmp_path, monkeypatch
):
    """The serving file is built before the night goes live (here it cannot be: a storage
    version this DuckDB does not know): nothing changes, the units are logged failed with
    the reason, and the next run publishes."""
    shop = copy_of(published_shop, tmp_path)
    root = published_dir(shop.settings)
    before = current_night(shop.settings)
    parquet = {p.name: p.read_bytes() for p in (root / "marketing").glob("*.parquet")}
    live = serving_db(shop.settings).read_bytes()
    config = tmp_path / "kpi.yaml"
    config.write_text("serving:\n  storage_version: v9.9.9\n", encoding="utf-8")
    monkeypatch.setenv("KPI_CONFIG", str(config))
    outcome = shop.run(shop.end, shop.end)
    assert not outcome.ok and "serving.storage_version" in (outcome.error or "")
    assert current_night(shop.settings) == before == (root / "current").resolve()
    assert {p.name: p.read_bytes() for p in (root / "marketing").glob("*.parquet")} == parquet
    assert serving_db(shop.settings).read_bytes() == live
    entries = run_entries(shop, outcome.run_id)
    assert {e["unit"]: e["status"] for e in entries} == dict.fromkeys(UNITS, "failed")
    assert all("serving.storage_version" in e["notes"][0] for e in entries)
    assert interrupted(shop.settings) is None

    monkeypatch.delenv("KPI_CONFIG")
    again = shop.run(shop.end, shop.end)
    assert again.success, again.error
    code, out = fresh_read(serving_db(shop.settings))
    assert code == 0 and json.loads(out) == [again.run_id]


def test_a_serving_file_that_cannot_be_replaced_takes_the_night_back(published_shop, tmp_path):
    """The night went live, then the serving file could not be put in place (its path is
    taken, as an immutable file or a full disk would refuse it): the night is taken back out,
    so the Parquet and the serving file stay at the night before, and the units are logged
    failed with the reason. Once the path is free, the next run publishes."""
    shop = copy_of(published_shop, tmp_path)
    path = serving_db(shop.settings)
    before = current_night(shop.settings)
    path.unlink()
    path.mkdir()
    (path / "in_the_way").write_text("x")
    outcome = shop.run(shop.end, shop.end)
    assert not outcome.ok and "could not be put in place" in (outcome.error or "")
    assert current_night(shop.settings) == before
    assert (published_dir(shop.settings) / "current").resolve() == before
    entries = run_entries(shop, outcome.run_id)
    assert {e["unit"]: e["status"] for e in entries} == dict.fromkeys(UNITS, "failed")
    assert all("could not be put in place" in e["notes"][0] for e in entries)

    shutil.rmtree(path)
    again = shop.run(shop.end, shop.end)
    assert again.success, again.error
    code, out = fresh_read(path)
    assert code == 0 and json.loads(out) == [again.run_id]
