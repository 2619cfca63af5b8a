"""The MetricFlow semantic layer generated from the tree: what the generator writes, and on
the built sample shop, `mf validate-configs` and `mf query` against the published KPI values
(every KPI by day, week and month, total and per dimension), the identities, month to date
and the targets."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from kpi_tree.dbt_export import DBT_PROJECT_DIR
from kpi_tree.model import TREE_FILE, default_tree, parse_tree
from kpi_tree.semantic_layer import (
    SemanticLayerError,
    complete_parts,
    cross_fact_ratios,
    metrics,
    omissions,
    render_files,
    semantic_models,
    write_semantic_layer,
    zero_on,
)

REL = 1e-9
GRAINS = ("day", "week", "month")
MF = Path(sys.executable).with_name("mf")
BATCH = Path(__file__).with_name("mf_batch.py")


def close(a: float, b: float, rel: float = REL) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def by_name(tree=None) -> dict[str, dict]:
    return {m["name"]: m for m in metrics(tree or default_tree())}


# --- the generator -----------------------------------------------------------------------------


def test_every_node_is_a_metric_with_its_month_to_date_and_target_or_a_stated_omission():
    tree = default_tree()
    named = by_name(tree)
    left_out = {o.name for o in omissions(tree)}
    for node in tree.nodes.values():
        metric = named[node.id]
        assert metric["config"]["meta"]["team"] == node.team
        if node.kind == "sum":
            assert metric["type"] == "simple"
            assert metric["type_params"]["measure"]["name"] == node.numerator
        elif node in cross_fact_ratios(tree):
            # orders / sessions: a derived metric whose numerator is 0 where the slice has
            # sessions but no orders, if the shop delivers orders (else unknown), of the
            # parts on the days both are there (each on its own fact)
            fact, zero = zero_on(node, tree)
            assert fact == tree.measures[str(node.denominator)].fact
            assert metric["type"] == "derived"
            parts = complete_parts(node, tree)
            assert {m["name"] for m in metric["type_params"]["metrics"]} == {
                parts["numerator"][1],
                parts["denominator"][1],
                zero,
            }
            assert parts["numerator"][0] == tree.measures[str(node.numerator)].fact
            assert parts["denominator"][0] == fact
        elif node.kind == "ratio" and node.scale == 1:
            assert metric["type"] == "ratio"
            assert (metric["type_params"]["numerator"], metric["type_params"]["denominator"]) == (
                node.numerator,
                node.denominator,
            )
        elif node.kind == "ratio":
            assert metric["type"] == "derived"  # CPM: 1000 × spend / impressions
            assert {m["name"] for m in metric["type_params"]["metrics"]} == {
                node.numerator,
                node.denominator,
            }
        assert f"{node.id}_target" in named
        assert (f"{node.id}_mtd" in named) != (f"{node.id}_mtd" in left_out)
    # a percentile is a percentile measure of its fact, computed from the period's rows
    p90 = tree.nodes["first_response_p90"]
    measures = {m["name"]: m for sm in semantic_models(tree) for m in sm["measures"]}
    assert measures[p90.id]["agg"] == "percentile"
    assert measures[p90.id]["agg_params"]["percentile"] == p90.quantile
    assert left_out == {"first_response_p90_mtd"}
    # each identity of the tree is a derived metric of its children
    for parent, relation, kids in tree.identities():
        identity = named[f"{parent.id}_identity"]
        assert {m["name"] for m in identity["type_params"]["metrics"]} == {k.id for k in kids}
        assert ("*" in identity["type_params"]["expr"]) == (relation == "product")


def test_a_formula_changed_in_the_yaml_changes_the_generated_metrics():
    data = yaml.safe_load(TREE_FILE.read_text(encoding="utf-8"))
    data["nodes"]["cross_sell_rate"]["formula"]["scale"] = 100
    data["measures"]["multi_item_orders"]["expr"] = "case when distinct_products > 2 then 1 end"
    tree = parse_tree(data)
    metric = by_name(tree)["cross_sell_rate"]
    assert metric["type"] == "derived" and metric["type_params"]["expr"].startswith("100 * ")
    # the semantic models read the measure through the fact's view, whose SQL the tree's macro
    # generates: the YAML names the view's column, never the expression
    orders = next(sm for sm in semantic_models(tree) if sm["name"] == "orders")
    measure = next(m for m in orders["measures"] if m["name"] == "multi_item_orders")
    assert measure["expr"] == "m_multi_item_orders"
    assert by_name(default_tree())["cross_sell_rate"]["type"] == "ratio"


def test_no_metric_fills_an_unknown_with_zero():
    tree = default_tree()
    # MetricFlow's fill_nulls_with would turn a source never delivered into 0 (sign-off rate
    # 0 % for a shop without shipments): the zeros come from the views, where the shop's
    # deliveries are known
    assert not [m["name"] for m in metrics(tree) if "fill_nulls_with" in json.dumps(m)]
    assert {n.id for n in cross_fact_ratios(tree)} == {
        "signoff_rate", "conversion_rate", "click_to_session_rate", "roas", "inquiry_rate",
    }  # fmt: skip


def test_a_metric_name_two_things_would_share_is_refused_naming_the_tree():
    data = yaml.safe_load(TREE_FILE.read_text(encoding="utf-8"))
    node = dict(data["nodes"]["inquiry_rate"])
    data["nodes"]["inquiries"] = {**node, "en": "Inquiries per session"}  # a measure's name
    with pytest.raises(SemanticLayerError, match=r"tree\.yaml.*'inquiries'.*rename"):
        metrics(parse_tree(data))


def test_the_generated_files_are_rewritten_only_when_the_tree_changes(tmp_path):
    folder = tmp_path / "semantic"
    assert write_semantic_layer(default_tree(), folder)
    assert not write_semantic_layer(default_tree(), folder)
    (folder / "stale_metric.yml").write_text("metrics: []\n")
    assert write_semantic_layer(default_tree(), folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(render_files(default_tree()))
    # the generated folder of the project is git-ignored: nobody edits it by hand
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(DBT_PROJECT_DIR / "models" / "semantic" / "x.yml")],
        cwd=DBT_PROJECT_DIR,
    )
    assert ignored.returncode == 0


# --- on the built shop -------------------------------------------------------------------------


def mf_env(shop) -> dict[str, str]:
    return {**os.environ, "KPI_BUILD_DB": str(shop.settings.build_db)}


def test_mf_validate_configs_passes_against_the_built_warehouse(built_shop):
    out = subprocess.run(
        [str(MF), "validate-configs"],
        cwd=DBT_PROJECT_DIR,
        env=mf_env(built_shop),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]


def test_mf_query_gives_month_gmv_by_channel_as_the_kpi_values(built_shop, tmp_path):
    result = tmp_path / "gmv.csv"
    out = subprocess.run(
        [str(MF), "query", "--metrics", "gmv", "--group-by", "metric_time__month,channel",
         "--csv", str(result), "--quiet"],
        cwd=DBT_PROJECT_DIR, env=mf_env(built_shop), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    with result.open(newline="") as f:
        got = {
            (r["metric_time__month"][:10], r["channel"]): float(r["gmv"]) for r in csv.DictReader(f)
        }
    with built_shop.connect() as con:
        want = {
            (str(day), member): float(value)
            for day, member, value in con.execute(
                "select period_start, member, value from kpi.fct_kpi_values where kpi_id = 'gmv' "
                "and grain = 'month' and dimension = 'channel'"
            ).fetchall()
        }
    assert len(want) >= 10 and got.keys() == want.keys()
    assert all(close(got[k], want[k]) for k in want)


def ask(shop, requests: dict[tuple, dict]) -> dict[tuple, dict]:
    """MetricFlow's answers to many questions, through tests/mf_batch.py."""
    keys = list(requests)
    out = subprocess.run(
        [sys.executable, str(BATCH)],
        input=json.dumps([requests[k] for k in keys]),
        cwd=DBT_PROJECT_DIR,
        env=mf_env(shop),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    results = dict(zip(keys, json.loads(out.stdout), strict=True))
    errors = {k: r["error"] for k, r in results.items() if "error" in r}
    assert not errors, errors
    return results


@pytest.fixture(scope="module")
def answers(built_shop):
    """Every question of the tests below, asked through MetricFlow's engine in one process
    (tests/mf_batch.py does what `mf query` does), and what the warehouse's tables say."""
    tree = default_tree()
    requests: dict[tuple, dict] = {}
    for node in tree.nodes.values():
        for grain in GRAINS:
            for dim in ("total", *node.dimensions):
                group = [f"metric_time__{grain}"] + ([] if dim == "total" else [dim])
                requests[("value", node.id, grain, dim)] = {"metrics": [node.id], "group_by": group}
        if f"{node.id}_mtd" in by_name(tree):
            requests[("mtd", node.id)] = {
                "metrics": [f"{node.id}_mtd"], "group_by": ["metric_time__day"],
            }  # fmt: skip
        for grain in ("month", "quarter"):
            requests[("target", node.id, grain)] = {
                "metrics": [f"{node.id}_target"], "group_by": [f"metric_time__{grain}"],
            }  # fmt: skip
    for parent, _relation, kids in tree.identities():
        shared = set(parent.dimensions).intersection(*(k.dimensions for k in kids))
        for dim in ("total", *sorted(shared)):
            group = ["metric_time__day"] + ([] if dim == "total" else [dim])
            requests[("identity", parent.id, dim)] = {
                "metrics": [parent.id, f"{parent.id}_identity", *(k.id for k in kids)],
                "group_by": group,
            }
    results = ask(built_shop, requests)
    with built_shop.connect() as con:
        values = con.execute(
            "select grain, period_start, kpi_id, dimension, member, numerator, denominator, value "
            "from kpi.fct_kpi_values"
        ).fetchall()
        targets = con.execute(
            "select grain, period_start, kpi_id, target from kpi.fct_targets where scope = 'all'"
        ).fetchall()
    return tree, results, values, targets


def table(result: dict, metric: str, *others: str) -> dict[tuple, float]:
    """A MetricFlow answer as {(period start, member...): value} of one of its metrics (the
    others named), the unknown left out."""
    at = result["columns"].index(metric)
    out = {}
    for row in result["rows"]:
        if row[at] is None:
            continue
        keys = tuple(
            str(v)[:10] if c.startswith("metric_time") else v
            for c, v in zip(result["columns"], row, strict=True)
            if c != metric and c not in others
        )
        out[keys] = float(row[at])
    return out


@pytest.fixture(scope="module")
def gap_days(built_shop) -> dict[str, set[dt.date]]:
    """Per KPI, the days a source it reads is missing (the sample's missing traffic day)."""
    with built_shop.connect() as con:
        rows = con.execute("select kpi_id, date_day from kpi.fct_source_gaps").fetchall()
    out: dict[str, set[dt.date]] = defaultdict(set)
    for kpi_id, day in rows:
        out[kpi_id].add(day)
    return out


def test_every_kpi_by_day_week_and_month_total_and_per_dimension_equals_the_kpi_values(
    answers, gap_days
):
    tree, results, values, _ = answers
    # the gap day itself is unknown in MetricFlow too: no value for a KPI that reads the source
    for kpi_id, days in gap_days.items():
        got = table(results[("value", kpi_id, "day", "total")], kpi_id)
        assert not {(str(d),) for d in days} & got.keys(), kpi_id
    want: dict[tuple, dict] = defaultdict(dict)
    for grain, start, kpi_id, dim, member, _num, _den, value in values:
        if value is not None:
            key = (str(start),) if dim == "total" else (str(start), member)
            want[("value", kpi_id, grain, dim)][key] = float(value)
    compared = 0
    for key, result in results.items():
        if key[0] != "value":
            continue
        got = table(result, key[1])
        assert got.keys() == want[key].keys(), (key, set(got) ^ set(want[key]))
        wrong = {k: (got[k], want[key][k]) for k in got if not close(got[k], want[key][k])}
        assert not wrong, (key, list(wrong.items())[:5])
        compared += len(got)
    assert {k[1] for k in results if k[0] == "value"} == set(tree.nodes)
    assert compared > 10_000
    # a ratio's month with a day its source is missing: over the other days, as published
    month = min(min(days) for days in gap_days.values()).replace(day=1)
    got = table(results[("value", "conversion_rate", "month", "total")], "conversion_rate")
    assert "conversion_rate" in gap_days and (str(month),) in got
    assert close(
        got[(str(month),)], want[("value", "conversion_rate", "month", "total")][(str(month),)]
    )


def test_the_trees_identities_hold_in_the_semantic_layer(answers):
    tree, results, _, _ = answers
    checked = 0
    for key, result in results.items():
        if key[0] != "identity":
            continue
        parent = tree.nodes[key[1]]
        kids = [k for k in tree.children(parent.id) if k.relation in ("product", "sum")]
        names = [parent.id, f"{parent.id}_identity", *(k.id for k in kids)]
        got = {n: table(result, n, *(m for m in names if m != n)) for n in names}
        identity = got[f"{parent.id}_identity"]
        for slice_, value in got[parent.id].items():
            if all(slice_ in got[k.id] for k in kids):
                assert close(identity[slice_], value, 1e-7), (key, slice_)
                checked += 1
            else:  # a child unknown (the sample's missing traffic day): so is the identity
                assert slice_ not in identity, (key, slice_)
    assert checked > 500


def test_month_to_date_is_the_running_sum_of_the_days_parts(answers):
    tree, results, values, _ = answers
    days: dict[str, list] = defaultdict(list)
    for grain, start, kpi_id, dim, _member, num, den, _value in values:
        if grain == "day" and dim == "total" and num is not None:
            days[kpi_id].append((start, float(num), None if den is None else float(den)))
    checked = 0
    for node in tree.nodes.values():
        if ("mtd", node.id) not in results:
            continue
        got = table(results[("mtd", node.id)], f"{node.id}_mtd")
        month, num_sum, den_sum = None, 0.0, 0.0
        for day, num, den in sorted(days[node.id]):
            if (day.year, day.month) != month:
                month, num_sum, den_sum = (day.year, day.month), 0.0, 0.0
            num_sum += num
            den_sum += den or 0.0
            want = num_sum if node.kind == "sum" else (
                node.scale * num_sum / den_sum if den_sum else None
            )  # fmt: skip
            if want is None:
                assert (str(day),) not in got, (node.id, day)
                continue
            assert close(got[(str(day),)], want, 1e-9), (node.id, day, got[(str(day),)], want)
            checked += 1
    assert checked > 1000


def test_targets_by_month_and_quarter_equal_the_targets_in_force(answers):
    tree, results, _, targets = answers
    want: dict[tuple, dict] = defaultdict(dict)
    for grain, start, kpi_id, target in targets:
        if grain in ("month", "quarter"):
            want[(kpi_id, grain)][(str(start),)] = float(target)
    checked = 0
    for node in tree.nodes.values():
        for grain in ("month", "quarter"):
            got = table(results[("target", node.id, grain)], f"{node.id}_target")
            assert got.keys() == want[(node.id, grain)].keys(), (node.id, grain)
            assert all(close(got[k], v) for k, v in want[(node.id, grain)].items()), node.id
            checked += len(got)
    assert checked > 50


def test_a_kpi_whose_sources_were_never_delivered_is_unknown_never_zero(orders_only_shop):
    """The shop that delivers orders and their lines only: the KPIs of orders equal the
    published values; those that read sessions, ads, conversations or shipments have no
    value at all, by month and by channel (not a sign-off rate of 0 over its GMV)."""
    assert orders_only_shop.exit_code == 0, orders_only_shop.output
    tree = default_tree()
    requests = {
        (node.id, dim): {
            "metrics": [node.id],
            "group_by": ["metric_time__month"] + ([] if dim == "total" else [dim]),
        }
        for node in tree.nodes.values()
        for dim in ("total", *node.dimensions[:1])
    }
    for parent, _relation, _kids in tree.identities():
        requests[(f"{parent.id}_identity", "total")] = {
            "metrics": [f"{parent.id}_identity"], "group_by": ["metric_time__month"],
        }  # fmt: skip
    results = ask(orders_only_shop, requests)
    with orders_only_shop.connect() as con:
        rows = con.execute(
            "select kpi_id, dimension, period_start, member, value, is_available "
            "from kpi.fct_kpi_values join kpi.fct_kpi_availability using (kpi_id) "
            "where grain = 'month'"
        ).fetchall()
    available = {kpi for kpi, *_, ok in rows if ok}
    assert available == {
        "orders", "gmv", "aov", "repeat_customer_rate", "cod_review_delay", "cross_sell_rate",
    }  # fmt: skip
    want: dict[tuple, dict] = defaultdict(dict)
    for kpi, dim, start, member, value, _ok in rows:
        if value is not None:
            want[(kpi, dim)][(str(start),) if dim == "total" else (str(start), member)] = value
    for (metric, dim), result in results.items():
        got = table(result, metric)
        if metric in available:
            assert got.keys() == want[(metric, dim)].keys(), (metric, dim)
            assert all(close(got[k], v) for k, v in want[(metric, dim)].items()), metric
        else:  # signoff_rate: signed GMV without shipments is unknown, not 0 of the GMV
            assert got == {}, (metric, dim, list(got.items())[:3])
    assert results[("signoff_rate", "channel")]["rows"] != []  # rows there, with no value
