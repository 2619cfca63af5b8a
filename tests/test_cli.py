"""The documented way in: the `kpi` command, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

KPI = [sys.executable, "-m", "pipelines.cli"]


def kpi(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "KPI_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    out = subprocess.run([*KPI, *args], env=env, capture_output=True, text=True, timeout=900)
    if check:
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out


def test_help_lists_every_command():
    out = subprocess.run([*KPI, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    for command in (
        "generate",
        "run",
        "demo",
        "tree",
        "status",
        "quarantine",
        "serve-info",
        "dictionary",
        "faults",
        "dev",
        "targets",
        "alerts",
    ):
        assert command in out.stdout


@pytest.mark.slow  # a real nightly job over ten generated days, through the command
def test_generate_run_and_inspect_a_small_shop(tmp_path):
    data = tmp_path / "data"
    gen = kpi(
        data,
        "generate",
        "--start",
        "2025-03-01",
        "--days",
        "10",
        "--orders-per-day",
        "30",
        "--fault",
        "unknown_category=2,negative_amount=1",
    )
    assert "Wrote 10 days of files" in gen.stdout
    manifest = json.loads((data / "landing" / "_sample_manifest.json").read_text())
    assert len(manifest["row_faults"]) == 3

    run = kpi(data, "run")
    assert "Running the nightly job over 2025-03-01 .. 2025-03-10 (10 days)" in run.stdout
    with duckdb.connect(str(data / "warehouse" / "build.duckdb"), read_only=True) as con:
        orders = con.execute("select count(*) from raw.orders").fetchall()[0][0]
        gmv = con.execute(
            "select value from kpi.fct_kpi_values where kpi_id = 'gmv' and grain = 'day' "
            "and dimension = 'total' and period_start = date '2025-03-10'"
        ).fetchall()[0][0]
    assert f"{orders:,}" in run.stdout  # the summary table reports the loaded rows

    quarantine = kpi(data, "quarantine")
    for fault in manifest["row_faults"]:
        assert fault["file"] in quarantine.stdout

    tree = kpi(data, "tree", "--date", "2025-03-10")
    gmv_line = next(line for line in tree.stdout.splitlines() if "交易额 GMV" in line)
    assert f"¥{gmv:,.0f}" in gmv_line

    info = kpi(data, "serve-info")
    assert "kpi.duckdb" in info.stdout and "publication_log" in info.stdout


def test_bad_arguments_get_a_clear_message(tmp_path):
    out = kpi(tmp_path, "generate", "--fault", "gremlins", check=False)
    assert out.returncode != 0
    assert "unknown fault 'gremlins'" in out.stdout + out.stderr
    empty = kpi(tmp_path / "nothing", "run", check=False)
    assert empty.returncode == 2
    assert "No landing files under" in empty.stdout + empty.stderr
