"""The documented way in: the `kpi` command, run as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from kpi_tree.formats import Formats
from pipelines.cli import app

ROOT = Path(__file__).resolve().parent.parent
KPI = [sys.executable, "-m", "pipelines.cli"]


def kpi(
    data_dir: Path, *args: str, check: bool = True, locale: str | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "KPI_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    if locale:  # the messages in this language (KPI_LOCALE wins over kpi.yaml)
        env["KPI_LOCALE"] = locale
    out = subprocess.run([*KPI, *args], env=env, capture_output=True, text=True, timeout=900)
    if check:
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out


#: a row of the README's command table: | `kpi COMMAND [SUBCOMMAND] [OPTIONS]` | what it does |
COMMAND_ROW = re.compile(r"^\|\s*`kpi ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", re.M)


def registered_commands() -> set[str]:
    """Every command `kpi` answers to, a group's as "group command"."""
    names = set()
    for name, command in get_command(app).commands.items():
        if isinstance(command, TyperGroup):
            names |= {f"{name} {sub}" for sub in command.commands}
        else:
            names.add(name)
    return names


def test_every_command_is_in_the_readme_table_and_answers_its_own_help():
    documented = set(COMMAND_ROW.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    registered = registered_commands()
    assert registered == documented
    runner = CliRunner()
    for command in sorted(registered):
        out = runner.invoke(app, [*command.split(), "--help"], prog_name="kpi")
        assert out.exit_code == 0, (command, out.output)
        assert f"Usage: kpi {command} " in out.output


def test_kpi_runs_as_a_module_in_the_shops_language(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("KPI_LOCALE", "KPI_CONFIG")}
    config = tmp_path / "kpi.yaml"
    # a shop in China speaks Chinese by default, and its help says so
    config.write_text("business_timezone: Asia/Shanghai\n")
    out = subprocess.run(
        [*KPI, "run", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "KPI_CONFIG": str(config), "COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stderr
    assert (
        "Usage: kpi run " in out.stdout
        and "对某一天或一段日期交付的文件运行夜间流水线" in out.stdout
    )
    assert "Run the nightly pipeline" not in out.stdout
    # a shop elsewhere speaks English, as does any shop told so
    config.write_text("business_timezone: Europe/Berlin\n")
    out = subprocess.run(
        [*KPI, "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "KPI_CONFIG": str(config)},
    )
    assert out.returncode == 0, out.stderr
    assert "Usage: kpi " in out.stdout and "Start with `kpi demo`" in out.stdout
    config.write_text("business_timezone: Asia/Shanghai\nlocale: en_US\n")
    out = subprocess.run(
        [*KPI, "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "KPI_CONFIG": str(config)},
    )
    assert "Start with `kpi demo`" in out.stdout


def test_kpi_faults_describes_each_fault_in_the_shops_language(tmp_path):
    """`kpi faults` in Chinese: every fault the sample shop can plant, by its id (what
    --fault takes), described in Chinese; in English, as the sample shop describes it."""
    from pipelines.cli.generate import FAULT_WORDS
    from pipelines.i18n import _, use
    from sample_shop import FAULT_KINDS

    assert FAULT_WORDS == FAULT_KINDS  # the catalogue's words are the sample shop's
    said = {}
    for locale in ("zh_CN", "en_US"):
        out = kpi(tmp_path, "faults", locale=locale)
        said[locale] = " ".join(out.stdout.split())  # the table wraps long descriptions
    for name, text in FAULT_KINDS.items():
        with use("zh_CN"):
            chinese = _(text)
        assert chinese != text, name
        assert name in said["zh_CN"]
        # the description's first words, in the language of the shop (the table wraps cells)
        assert "".join(chinese.split()[0][:6]) in said["zh_CN"].replace(" ", ""), name
        assert " ".join(text.split()[:3]) in said["en_US"], name
    assert "a required value left empty" not in said["zh_CN"]


def test_a_config_that_cannot_be_used_is_reported_by_place_not_by_traceback(tmp_path):
    config = tmp_path / "kpi.yaml"
    config.write_text("business_timezone: Asia/Shanghia\nsources:\n  orders:\n    encodin: gbk\n")
    env = {**os.environ, "KPI_CONFIG": str(config), "KPI_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run(
        [*KPI, "status"], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert out.returncode == 2
    assert "business_timezone" in out.stderr and "sources.orders.encodin" in out.stderr
    assert "Traceback" not in out.stderr and "╭" not in out.stderr


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
        locale="en_US",
    )
    assert "Wrote 10 days of files" in gen.stdout
    manifest = json.loads((data / "landing" / "_sample_manifest.json").read_text())
    assert len(manifest["row_faults"]) == 3

    run = kpi(data, "run", locale="en_US")
    assert "over the files delivered 2025-03-01 .. 2025-03-10 (10 days)" in run.stdout
    # every DuckDB file was closed before the process ended (its exit skips the interpreter's
    # teardown, which would close a forgotten connection): no write-ahead log is left
    assert not list(data.rglob("*.wal"))
    with duckdb.connect(str(data / "warehouse" / "build.duckdb"), read_only=True) as con:
        orders = con.execute("select count(*) from raw.orders").fetchall()[0][0]
        gmv = con.execute(
            "select value from kpi.fct_kpi_values where kpi_id = 'gmv' and grain = 'day' "
            "and dimension = 'total' and period_start = date '2025-03-10'"
        ).fetchall()[0][0]
    assert f"{orders:,}" in run.stdout  # the summary table reports the loaded rows
    # Dagster's and dbt's lines are in the run's log file, which the run names
    [log] = (data / "logs").glob("run-*.log")
    text = log.read_text(encoding="utf-8")
    assert str(log) in "".join(run.stdout.split())
    assert text.count("dbt build (the KPI tree)") == 1  # each line once
    assert " - dagster - " in text and " - dagster - " not in run.stdout + run.stderr

    quarantine = kpi(data, "quarantine")
    for fault in manifest["row_faults"]:
        assert fault["file"] in quarantine.stdout

    tree = kpi(data, "tree", "--date", "2025-03-10")
    gmv_line = next(line for line in tree.stdout.splitlines() if "交易额 GMV" in line)
    assert Formats().value(gmv, "money") in gmv_line  # the default: CNY, zh_CN

    info = kpi(data, "serve-info")
    assert "kpi.duckdb" in info.stdout and "publication_log" in info.stdout


def test_bad_arguments_get_a_clear_message(tmp_path):
    out = kpi(tmp_path, "generate", "--fault", "gremlins", check=False, locale="en_US")
    assert out.returncode != 0
    assert "unknown fault 'gremlins'" in out.stdout + out.stderr
    # a mistyped data directory: one message that says what to do, no traceback
    empty = kpi(tmp_path / "nothing", "run", check=False, locale="en_US")
    assert empty.returncode == 2
    said = empty.stdout + empty.stderr
    assert "No landing files under" in said and "kpi generate" in said
    assert "Traceback" not in said and len(said.strip().splitlines()) <= 3, said
