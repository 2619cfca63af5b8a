"""A failed night reaches people: a publication log row per unit it stopped, a notice to the
owners of those units and one to the operator channel (issue 45, "Failures reach people").
A refused file is not a failed night: it holds back only the units that read its source."""

from __future__ import annotations

import datetime as dt
import gc
import json
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
from conftest import TEST_PLAN, make_shop

from kpi_tree.model import default_tree
from kpi_tree.units import SHARED_UNIT, publication_units, team_units
from pipelines.alerts.failed import OPERATOR, RUN_FAILED
from pipelines.board.page import board_path, drawn_from
from pipelines.definitions import build_defs
from pipelines.publish.serving import HELD_BACK, PUBLISHED, read_log, served_stamp, serving_db
from pipelines.runner import run_nightly


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]


#: the units whose KPIs read conversations, from kpi_tree/tree.yaml by hand (service's
#: conversation KPIs, operations' contact rate; the tree unit publishes every team's values)
READ_CONVERSATIONS = {"service", "operations", SHARED_UNIT}


def refuse_conversations(shop) -> str:
    """The last day's conversations file without its agent_id: refused (schema)."""
    path = shop.data_dir / "landing" / "conversations" / f"conversations_{shop.end}.jsonl"
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
    assert rows and all("agent_id" in r for r in rows)
    path.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "agent_id"}) + "\n" for r in rows),
        encoding="utf-8",
    )
    return f"conversations/{path.name}"


