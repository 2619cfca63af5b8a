"""A failed night reaches people: a publication log row per unit it stopped, a notice to the
owners of those units and one to the operator channel (issue 45, "Failures reach people")."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
from conftest import make_shop

from kpi_tree.model import default_tree
from kpi_tree.units import SHARED_UNIT, publication_units
from pipelines.alerts.failed import OPERATOR, RUN_FAILED
from pipelines.definitions import build_defs
from pipelines.publish.serving import FAILED, read_log
from pipelines.runner import run_nightly


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]


def test_a_file_refused_at_ingest_is_logged_and_told_to_owners_and_operator(tmp_path, monkeypatch):
    shop = make_shop(
        tmp_path, start=dt.date(2025, 3, 3), days=2, orders_per_day=40, faults={"missing_column": 1}
    )
    fault = shop.manifest["schema_faults"][0]
    config = tmp_path / "kpi.yaml"
    config.write_text(
        json.dumps(
            {
                "locale": "en_US",
                "alerts": {
                    "channels": {
                        "default": [{"type": "file", "path": "alerts/teams.jsonl"}],
                        "marketing": [{"type": "file", "path": "alerts/marketing.jsonl"}],
                    },
                    "operator": [{"type": "file", "path": "alerts/operator.jsonl"}],
                    "owners": {"marketing": [{"name": "Mei", "slack": "U0MEI"}]},
                    "digest": False,
                },
            }
        )
    )
    monkeypatch.setenv("KPI_CONFIG", str(config))
    with dg.instance_for_test() as instance:
        outcome = run_nightly(
            build_defs(shop.data_dir), shop.start, shop.end, instance, log_level="CRITICAL"
        )
    assert not outcome.ok and outcome.exit_code == 1
    units = publication_units(default_tree())
    teams = {t["mart"]: tid for tid, t in default_tree().teams.items() if t.get("mart")}

    # every unit the night stopped has its row in the log, saying why
    logged = {e["unit"]: e for e in read_log(shop.settings) if e["run_id"] == outcome.run_id}
    assert set(logged) == set(units)
    assert {e["status"] for e in logged.values()} == {FAILED}
    assert all(
        any(fault["file"] in n and n.startswith("ingest") for n in e["notes"])
        for e in logged.values()
    )
    assert {e["data_as_of"] for e in logged.values()} == {shop.end.isoformat()}

    # the operator: one notice naming every unit, the file, and the rerun
    alerts = shop.data_dir / "alerts"
    (operator,) = lines(alerts / "operator.jsonl")
    assert operator["kind"] == RUN_FAILED and operator["team"] == OPERATOR
    assert fault["file"] in operator["text"] and fault["column"] in operator["text"]
    assert f"--start {shop.start} --end {shop.end}" in operator["text"]
    assert all(u in operator["text"] for u in units)

    # each team owning a stopped unit: its own channels, its owners mentioned
    (marketing,) = lines(alerts / "marketing.jsonl")
    assert marketing["team"] == "marketing" and fault["file"] in marketing["text"]
    assert [m["slack"] for m in marketing["mentions"]] == ["U0MEI"]
    others = lines(alerts / "teams.jsonl")
    expected = {teams[u] for u in units if u != SHARED_UNIT} - {"marketing"}
    assert sorted(m["team"] for m in others) == sorted(expected)

    # and all of it in the alert history, with its delivery, and on the outcome
    history = lines(alerts / "alerts.jsonl")
    assert len(history) == len(expected) + 2
    assert {h["delivery_status"] for h in history} == {"delivered"}
    assert [h["alert_id"] for h in outcome.notices] == [h["alert_id"] for h in history]


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
