"""Targets in the warehouse: versions, the targets in force, pace and catch-up, end to end.

The test shop (tests/conftest.py) is built by the real nightly job with the plan file
tests/plans/shop_2025.yaml in its drop folder. Expected numbers are recomputed here from the
stored day targets and from plain queries on the staging tables, not read from the mart.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from kpi_tree.formats import Formats
from kpi_tree.model import default_tree
from kpi_tree.targets.derive import identity_violations
from kpi_tree.targets.pace import Thresholds, pace
from kpi_tree.targets.split import to_cents
from pipelines.publish.serving import serving_db
from pipelines.targets.planning import version_store
from pipelines.targets.report import driver_catch_up, overall_catch_up
from tests.conftest import TEST_PLAN

AS_OF = dt.date(2025, 3, 15)  # the mid-month check day of March
MARCH = (dt.date(2025, 3, 1), dt.date(2025, 3, 31))


def _day_targets(con, version: str, kpi: str, scope: str = "all") -> dict[dt.date, float]:
    return dict(
        con.execute(
            "select period_start, value from targets.targets where version_id = ? and kpi_id = ? "
            "and scope = ? and grain = 'day' order by 1",
            [version, kpi, scope],
        ).fetchall()
    )


def _pace_row(con, kpi: str, scope: str = "all", as_of=AS_OF, period="month") -> dict:
    cur = con.execute(
        "select * from kpi.fct_kpi_vs_target where as_of_day = ? and period_grain = ? "
        "and kpi_id = ? and scope = ?",
        [as_of, period, kpi, scope],
    )
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, (kpi, scope, rows)
    return dict(zip(names, rows[0], strict=True))


def test_the_nightly_run_versions_the_plan_file_and_loads_it(built_shop):
    store = version_store(built_shop.settings)
    versions = store.versions()
    assert [v.version_id for v in versions] == ["v2025-001"]
    v = versions[0]
    assert (v.author, v.reason, v.effective_from) == (
        "nightly run",
        "new plan file shop_2025.yaml",
        "2025-01-01",
    )
    assert v.annual_target == 5_000_000 and v.new_business == 250_000
    assert v.months_total == pytest.approx((5_000_000 - 250_000) * 1.02, abs=0.005)
    assert (store.root / "v2025-001" / "plan.yaml").read_text() == TEST_PLAN.read_text()
    stored = store.targets("v2025-001")
    with built_shop.connect() as con:
        assert con.execute("select count(*) from targets.targets").fetchall()[0][0] == len(stored)
        row = con.execute(
            "select version_id, author, effective_from from targets.plan_versions"
        ).fetchall()
        assert row == [("v2025-001", "nightly run", dt.date(2025, 1, 1))]
    with duckdb.connect(str(serving_db(built_shop.settings)), read_only=True) as serving:
        published = serving.execute("select count(*) from kpi_tree.targets").fetchall()[0][0]
        assert published == len(stored)


def test_every_split_adds_up_and_the_tree_identities_hold(built_shop):
    tree = default_tree()
    with built_shop.connect() as con:
        rows = con.sql("select * from targets.targets").pl()
    top = rows.filter(pl.col("kpi_id") == "net_revenue", pl.col("scope") == "all")
    cents = lambda frame: sum(to_cents(v) for v in frame["value"])  # noqa: E731
    # the months add up to (1 + buffer) x (annual - new business), to the fen
    months = top.filter(pl.col("grain") == "month")
    assert len(months) == 12
    assert cents(months) == to_cents((5_000_000 - 250_000) * 1.02)
    # each month's days add up to the month, to the fen
    days = top.filter(pl.col("grain") == "day")
    for month in months.iter_rows(named=True):
        inside = days.filter(
            pl.col("period_start").is_between(month["period_start"], month["period_end"])
        )
        assert cents(inside) == to_cents(month["value"]), month["period"]
    # the channel allocation (weights adding up to 1) adds up to GMV in every month
    gmv = rows.filter(pl.col("kpi_id") == "gmv", pl.col("grain") == "month")
    for month in gmv.filter(pl.col("scope") == "all").iter_rows(named=True):
        parts = gmv.filter(
            pl.col("scope").str.starts_with("channels:"), pl.col("period") == month["period"]
        )
        assert len(parts) == 5
        assert cents(parts) == to_cents(month["value"])
    # the regions have targets but no actuals: they are not paced
    regions = rows.filter(pl.col("scope").str.starts_with("regions:"))
    assert regions["dimension"].null_count() == len(regions) > 0
    # every day's derived targets satisfy every identity of the tree
    for day, group in rows.filter(pl.col("grain") == "day", pl.col("scope") == "all").group_by(
        "period_start"
    ):
        values = dict(zip(group["kpi_id"], group["value"], strict=True))
        assert identity_violations(tree, values) == [], day
        # sessions needed = GMV / (conversion x AOV): the seed's 精确算出所需流量
        assert values["sessions"] == pytest.approx(
            values["gmv"] / (values["conversion_rate"] * values["aov"]), rel=1e-9
        )


@pytest.mark.parametrize(
    ("kpi", "scope", "actual_sql"),
    [
        (
            "gmv",
            "all",
            "select sum(amount) from staging.stg_shop__orders where business_date between ? and ?",
        ),
        (
            "gmv",
            "channels:organic",
            "select sum(amount) from staging.stg_shop__orders "
            "where channel = 'organic' and business_date between ? and ?",
        ),
        (
            "conversion_rate",
            "all",
            "select (select count(*) from staging.stg_shop__orders where business_date between $1 "
            "and $2) / (select sum(sessions) from staging.stg_shop__sessions "
            "where business_date between $1 and $2)",
        ),
        (
            "cpc",
            "all",
            "select sum(spend) / sum(clicks) from staging.stg_shop__ad_spend "
            "where business_date between ? and ?",
        ),
    ],
)
def test_pace_matches_an_independent_computation(built_shop, kpi, scope, actual_sql):
    tree = default_tree()
    node = tree.nodes[kpi]
    with built_shop.connect() as con:
        row = _pace_row(con, kpi, scope)
        days = _day_targets(con, "v2025-001", kpi, scope)
        actual = float(con.execute(actual_sql, [MARCH[0], AS_OF]).fetchall()[0][0])
    march = {d: v for d, v in days.items() if MARCH[0] <= d <= MARCH[1]}
    assert len(march) == 31
    assert row["actual"] == pytest.approx(actual, rel=1e-9)
    assert (row["days_elapsed"], row["days_left"]) == (15, 16)
    assert row["version_id"] == "v2025-001"
    if node.kind == "sum":
        # paced by the target's own day weights, not a straight line
        expected = pace(sum(march.values()), actual, march, AS_OF, Thresholds(), node.direction)
        assert row["target"] == pytest.approx(expected.target, rel=1e-9)
        assert row["paced_target"] == pytest.approx(expected.paced_target, rel=1e-9)
        assert row["paced_target"] != pytest.approx(row["target"] * 15 / 31, rel=1e-3)
        assert row["projected"] == pytest.approx(expected.projected, rel=1e-9)
        assert row["needed_remaining"] == pytest.approx(expected.target - actual, rel=1e-9)
    else:
        # a rate's target holds every day: the plan's (or trailing) rate
        rate = next(iter(march.values()))
        assert all(v == pytest.approx(rate, rel=1e-12) for v in march.values())
        expected_att = actual / rate if node.direction == "higher" else rate / actual
        expected = type("P", (), {"attainment": expected_att})()
        assert row["paced_target"] == pytest.approx(rate, rel=1e-9)
        assert row["projected"] == pytest.approx(actual, rel=1e-9)
    assert row["attainment"] == pytest.approx(expected.attainment, rel=1e-9)
    assert row["status"] == Thresholds().status(expected.attainment)
    assert row["gap"] == pytest.approx(actual - row["paced_target"], rel=1e-9, abs=1e-9)


def _pace_rows_before(con, day: dt.date) -> list[tuple]:
    """Every pace row as of the days before ``day``, every column, in a fixed order."""
    return con.execute(
        "select * from kpi.fct_kpi_vs_target where as_of_day < ? "
        "order by as_of_day, period_grain, kpi_id, scope",
        [day],
    ).fetchall()


def test_no_catch_up_factor_when_nothing_remains(built_shop):
    """On a period's last day nothing remains to catch up on: no factor (not a float residue's
    1e13), no days left; the day before still has one."""
    with built_shop.connect() as con:
        for day in (dt.date(2025, 2, 28), dt.date(2025, 3, 31)):
            for kpi in ("gmv", "net_revenue", "orders"):
                row = _pace_row(con, kpi, as_of=day)
                assert (row["days_left"], row["catch_up_factor"]) == (0, None), (kpi, day)
                assert row["planned_remaining"] in (0, None)
            row = _pace_row(con, "gmv", as_of=day - dt.timedelta(days=1))
            last = _day_targets(con, "v2025-001", "gmv")[day]
            assert row["days_left"] == 1
            assert row["planned_remaining"] == pytest.approx(last, rel=1e-12)
            assert row["catch_up_factor"] == pytest.approx(
                row["needed_remaining"] / last, rel=1e-12
            )


def test_the_mid_month_check_is_the_fifteenth(built_shop):
    with built_shop.connect() as con:
        days = con.execute(
            "select distinct as_of_day from kpi.mid_month_check order by 1"
        ).fetchall()
    assert [d for (d,) in days] == [
        dt.date(2025, 1, 15),
        dt.date(2025, 2, 15),
        dt.date(2025, 3, 15),
    ]


def test_catch_up_applied_to_the_remaining_days_lands_on_the_target(built_shop):
    tree = default_tree()
    with duckdb.connect(str(serving_db(built_shop.settings)), read_only=True) as con:
        for kpi in ("net_revenue", "gmv"):
            overall = overall_catch_up(con, AS_OF, "month", kpi)
            c = overall.result
            assert sorted(c.days) == [AS_OF + dt.timedelta(days=i) for i in range(1, 17)]
            day_cents = {
                d: to_cents(v)
                for d, v in con.execute(
                    "select period_start, target from kpi_tree.targets_in_force where grain = "
                    "'day' and kpi_id = ? and scope = 'all' and period_start between ? and ?",
                    [kpi, *MARCH],
                ).fetchall()
            }
            # actual + what the remaining days need == the month's target, to the fen
            assert to_cents(overall.row["actual"]) + sum(c.days.values()) == sum(day_cents.values())
            assert c.needed > 0  # the test shop is behind its plan
        # one driver at its run rate: the others' required values land exactly on the target
        results = driver_catch_up(con, tree, AS_OF, "month", "net_revenue")
        assert {tuple(r.held) for r in results} == {("gmv",), ("signoff_rate",)}
        top = overall_catch_up(con, AS_OF, "month", "net_revenue").row
        for r in results:
            landed = top["actual"] + math.prod(r.held.values()) * math.prod(r.required.values())
            assert landed == pytest.approx(top["target"], rel=1e-9)


def test_a_new_version_leaves_past_days_untouched(shop_copy, monkeypatch):
    """A version made mid-month changes the days from its effective date on; the old version's
    targets stay stored and queryable; a changed plan file becomes a version by itself."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    settings = shop_copy.settings
    store = version_store(settings)
    v1_rows = store.targets("v2025-001")
    with shop_copy.connect() as con:
        before = {
            d: _pace_row(con, "gmv", as_of=d)["paced_target"]
            for d in (dt.date(2025, 3, 10), dt.date(2025, 3, 20))
        }
        earlier_rows = _pace_rows_before(con, dt.date(2025, 3, 16))
    # a manager raises the year from 16 March on (docs/domain.md, seed 001: who, when, why)
    raised = yaml.safe_load(TEST_PLAN.read_text())
    raised["target"]["annual"] = 6_000_000
    raised_file = shop_copy.data_dir / "raised.yaml"
    raised_file.write_text(yaml.safe_dump(raised))
    monkeypatch.setenv("KPI_DATA_DIR", str(shop_copy.data_dir))
    result = CliRunner().invoke(
        app,
        [
            "targets",
            "plan",
            str(raised_file),
            "--author",
            "wang.li",
            "--reason",
            "board raised the year after Q1 review",
            "--effective-from",
            "2025-03-16",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Stored version v2025-002 by wang.li, in force from 2025-03-16" in result.output
    # the drop folder's plan changes too: the next run versions it from the first unjudged day
    dropped = settings.targets_dir / "plans" / TEST_PLAN.name
    changed = yaml.safe_load(dropped.read_text())
    changed["drivers"]["conversion_rate"] = 0.035
    dropped.write_text(yaml.safe_dump(changed))
    outcome = shop_copy.run(shop_copy.end, shop_copy.end)
    assert outcome.ok, outcome.error

    versions = {v.version_id: v for v in store.versions()}
    assert list(versions) == ["v2025-001", "v2025-002", "v2025-003"]
    assert versions["v2025-003"].reason == "plan file shop_2025.yaml changed"
    assert (
        versions["v2025-003"].effective_from == (shop_copy.end + dt.timedelta(days=1)).isoformat()
    )
    # nothing is overwritten: version 1's targets are exactly as they were
    assert store.targets("v2025-001").equals(v1_rows)
    with shop_copy.connect() as con:
        v1 = _day_targets(con, "v2025-001", "gmv")
        v2 = _day_targets(con, "v2025-002", "gmv")
        v3 = _day_targets(con, "v2025-003", "gmv")
        in_force = dict(
            con.execute(
                "select period_start, target from kpi.fct_targets where grain = 'day' "
                "and kpi_id = 'gmv' and scope = 'all'"
            ).fetchall()
        )
        for day, value in in_force.items():
            if day < dt.date(2025, 3, 16):
                assert value == v1[day], day
            elif day <= shop_copy.end:
                assert value == v2[day], day
            else:
                assert value == v3[day], day
        assert v2[dt.date(2025, 3, 20)] > v1[dt.date(2025, 3, 20)]
        march = con.execute(
            "select target, versions_in_force, version_id from kpi.fct_targets "
            "where grain = 'month' and period_start = '2025-03-01' and kpi_id = 'gmv' "
            "and scope = 'all'"
        ).fetchall()[0]
        stitched = sum(v1[d] for d in v1 if MARCH[0] <= d < dt.date(2025, 3, 16)) + sum(
            v2[d] for d in v2 if dt.date(2025, 3, 16) <= d <= MARCH[1]
        )
        assert march[0] == pytest.approx(stitched, rel=1e-12)
        assert march[1:] == (2, "v2025-002")
        # the pace before the change is what it was; after it, the new version's
        after = {d: _pace_row(con, "gmv", as_of=d)["paced_target"] for d in before}
        assert after[dt.date(2025, 3, 10)] == pytest.approx(before[dt.date(2025, 3, 10)], rel=1e-12)
        assert after[dt.date(2025, 3, 20)] > before[dt.date(2025, 3, 20)]
        # every pace row as of a day before the new version is exactly as it was: its month
        # target, projection and catch-up are those of the version in force that day
        assert len(earlier_rows) > 1000
        assert _pace_rows_before(con, dt.date(2025, 3, 16)) == earlier_rows
        on_10th = _pace_row(con, "gmv", as_of=dt.date(2025, 3, 10))
        assert on_10th["version_id"] == "v2025-001"
        assert on_10th["target"] == pytest.approx(sum(v1[d] for d in v1 if d.month == 3), rel=1e-12)
        on_20th = _pace_row(con, "gmv", as_of=dt.date(2025, 3, 20))
        assert on_20th["version_id"] == "v2025-002"
        assert on_20th["target"] == pytest.approx(stitched, rel=1e-12)
        assert con.execute("select count(*) from targets.plan_versions").fetchall()[0][0] == 3


def test_plan_command_explains_and_refuses_what_it_cannot_store(built_shop, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipelines.cli import app

    data = tmp_path / "data"
    shutil.copytree(built_shop.data_dir / "warehouse", data / "warehouse")
    runner = CliRunner()
    monkeypatch.setenv("KPI_DATA_DIR", str(data))
    base = ["targets", "plan", str(TEST_PLAN)]
    dry = runner.invoke(app, [*base, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "¥5,000,000.00" in dry.output and "2025-12" in dry.output
    assert "channels:organic" in dry.output and "(targets only)" in dry.output
    assert "nothing stored" in dry.output
    no_reason = runner.invoke(app, base)
    assert no_reason.exit_code == 2
    assert "--reason is required" in " ".join(no_reason.output.split())
    bad = Path(tmp_path / "bad.yaml")
    plan = yaml.safe_load(TEST_PLAN.read_text())
    plan["allocations"][0]["dimension"] = "carrier"
    bad.write_text(yaml.safe_dump(plan))
    refused = runner.invoke(app, ["targets", "plan", str(bad), "--dry-run"])
    assert refused.exit_code == 2
    said = " ".join(refused.output.split())  # the error console wraps long lines
    assert "bad.yaml: allocations[0].dimension: 'gmv' cannot be sliced by 'carrier'" in said
    assert said.count(str(bad)) == 1


def test_plan_command_speaks_the_shops_language(built_shop, tmp_path):
    """`kpi targets plan --dry-run` in a Chinese shop (a process of its own: the CLI takes the
    shop's locale when it starts): the KPIs, teams, dimension members and headings in
    Chinese, the year's amount whole."""
    data = tmp_path / "data"
    shutil.copytree(built_shop.data_dir / "warehouse", data / "warehouse")
    env = {**os.environ, "KPI_DATA_DIR": str(data), "COLUMNS": "200", "KPI_LOCALE": "zh_CN"}
    out = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "targets", "plan", str(TEST_PLAN), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    tree = default_tree()
    assert Formats(built_shop.settings.formats.currency, "zh_CN").money(5_000_000) in text
    for kpi_id in ("net_revenue", "gmv", "sessions"):
        assert tree.nodes[kpi_id].zh in text, kpi_id
    assert tree.teams["marketing"]["zh"] in text
    organic = built_shop.settings.vocabulary.label("channel", "organic", "zh")
    assert organic != "organic" and organic in text
    # the table's own words are Chinese: none of the English headings or notes is left
    for english in ("target", "upside", "total", "allocation", "trailing", "driver", "month"):
        assert english not in text.lower(), english


def test_show_and_catch_up_print_the_published_pace(built_shop, monkeypatch):
    from typer.testing import CliRunner

    from pipelines.cli import app

    monkeypatch.setenv("KPI_DATA_DIR", str(built_shop.data_dir))
    runner = CliRunner()
    with duckdb.connect(str(serving_db(built_shop.settings)), read_only=True) as con:
        gmv, status, held = con.execute(
            "select actual, status, (select count(*) from kpi_tree.kpi_vs_target where "
            "team in ('marketing', 'operations')) from kpi_tree.kpi_vs_target where as_of_day = ? "
            "and period_grain = 'month' and kpi_id = 'gmv' and scope = 'all'",
            [AS_OF],
        ).fetchall()[0]
    assert held == 0  # their gates failed: their pace is not published
    show = runner.invoke(app, ["targets", "show", "--date", AS_OF.isoformat()])
    assert show.exit_code == 0, show.output
    assert "Month to date on 2025-03-15: 2025-03-01 .. 2025-03-31, day 15 of 31" in show.output
    gmv_line = next(line for line in show.output.splitlines() if "GMV 交易额" in line)
    assert (
        built_shop.settings.formats.value(gmv, "money") in gmv_line
        and status.replace("_", " ") in gmv_line
    )
    catch = runner.invoke(app, ["targets", "catch-up", "--date", AS_OF.isoformat()])
    assert catch.exit_code == 0, catch.output
    assert "The remaining 16 days need" in catch.output
    assert "held at run rate" in catch.output
    versions = runner.invoke(app, ["targets", "versions"])
    assert "v2025-001" in versions.output and "new plan file" in versions.output


def test_targets_config_is_read_and_checked(tmp_path, monkeypatch):
    from pipelines.settings import load_settings

    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "a.yaml").write_text("year: 2026\n")
    config = tmp_path / "kpi.yaml"
    config.write_text(
        "targets:\n  plans: [plans/*.yaml]\n  on_track: 0.98\n  at_risk: 0.85\n"
        "  mid_month_day: 14\n  author: planning team\n"
    )
    monkeypatch.setenv("KPI_CONFIG", str(config))
    s = load_settings(tmp_path / "data")
    assert (s.targets.on_track, s.targets.at_risk, s.targets.mid_month_day) == (0.98, 0.85, 14)
    assert s.targets.author == "planning team"
    assert s.plan_files() == [plans / "a.yaml"]  # relative to the config file
    for bad, place in [
        ("targets:\n  on_track: 0.8\n  at_risk: 0.9\n", "targets.at_risk: "),
        ("targets:\n  mid_month_day: 31\n", "targets.mid_month_day: "),
        ("targets:\n  pace: 1\n", "targets.pace: "),
    ]:
        config.write_text(bad)
        with pytest.raises(ValueError, match=re.escape(place)):
            load_settings(tmp_path / "data")
    config.write_text("targets:\n  plans: [missing.yaml]\n")
    with pytest.raises(FileNotFoundError, match="no such plan file"):
        load_settings(tmp_path / "data").plan_files()
    # without a config, the drop folder under the data directory
    monkeypatch.delenv("KPI_CONFIG")
    monkeypatch.chdir(tmp_path / "plans")
    default = load_settings(tmp_path / "data")
    assert default.plan_files() == []
    (tmp_path / "data" / "targets" / "plans").mkdir(parents=True)
    (tmp_path / "data" / "targets" / "plans" / "b.yaml").write_text("year: 2026\n")
    assert [p.name for p in default.plan_files()] == ["b.yaml"]
