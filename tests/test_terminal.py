"""The terminal at 80 columns, read as a person reads it (tmux): `kpi targets show`, `kpi
tree`, `kpi status` and the end of `kpi run` with every amount whole and no row wrapped, in
the shop's language; the run's progress on screen and its logs in a file, not on the
terminal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest
from conftest import accept_sample_gap
from rich.cells import cell_len

from kpi_tree.formats import Formats
from kpi_tree.model import default_tree
from pipelines.cli.tree import title
from pipelines.i18n import _, use
from pipelines.publish.serving import serving_db

ROOT = Path(__file__).resolve().parent.parent


def _in_tmux(
    data_dir: Path, *args: str, timeout: float = 900, locale: str | None = None
) -> tuple[str, int]:
    """Run `kpi ARGS` in a detached tmux window of 80 x 50 (in ``locale``, else the shop's);
    the whole pane (its scrollback too) and the exit status."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: apt-get install tmux")
    name = f"kpi-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-L", name]  # a server of its own: nothing of another session leaks in
    done = data_dir.parent / f"{name}.rc"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPI_", "COLUMNS"))}
    command = " ".join(
        [
            f"cd {ROOT} &&",
            "env -u KPI_CONFIG -u KPI_LOCALE",
            *([f"KPI_LOCALE={locale}"] if locale else []),
            f"KPI_DATA_DIR={data_dir}",
            sys.executable,
            "-m pipelines.cli",
            *args,
            f"; echo $? > {done}",
        ]
    )
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", name, "-x", "80", "-y", "50"],
        check=True,
        env={**env, "TERM": "xterm-256color"},
    )
    try:
        subprocess.run([*tmux, "set-option", "-t", name, "history-limit", "20000"], check=True)
        subprocess.run([*tmux, "send-keys", "-t", name, command, "Enter"], check=True)
        deadline = time.monotonic() + timeout
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(1)
        assert done.exists(), f"`kpi {' '.join(args)}` did not finish in {timeout} s"
        time.sleep(0.5)
        pane = subprocess.run(
            [*tmux, "capture-pane", "-p", "-S", "-", "-t", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return pane, int(done.read_text().strip())
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)  # our own server (-L)


def test_targets_show_at_80_columns_has_every_amount_whole(built_shop):
    settings = built_shop.settings
    end = built_shop.end
    pane, code = _in_tmux(built_shop.data_dir, "targets", "show", "--date", end.isoformat())
    assert code == 0, pane
    assert "…" not in pane, pane
    # every KPI's actual and paced target, by a plain query, written as the shop writes them
    with duckdb.connect(str(serving_db(settings)), read_only=True) as con:
        rows = con.execute(
            "select v.actual, v.paced_target, n.unit from kpi_tree.kpi_vs_target v "
            "join kpi_tree.kpi_nodes n using (kpi_id) where v.as_of_day = ? "
            "and v.period_grain = 'month' and v.scope = 'all' and v.actual is not null",
            [end],
        ).fetchall()
    assert rows
    for actual, paced, unit in rows:
        assert settings.formats.value(actual, unit) in pane, (actual, unit, pane)
        if paced is not None:
            assert settings.formats.value(paced, unit) in pane, (paced, unit, pane)


def test_kpi_run_at_80_columns_shows_progress_and_a_whole_summary(shop_copy):
    end = shop_copy.end
    accept_sample_gap(shop_copy)  # the sample's missing sessions day is earlier
    pane, code = _in_tmux(shop_copy.data_dir, "run", "--date", end.isoformat())
    # the last day alone: every unit publishes
    assert code == 0, pane
    assert "…" not in pane, pane
    assert "Traceback" not in pane
    # Dagster's and dbt's lines went to the log file the run names, not to the terminal
    logs = sorted((shop_copy.data_dir / "logs").glob("run-*.log"))
    assert len(logs) == 1
    log = logs[0]
    assert str(log) in "".join(pane.split())  # (a long path wraps at the 80th column)
    text = log.read_text(encoding="utf-8")
    assert text.count("dbt build (the KPI tree)") == 1 and " - dagster - " in text
    assert " - dagster - " not in pane and "dbt build" not in pane
    # the summary: each unit and what became of it, and the rows loaded by a plain query
    for unit in ("management", "marketing", "operations", "service", "logistics"):
        assert unit in pane
    with shop_copy.connect() as con:
        (orders,) = con.execute("select count(*) from raw.orders").fetchall()[0]
    assert f"{orders:,}" in pane


def _rows_under_rule(pane: str, count: int) -> list[str]:
    """The ``count`` lines under the first table's heading rule."""
    lines = pane.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.strip().startswith("───"))
    return lines[rule + 1 : rule + 1 + count]


