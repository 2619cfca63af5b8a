"""The serving file as BI tools read it: old DuckDB readers, money, descriptions, names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from kpi_tree.model import default_tree
from kpi_tree.units import team_units
from pipelines.publish.serving import serving_db

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"
#: DuckDB releases BI tools bundle today (issue 43: 1.1.3 and 1.4.1 could not open the file)
OLD_READERS = ("1.1.3", "1.4.1")
#: the money columns of each team's mart, by hand from tree.yaml: sums of money, and the
#: money parts of rates (AOV's GMV, ROAS's GMV and ad spend, ...); rates stay floating
MONEY_COLUMNS = {
    "management": {"net_revenue", "gmv"},
    "marketing": {
        "ad_spend", "cpm__numerator", "cpc__numerator", "roas__numerator", "roas__denominator",
    },
    "operations": {"aov__numerator"},
    "service": set(),
    "logistics": {
        "signoff_rate__numerator", "signoff_rate__denominator",
        "refund_rate__numerator", "refund_rate__denominator",
    },
}  # fmt: skip

READ_ALL = r"""
import hashlib, json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
out = {"version": duckdb.__version__, "relations": {}}
for schema, name in con.execute(
    "select table_schema, table_name from information_schema.tables order by 1, 2"
).fetchall():
    rows = sorted(repr(r) for r in con.execute(f'select * from "{schema}"."{name}"').fetchall())
    types = con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where schema_name = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    out["relations"][f"{schema}.{name}"] = {
        "rows": len(rows),
        "digest": hashlib.sha256("\n".join(rows).encode()).hexdigest(),
        "types": dict(types),
    }
