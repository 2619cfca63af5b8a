"""The tree definition: loads, and refuses inconsistent trees with a clear error."""

from __future__ import annotations

import copy

import pytest
import yaml

from kpi_tree.model import TREE_FILE, TreeError, load_tree, parse_tree

BASE = yaml.safe_load(TREE_FILE.read_text(encoding="utf-8"))


def mutated(fn) -> dict:
    data = copy.deepcopy(BASE)
    fn(data)
    return data


def test_shipped_tree_loads_with_its_identities():
    tree = load_tree()
    assert tree.root.id == "net_revenue"
    got = {(p.id, rel, tuple(sorted(k.id for k in kids))) for p, rel, kids in tree.identities()}
    assert got == {
        ("net_revenue", "product", ("gmv", "signoff_rate")),
        ("gmv", "product", ("aov", "conversion_rate", "sessions")),
        ("sessions", "sum", ("organic_sessions", "paid_sessions")),
        ("paid_sessions", "product", ("ad_clicks", "click_to_session_rate")),
        ("ad_clicks", "product", ("ctr", "impressions")),
    }
    # every team in DOMAIN.md owns at least one node
    assert {n.team for n in tree.nodes.values()} == set(tree.teams)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["nodes"]["aov"]["formula"].update(ratio=["gmv", "ordrs"]),
            "node 'aov': unknown measure 'ordrs'",
        ),
        (lambda d: d["nodes"]["ctr"].pop("team"), "node 'ctr': has no owner (team)"),
        (lambda d: d["nodes"]["ctr"].update(team="finance"), "node 'ctr': unknown team 'finance'"),
        (lambda d: d["nodes"]["gmv"].update(parent="aov"), "cycle"),
        (
            lambda d: d["nodes"]["aov"].update(formula={"ratio": ["gmv", "multi_item_orders"]}),
            "node 'gmv': its product children ['sessions', 'conversion_rate', 'aov'] multiply to",
        ),
        (
            lambda d: d["nodes"]["organic_sessions"].update(formula={"sum": "detail_sessions"}),
            "node 'sessions': its sum children's measures",
        ),
        (
            lambda d: d["nodes"]["inquiry_rate"].update(dimensions=["carrier"]),
            "node 'inquiry_rate': dimension 'carrier' is not a dimension of fact",
        ),
        (
            lambda d: d["measures"]["gmv"].update(fact="warehouse"),
            "measure 'gmv': unknown fact 'warehouse'",
        ),
        (
            lambda d: d["nodes"]["first_response_p90"].update(relation="product"),
            "a quantile cannot be part of an identity",
        ),
        (
            lambda d: d["teams"]["logistics"]["scorecard"].update(gmv=0.5),
            "team 'logistics': scorecard KPI 'gmv' is owned by 'management', not this team",
        ),
        (
            lambda d: d["teams"]["logistics"]["scorecard"].update(signoff=1),
            "team 'logistics': scorecard names unknown KPI 'signoff'",
        ),
        (
            lambda d: d["teams"]["logistics"]["scorecard"].update(signoff_rate=0),
            "team 'logistics': scorecard weight of 'signoff_rate' must be > 0, got 0",
        ),
        (
            lambda d: d["teams"]["logistics"].update(people="agent"),
            "team 'logistics': people dimension 'agent' is not a dimension of its KPIs",
        ),
        (
            lambda d: d["facts"]["sessions"].update(sources=["traffic"]),
            "fact 'sessions': unknown source 'traffic'",
        ),
        (
            lambda d: d["facts"]["sessions"].pop("sources"),
            "fact 'sessions': 'sources' is required",
        ),
        (
            lambda d: d["measures"]["multi_item_orders"].update(needs="order_items"),
            "measure 'multi_item_orders': 'needs' must be a list of source ids",
        ),
        (
            lambda d: d["sources"].update(returns={"en": "returns"}),
            "source 'returns': 'zh' is required",
        ),
        (  # money is declared once per measure, and a money KPI must sum money
            lambda d: d["measures"]["gmv"].pop("unit"),
            "node 'gmv': its unit is money but its measure 'gmv' is not money",
        ),
        (
            lambda d: d["measures"]["orders"].update(unit="money"),
            "node 'orders': its unit is count but its measure 'orders' is money",
        ),
        (
            lambda d: d["nodes"]["cpc"].update(formula={"ratio": ["impressions", "ad_clicks"]}),
            "node 'cpc': an amount of money per ad_clicks needs a money numerator",
        ),
        (
            lambda d: d["measures"]["gmv"].update(unit="euros"),
            "measure 'gmv': unit must be one of",
        ),
    ],
)
def test_inconsistent_trees_are_refused_naming_the_node(change, message):
    with pytest.raises(TreeError) as err:
        parse_tree(mutated(change))
    assert message in str(err.value)


def test_what_each_node_reads_is_derived_from_its_measures():
    tree = load_tree()
    sources = {n.id: tree.node_sources(n) for n in tree.nodes.values()}
    assert sources["gmv"] == ("orders",)
    # a basket reads the order lines beyond the orders' own fact
    assert sources["cross_sell_rate"] == ("orders", "order_items")
    # a ratio across two facts reads both; an outcome counts in its order's cohort
    assert sources["conversion_rate"] == ("orders", "sessions")
    assert sources["signoff_rate"] == ("orders", "shipments")
    # a quantile reads its fact's sources; an inquiry that led to an order reads the orders
    assert sources["first_response_p90"] == ("conversations",)
    assert sources["inquiry_conversion"] == ("orders", "conversations")


def test_the_trees_sources_are_the_ingested_ones():
    from pipelines.ingest.contracts import SOURCES

    assert list(load_tree().sources) == SOURCES


def test_the_dbt_payload_carries_what_each_node_reads():
    from kpi_tree.dbt_export import tree_payload

    tree = load_tree()
    payload = tree_payload(tree)
    assert [s["id"] for s in payload["sources"]] == list(tree.sources)
    nodes = {n["id"]: n for n in payload["nodes"]}
    assert all(nodes[n.id]["sources"] == list(tree.node_sources(n)) for n in tree.nodes.values())
    assert payload["measures"]["multi_item_orders"]["extra_sources"] == ["order_items"]
    assert payload["measures"]["gmv"]["extra_sources"] == []


def test_a_units_kpis_split_into_what_can_and_cannot_be_computed():
    from kpi_tree.availability import from_rows, summary, unit_split

    tree = load_tree()
    by_kpi = from_rows(
        [
            ("gmv", "orders", None, None, None),
            ("net_revenue", "orders,shipments", "shipments", "needs shipments", "需要物流数据"),
        ]
    )
    assert by_kpi["net_revenue"].missing == ("shipments",)
    assert by_kpi["net_revenue"].reason("zh") == "需要物流数据" and by_kpi["gmv"].available
    available, missing = unit_split(tree, "management", by_kpi)
    assert [n.id for n in available] == ["gmv"] and list(missing) == ["net_revenue"]
    # a KPI the rows do not name counts as computable (a warehouse built before they were)
    available, missing = unit_split(tree, "logistics", by_kpi)
    assert missing == {} and {n.team for n in available} == {"logistics"}
    assert summary({"a": "needs x", "b": "needs y", "c": "needs x"}) == (
        "needs x (a, c); needs y (b)"
    )