@pytest.mark.parametrize("locale", ["zh_CN", "en_US"])
def test_kpi_tree_at_80_columns_is_one_row_a_node_with_compact_amounts(built_shop, locale):
    end = built_shop.end
    pane, code = _in_tmux(built_shop.data_dir, "tree", "--date", end.isoformat(), locale=locale)
    assert code == 0, pane
    assert all(cell_len(line) <= 80 for line in pane.splitlines())
    # the title is one line, whole (a wrapped title ends the first line short of its month)
    with use(locale):
        heading = title(end, end.replace(day=1))
    assert heading in [line.strip() for line in pane.splitlines()], pane
    tree = default_tree()
    nodes = [node for _depth, node in tree.depth_first()]
    rows = _rows_under_rule(pane, len(nodes))
    # every node's day and month, by a plain query, compact as the locale writes them
    with built_shop.connect() as con:
        values = {
            (kpi, grain): value
            for kpi, grain, value in con.execute(
                # a provisional value is shown as its expected final value where it has one
                "select kpi_id, grain, case when is_provisional and expected_value is not null "
                "then expected_value else value end from kpi.fct_kpi_values "
                "where dimension = 'total' "
                "and ((grain = 'day' and period_start = ?) or (grain = 'month' and "
                "period_start = ?))",
                [end, end.replace(day=1)],
            ).fetchall()
        }
    formats = Formats(built_shop.settings.formats.currency, locale)
    compacted = 0
    for node, row in zip(nodes, rows, strict=True):
        name = node.zh if locale == "zh_CN" else node.en
        # the row is the node's (its name, cut short at most), on one line with both values
        assert name[:6] in row, (node.id, row)
        for grain in ("day", "month"):
            written = formats.compact(values.get((node.id, grain)), node.unit)
            assert written in row, (node.id, grain, written, row)
            compacted += written != formats.value(values.get((node.id, grain)), node.unit)
        team = tree.teams[node.team]["zh" if locale == "zh_CN" else "en"]
        shown = row.rstrip().rsplit("  ", 1)[-1].strip()  # the last cell: the team, or its start
        assert shown == team or (shown.endswith("…") and team.startswith(shown[:-1])), row
    assert compacted  # the month's amounts are big enough to be written short
    big = "万" if locale == "zh_CN" else "K"
    assert big in pane


@pytest.mark.parametrize("locale", ["zh_CN", "en_US"])
def test_kpi_status_at_80_columns_has_every_count_whole_in_the_shops_language(built_shop, locale):
    pane, code = _in_tmux(built_shop.data_dir, "status", locale=locale)
    assert code == 0, pane
    assert "…" not in pane, pane
    assert all(cell_len(line) <= 80 for line in pane.splitlines())
    tree = default_tree()
    lang = "zh" if locale == "zh_CN" else "en"
    with use(locale):
        headings = [_("source"), _("rows"), _("quarantined")]
    assert all(heading in pane for heading in headings), pane
    with built_shop.connect() as con:
        for source, info in tree.sources.items():
            (rows,) = con.execute(f"select count(*) from raw.{source}").fetchall()[0]
            # the source by its name in the shop's language, its rows whole, on its own line
            # (English names it by its id, what `--source` takes)
            name = info["zh"] if lang == "zh" else source
            line = next(line for line in pane.splitlines() if f" {name} " in line)
            assert f"{rows:,}" in line.split(), (source, rows, line)