out["commented_columns"] = con.execute(
    "select count(*) from duckdb_columns() where not internal and comment is not null"
).fetchall()[0][0]
print(json.dumps(out))
"""


def old_duckdb(version: str) -> Path:
    """A Python with DuckDB ``version`` in its own environment under .tools/ (made once with
    uv, then reused)."""
    env = ROOT / ".tools" / f"duckdb-{version}"
    python = env / "bin" / "python"
    if python.exists():
        return python
    if not UV.exists():
        pytest.fail(f"{UV} is missing: run `make env`")
    tmp = env.with_name(f"{env.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    run = {
        "check": True,
        "capture_output": True,
        "env": {**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    }
    subprocess.run([str(UV), "venv", "-q", "--python", sys.executable, str(tmp)], **run)
    subprocess.run(
        [str(UV), "pip", "install", "-q", "--python", str(tmp / "bin" / "python"),
         f"duckdb=={version}"],
        **run,
    )  # fmt: skip
    os.replace(tmp, env)
    return python


def read_all(python: str | Path, path: Path) -> dict:
    done = subprocess.run(
        [str(python), "-c", READ_ALL, str(path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("version", OLD_READERS)
def test_an_older_duckdb_opens_the_serving_file_and_reads_every_table(published_shop, version):
    path = serving_db(published_shop.settings)
    old = read_all(old_duckdb(version), path)
    new = read_all(sys.executable, path)
    assert old["version"] == version and new["version"].startswith("2.")
    assert set(old["relations"]) == set(new["relations"])
    assert len(old["relations"]) > 30
    for name, seen in new["relations"].items():
        # the same rows, read by the older DuckDB
        assert old["relations"][name]["rows"] == seen["rows"], name
        assert old["relations"][name]["digest"] == seen["digest"], name
    assert old["relations"]["marketing.marketing_kpis"]["types"]["ad_spend"] == "DECIMAL(18,2)"
    assert old["commented_columns"] == new["commented_columns"] > 500


def test_money_is_decimal_to_the_cent_and_rates_stay_floating(published_shop):
    tree = default_tree()
    keys = ("grain", "period_start", "dimension", "member")
    with duckdb.connect(str(serving_db(published_shop.settings)), read_only=True) as serving:
        with published_shop.connect() as build:
            for unit in team_units(tree):
                mart = f"{unit}.{unit}_kpis"
                types = dict(
                    serving.execute(
                        "select column_name, data_type from duckdb_columns() "
                        "where schema_name = ? and table_name = ?",
                        [unit, f"{unit}_kpis"],
                    ).fetchall()
                )
                assert {c for c, t in types.items() if t == "DECIMAL(18,2)"} == MONEY_COLUMNS[unit]
                for column in MONEY_COLUMNS[unit]:
                    sql = f"select {', '.join(keys)}, {column} from {mart}"
                    built = {r[:4]: r[4] for r in build.execute(sql).fetchall()}
                    served = {r[:4]: r[4] for r in serving.execute(sql).fetchall()}
                    assert served.keys() == built.keys() and built
                    for key, value in built.items():
                        want = None if value is None else Decimal(f"{value:.2f}")
                        assert served[key] == want, (mart, column, key)
                rates = [c for c, t in types.items() if t == "DOUBLE"]
                if unit == "operations":
                    assert {"aov", "conversion_rate"} <= set(rates)
        # the long tables hold every KPI: a money KPI's rows are rounded to the cent, a rate's
        # rows are the build's to the last bit
        sql = (
            "select kpi_id, grain, period_start, dimension, member, value, numerator, denominator "
            "from kpi.fct_kpi_values where kpi_id in ('gmv', 'aov', 'conversion_rate')"
        )
        with published_shop.connect() as build:
            built = {r[:5]: r[5:] for r in build.execute(sql).fetchall()}
        served_sql = sql.replace("kpi.fct_kpi_values", "kpi_tree.kpi_values")
        served = {r[:5]: r[5:] for r in serving.execute(served_sql).fetchall()}
        assert served.keys() == built.keys()
        for key, (value, numerator, denominator) in built.items():
            got = served[key]
            if key[0] == "gmv":
                assert got[0] == round(value, 2) and got[1] == round(numerator, 2), key
            elif key[0] == "aov":  # money per order: a ratio, floating; its GMV is money
                assert got[0] == value and got[1] == round(numerator, 2), key
                assert got[2] == denominator
            else:
                assert got == (value, numerator, denominator), key
        # as a BI tool shows them: no 1016633.6499999999
        for (paced,) in serving.execute(
            "select paced_target from kpi_tree.kpi_vs_target where kpi_id = 'gmv'"
        ).fetchall():
            assert len(repr(paced).split(".")[-1]) <= 2
        # the identity still holds in the published numbers: GMV = sessions × CVR × AOV
        rows = serving.execute(
            "select g.gmv, s.sessions, o.conversion_rate, o.aov "
            "from management.management_kpis g "
            "join marketing.marketing_kpis s using (grain, period_start, dimension, member) "
            "join operations.operations_kpis o using (grain, period_start, dimension, member) "
            "where g.grain = 'month' and g.dimension = 'total'"
        ).fetchall()
    assert rows
    for gmv, sessions, cvr, aov in rows:
        assert abs(float(gmv) - sessions * cvr * aov) < 0.01


def test_every_table_view_and_column_is_described(published_shop):
    with duckdb.connect(str(serving_db(published_shop.settings)), read_only=True) as con:
        undescribed = con.execute(
            "select schema_name, view_name from duckdb_views() where not internal "
            "and coalesce(comment, '') = '' union all "
            "select schema_name, table_name from duckdb_tables() where coalesce(comment, '') = ''"
        ).fetchall()
        columns = con.execute(
            "select schema_name, table_name, column_name, comment from duckdb_columns() "
            "where not internal"
        ).fetchall()
        dictionary = {
            (s, t, c): d
            for s, t, c, d in con.execute("select * from kpi_tree.data_dictionary").fetchall()
        }
        relations = con.execute("select count(*) from information_schema.tables").fetchall()
    assert undescribed == [] and relations[0][0] > 30
    assert [c[:3] for c in columns if not c[3]] == []
    # the comments are the dictionary's entries
    for schema, table, column, comment in columns:
        assert comment in (
            dictionary.get((schema, table, column)),
            dictionary.get(("*", "*", column)),
        )
    ctr = next(c[3] for c in columns if c[:3] == ("marketing", "marketing_kpis", "ctr"))
    assert ctr == (
        "Ad click-through rate (广告点击率), ratio, owned by Marketing, higher is better: "
        "Σ ad clicks / Σ impressions."
    )


def test_the_pace_has_a_latest_view_and_names_that_cannot_be_confused(published_shop):
    units = [*team_units(default_tree()), "kpi_tree"]
    with duckdb.connect(str(serving_db(published_shop.settings)), read_only=True) as con:
        names = {
            c
            for (c,) in con.execute(
                "select column_name from duckdb_columns() where table_name = 'kpi_vs_target'"
            ).fetchall()
        }
        assert "as_of_day" in names and "data_through" in names and "as_of_date" not in names
        for unit in units:
            rows = con.execute(f"select * from {unit}.kpi_vs_target").fetchall()
            cols = [d[0] for d in con.execute(f"select * from {unit}.kpi_vs_target").description]
            day, team = cols.index("as_of_day"), cols.index("team")
            newest: dict[str, object] = {}
            for r in rows:
                newest[r[team]] = max(newest.get(r[team], r[day]), r[day])
            want = sorted(r for r in rows if r[day] == newest[r[team]])
            latest = sorted(con.execute(f"select * from {unit}.kpi_vs_target_latest").fetchall())
            assert latest == want and 0 < len(latest) < len(rows), unit
        check = con.execute(
            "select count(distinct as_of_day), count(*) from kpi_tree.mid_month_check_latest"
        ).fetchall()[0]
        every_check = con.execute(
            "select count(distinct as_of_day) from kpi_tree.mid_month_check"
        ).fetchall()[0][0]
        through = con.execute("select distinct data_through from kpi_tree.kpi_values").fetchall()
    assert check[0] == 1 < every_check and check[1] > 0
    with published_shop.connect() as build:
        assert (
            through
            == build.execute("select distinct as_of_date from kpi.fct_kpi_values").fetchall()
        )