def test_a_refused_file_holds_back_only_the_units_that_read_its_source(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipelines.cli import app

    shop = make_shop(tmp_path, start=dt.date(2025, 3, 3), days=2, orders_per_day=40, faults={})
    plans = shop.settings.targets_dir / "plans"  # with targets: the teams publish their pace
    plans.mkdir(parents=True)
    shutil.copyfile(TEST_PLAN, plans / TEST_PLAN.name)
    refused = refuse_conversations(shop)
    config = tmp_path / "kpi.yaml"
    config.write_text(
        json.dumps(
            {
                "locale": "en_US",
                "alerts": {
                    "channels": {
                        "default": [{"type": "file", "path": "alerts/teams.jsonl"}],
                        "customer_service": [{"type": "file", "path": "alerts/service.jsonl"}],
                    },
                    "operator": [{"type": "file", "path": "alerts/operator.jsonl"}],
                    "owners": {"customer_service": [{"name": "Li", "slack": "U0LI"}]},
                    "digest": False,
                },
            }
        )
    )
    monkeypatch.setenv("KPI_CONFIG", str(config))
    monkeypatch.setenv("KPI_DATA_DIR", str(shop.data_dir))
    result = CliRunner().invoke(
        app, ["run", "--start", shop.start.isoformat(), "--end", shop.end.isoformat()]
    )
    # the night ends non-zero and names the refused file
    assert isinstance(result.exception, SystemExit), result.exception
    # nothing of this process is left out of the collector by the run (pipelines/cli/run.py)
    assert gc.get_freeze_count() == 0
    assert result.exit_code == 1
    assert refused in "".join(result.output.split()), result.output

    tree = default_tree()
    units = set(publication_units(tree))
    held = READ_CONVERSATIONS
    published = units - held
    assert published == {"management", "marketing", "logistics"}

    # the publication log: the dependent units held back, the others published, none failed
    (run_id,) = {e["run_id"] for e in read_log(shop.settings)}
    logged = {e["unit"]: e["status"] for e in read_log(shop.settings) if e["run_id"] == run_id}
    assert logged == {u: HELD_BACK if u in held else PUBLISHED for u in units}

    # the serving file carries the night of the units that do not read conversations
    with duckdb.connect(str(serving_db(shop.settings)), read_only=True) as con:
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_schemas()").fetchall()}
        for unit in published:
            (newest,) = con.execute(
                f"select max(period_start) from {unit}.{unit}_kpis where grain = 'day'"
            ).fetchone()
            assert newest == shop.end, unit
    assert not ({"service", "operations"} & schemas)
    # the board is drawn from it, though the tree's unit (targets in force) is held back
    board = board_path(shop.settings)
    assert board.exists() and drawn_from(board) == served_stamp(shop.settings)

    # a held-back notice to each team of a dependent unit: the file, the day, the rule, the
    # rerun; no failed-night notice, to no one
    alerts = shop.data_dir / "alerts"
    assert not (alerts / "operator.jsonl").exists()
    history = lines(alerts / "alerts.jsonl")
    assert RUN_FAILED not in {h["kind"] for h in history}
    teams = team_units(tree)
    notices = {h["team"]: h for h in history if h["kind"] == "held_back"}
    assert set(notices) == {teams[u] for u in held - {SHARED_UNIT}}
    for notice in notices.values():
        assert refused in notice["text"] and str(shop.end) in notice["text"]
        assert "agent_id" in notice["text"]
        assert f"`kpi run --date {shop.end}`" in notice["text"]
        assert "kpi gaps accept" not in notice["text"]  # a refused file is fixed, not accepted
    (service,) = lines(alerts / "service.jsonl")
    assert service["team"] == teams["service"] and refused in service["text"]
    assert [m["slack"] for m in service["mentions"]] == ["U0LI"]


def test_a_notice_in_the_shops_language(tmp_path, monkeypatch):
    from pipelines.alerts.failed import failed_night
    from pipelines.i18n import use
    from pipelines.settings import load_settings

    data = tmp_path / "data"
    settings = load_settings(data)
    day = dt.date(2025, 3, 3)
    err = "orders_2025-03-03.csv: column 'order_id' is missing"
    with use("zh_CN"):
        (team, operator) = failed_night(
            settings, default_tree(), "r1", day, day, err, "raw__orders", ["marketing"]
        )
    with use("en_US"):
        (team_en, _op) = failed_night(
            settings, default_tree(), "r2", day, day, err, "raw__orders", ["marketing"]
        )
    # the same notice, in two languages: the file named in both, the words differ
    assert err in team["text"] and err in team_en["text"]
    assert team["title"] != team_en["title"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in team["title"])
    assert operator["team"] == OPERATOR


HOLD = (
    "import sys, time, duckdb\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "print('holding', flush=True)\n"
    "time.sleep(120)\n"
)


def test_a_foreign_lock_fails_fast_naming_its_holder(tmp_path, monkeypatch):
    shop = make_shop(tmp_path, start=dt.date(2025, 3, 3), days=2, orders_per_day=20, faults={})
    config = tmp_path / "kpi.yaml"
    config.write_text(json.dumps({"locale": "en_US", "alerts": {"digest": False}}))
    monkeypatch.setenv("KPI_CONFIG", str(config))
    build = shop.settings.build_db
    build.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(build)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with dg.instance_for_test() as instance:
            defs = build_defs(shop.data_dir)
            outcome = run_nightly(defs, shop.start, shop.end, instance, log_level="CRITICAL")
            # no step waits and retries for a lock that will not go (how fast that is, is the
            # benchmark's business, not a wall-clock limit here)
            retried = instance.all_logs(
                outcome.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY
            )
    finally:
        holder.kill()
        holder.wait()
    assert not outcome.ok and outcome.exit_code == 1
    assert retried == []
    assert f"PID {holder.pid}" in outcome.error and "python" in outcome.error.lower()
    logged = [e for e in read_log(shop.settings) if e["run_id"] == outcome.run_id]
    assert {e["unit"] for e in logged} == set(publication_units(default_tree()))
    assert all(e["notes"][0].startswith("lock:") for e in logged)
    operator = [n for n in outcome.notices if n["team"] == OPERATOR]
    assert len(operator) == 1 and f"PID {holder.pid}" in operator[0]["text"]


def test_kpi_run_under_a_foreign_lock_says_who_and_exits_1(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipelines.cli import app

    shop = make_shop(tmp_path, start=dt.date(2025, 3, 3), days=1, orders_per_day=20, faults={})
    build = shop.settings.build_db
    build.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(build)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        monkeypatch.setenv("KPI_DATA_DIR", str(shop.data_dir))
        result = CliRunner().invoke(app, ["run", "--date", shop.start.isoformat()])
    finally:
        holder.kill()
        holder.wait()
    # the run's error, the summary and the units' table, not a crash in the summary
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    assert f"PID{holder.pid}" in "".join(result.output.split())
