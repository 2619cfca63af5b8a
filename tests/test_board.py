"""The board (看板): drawn by the nightly job from the serving warehouse, checked in a real
browser (Playwright driving Debian's Chromium, installed by `make system-deps`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import expect

from kpi_tree.formats import LOCALES, Formats, board_rules
from kpi_tree.model import UNITS, default_tree
from pipelines.board.data import SCORE_CAP, BoardError, collect
from pipelines.board.page import (
    board_path,
    drawn_from,
    redraw_if_stale,
    render,
    write_board,
)
from pipelines.publish.serving import (
    LogEntry,
    append_log,
    assemble_serving,
    served_stamp,
    serving_db,
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TOP_NODES = ("net_revenue", "gmv", "signoff_rate")  # management and logistics: published


def _serving(shop) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(serving_db(shop.settings)), read_only=True)


def _pace_row(con, kpi: str, grain: str = "month") -> dict:
    """The vs-target row of a KPI at its newest published day (scope all)."""
    cur = con.execute(
        "select * from kpi_tree.kpi_vs_target where kpi_id = ? and scope = 'all' "
        "and period_grain = ? order by as_of_day desc limit 1",
        [kpi, grain],
    )
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchall()[0], strict=True))


# ---- the data behind the page -------------------------------------------------------------


def _page_data(page: Path) -> dict:
    text = page.read_text(encoding="utf-8")
    return json.loads(
        re.search(r'<script id="board-data" type="application/json">(.*?)</script>', text, re.S)[1]
    )


def test_the_nightly_job_draws_a_self_contained_board(built_shop):
    page = board_path(built_shop.settings)
    assert page == serving_db(built_shop.settings).with_name("board.html")
    # drawn from the serving file the run left (its last publication, after the held-back gates)
    assert drawn_from(page) == served_stamp(built_shop.settings)
    text = page.read_text(encoding="utf-8")
    # offline: nothing fetched (the SVG namespace URI is a name, not a request)
    assert "<link" not in text and " src=" not in text and "https://" not in text
    assert "url(" not in text and "@import" not in text
    assert text.count("<script") == 3  # the data, the catalogue, and our own inline script
    data = _page_data(page)
    assert data["as_of"] == built_shop.end.isoformat()
    # the page's script applies the Python rules, of each language, in the shop's currency
    assert data["formats"] == board_rules(built_shop.settings.currency)
    assert data["lang"] == "zh"  # the default locale, zh_CN: the board opens in Chinese
    assert data["labels"]["channel"]["paid_search"] == {"en": "paid search", "zh": "付费搜索"}
    assert data["source_labels"]["ad_spend"] == {"en": "ad spend", "zh": "广告投放"}
    assert {n["id"] for n in data["nodes"]} == set(default_tree().nodes)


def test_board_values_equal_independent_queries(built_shop):
    tree = default_tree()
    with _serving(built_shop) as con:
        data = collect(con, tree, built_shop.settings)
        nodes = {n["id"]: n for n in data["nodes"]}
        for kpi in TOP_NODES:
            node = tree.nodes[kpi]
            pace = _pace_row(con, kpi)
            day = pace["as_of_day"]
            # the month's actual straight from the published day rows (a provisional day's
            # expected final parts: docs/kpi-tree.md, "Outcomes that arrive late")
            num, den = con.execute(
                "select sum(case when is_provisional then expected_numerator else numerator end), "
                "sum(case when is_provisional then expected_denominator else denominator end) "
                "from kpi_tree.kpi_values "
                "where kpi_id = ? and grain = 'day' and dimension = 'total' "
                "and period_start between ? and ?",
                [kpi, day.replace(day=1), day],
            ).fetchall()[0]
            actual = num if node.kind == "sum" else node.scale * num / den
            month = nodes[kpi]["periods"]["month"]
            # expected parts are published rounded to the cent, pace sums them unrounded
            assert month["actual"] == pytest.approx(actual, rel=1e-6)
            assert month["paced_target"] == pytest.approx(pace["paced_target"], rel=1e-12)
            assert month["status"] == pace["status"]
            # the day: the day row against the day's target in force
            value, target = con.execute(
                "select case when v.is_provisional then v.expected_value else v.value end, "
                "t.target from kpi_tree.kpi_values v join "
                "kpi_tree.targets_in_force t on t.kpi_id = v.kpi_id and t.grain = 'day' "
                "and t.scope = 'all' and t.period_start = v.period_start "
                "where v.kpi_id = ? and v.grain = 'day' and v.dimension = 'total' "
                "and v.period_start = ?",
                [kpi, day],
            ).fetchall()[0]
            got = nodes[kpi]["periods"]["day"]
            assert got["actual"] == pytest.approx(value, rel=1e-12)
            assert got["attainment"] == pytest.approx(value / target, rel=1e-9)
        # held-back teams: named, with their failed checks; their nodes carry no numbers
        teams = {t["id"]: t for t in data["teams"]}
        for team in ("marketing", "operations"):
            assert teams[team]["held_back"] and teams[team]["failed_checks"]
            assert any("expect_" in c for c in teams[team]["failed_checks"])
            assert teams[team]["published_as_of"] is None  # never published in the test shop
        assert nodes["sessions"]["periods"]["month"]["actual"] is None
        assert not teams["management"]["held_back"]
        # management's scorecard, by hand: 0.6 × net revenue + 0.4 × GMV attainment, capped
        att = {k: _pace_row(con, k)["attainment"] for k in ("net_revenue", "gmv")}
        expected = 0.6 * min(att["net_revenue"], SCORE_CAP) + 0.4 * min(att["gmv"], SCORE_CAP)
        assert teams["management"]["scorecard"]["month"]["score"] == pytest.approx(expected)


def test_people_and_units_against_their_targets(built_shop):
    tree = default_tree()
    with _serving(built_shop) as con:
        data = collect(con, tree, built_shop.settings)
        target = _pace_row(con, "inquiry_conversion")["target"]
        day = _pace_row(con, "inquiry_conversion")["as_of_day"]
        agents = dict(
            con.execute(
                "select member, value from kpi_tree.kpi_values where kpi_id = "
                "'inquiry_conversion' and grain = 'month' and dimension = 'agent' "
                "and period_start = ?",
                [day.replace(day=1)],
            ).fetchall()
        )
        regions = dict(
            con.execute(
                "select scope, target from kpi_tree.targets_in_force where grain = 'month' "
                "and kpi_id = 'net_revenue' and scope like 'regions:%' and period_start = ?",
                [day.replace(day=1)],
            ).fetchall()
        )
    people = [
        p for p in data["people"] if p["kpi"] == "inquiry_conversion" and p["period"] == "month"
    ]
    assert {p["person"] for p in people} == {a for a, v in agents.items() if v is not None}
    for p in people:
        assert p["actual"] == pytest.approx(agents[p["person"]])
        assert p["target"] == pytest.approx(target)
        assert p["attainment"] == pytest.approx(agents[p["person"]] / target)
    # the regions (targets only): the month's target is the sum of the month's day targets
    units = {u["scope"]: u for u in data["units"] if u["period"] == "month"}
    assert set(regions) == {"regions:north", "regions:south"}
    for scope, month_target in regions.items():
        assert units[scope]["target"] == pytest.approx(month_target, rel=1e-9)
        assert units[scope]["actual"] is None
    # the channels (a dimension): paced against their actuals
    assert {s for s in units if s.startswith("channels:")} == {
        f"channels:{c}" for c in ("paid_search", "feed_ads", "social", "organic", "direct")
    }


def test_page_data_cannot_close_its_script_element():
    hostile = "</script><script>alert(1)</script><!--"
    html = render({"as_of": "2025-01-01", "nodes": [], "alerts": {"items": [{"text": hostile}]}})
    assert hostile not in html
    assert html.count("</script>") == 3


def test_the_board_is_drawn_when_the_serving_file_changes_and_only_then(shop_copy):
    """Publishing changes what the serving file serves without drawing the board; the run's
    end, or the board sensor after a daemon's run, draws it once."""
    import dagster as dg

    from pipelines.board.sensor import board_sensor
    from pipelines.resources import Warehouse

    settings = shop_copy.settings
    page = board_path(settings)
    assert redraw_if_stale(settings) == page  # a copied serving file is another file
    assert drawn_from(page) == served_stamp(settings)
    assert redraw_if_stale(settings) is None  # up to date: not drawn again
    before = page.read_bytes()
    team = "management"  # published in the built shop
    assert not {t["id"]: t for t in _page_data(page)["teams"]}[team]["held_back"]

    # management held back: the log has a new version, the board is left as it was
    append_log(
        settings,
        LogEntry(
            unit=team,
            run_id="held-back-run",
            status="held_back",
            published_at=dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(),
            data_as_of="2025-03-16",
            window_start="2025-03-16",
            failed_expectations=["expect_column_values_to_not_be_null on management_kpis.gmv"],
        ),
    )
    assemble_serving(settings)
    assert page.read_bytes() == before
    assert drawn_from(page) != served_stamp(settings)

    # the sensor draws it (it starts no run), and then has nothing to do
    warehouse = Warehouse(data_dir=str(shop_copy.data_dir))
    context = dg.build_sensor_context(resources={"warehouse": warehouse})
    result = board_sensor(context)
    assert isinstance(result, dg.SkipReason) and "drawn again" in result.skip_message
    assert drawn_from(page) == served_stamp(settings)
    teams = {t["id"]: t for t in _page_data(page)["teams"]}
    assert teams[team]["held_back"]
    assert teams[team]["failed_checks"] == [
        "expect_column_values_to_not_be_null on management_kpis.gmv"
    ]
    drawn = page.stat().st_mtime_ns
    assert "current serving warehouse" in board_sensor(context).skip_message
    assert page.stat().st_mtime_ns == drawn


def test_no_board_before_anything_is_published(tmp_path):
    from pipelines.settings import load_settings

    with pytest.raises(BoardError, match="nothing published yet"):
        write_board(load_settings(tmp_path / "data"))


def test_kpi_board_command(built_shop, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipelines.cli import app

    monkeypatch.setenv("KPI_DATA_DIR", str(built_shop.data_dir))
    out = tmp_path / "board.html"
    result = CliRunner().invoke(app, ["board", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output.replace("\n", "")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path / "empty"))
    result = CliRunner().invoke(app, ["board"])
    assert result.exit_code == 2 and "nothing published yet" in result.output


# ---- in a real browser --------------------------------------------------------------------


def test_board_in_a_browser(built_shop, browser):
    page_file = board_path(built_shop.settings)
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on(
        "request",
        lambda r: (
            None
            if r.url.startswith(("file:", "data:"))
            else problems.append(f"network request: {r.url}")
        ),
    )
    page.goto(page_file.resolve().as_uri())
    page.wait_for_selector("body[data-ready=true]")
    tree = default_tree()
    currency = built_shop.settings.currency
    zh, en = Formats(currency, "zh_CN"), Formats(currency, "en_US")

    # the top nodes show the serving warehouse's month-to-date values
    with _serving(built_shop) as con:
        expected = {kpi: _pace_row(con, kpi) for kpi in TOP_NODES}
        day_values = {
            kpi: con.execute(
                "select value from kpi_tree.kpi_values where kpi_id = ? and grain = 'day' "
                "and dimension = 'total' and period_start = ?",
                [kpi, expected[kpi]["as_of_day"]],
            ).fetchall()[0][0]
            for kpi in TOP_NODES
        }
    # it opens in the shop's locale (zh_CN), its numbers written as zh_CN writes them
    assert page.locator("#title").text_content() == "KPI 看板"
    # each node's value in its compact form (万/亿), the exact one on hover
    for kpi, row in expected.items():
        node = page.locator(f"#tree .node[data-kpi={kpi}]")
        unit = tree.nodes[kpi].unit
        assert node.locator(".node-value").text_content() == zh.compact(row["actual"], unit)
        assert node.locator(".node-value").get_attribute("title") == zh.value(row["actual"], unit)
        assert node.locator(".node-attainment").text_content() == zh.share(row["attainment"])
    page.click("#lang-toggle")
    assert page.locator("#title").text_content() == "KPI board"
    for kpi, row in expected.items():
        node = page.locator(f"#tree .node[data-kpi={kpi}]")
        value = node.locator(".node-value")
        assert float(value.get_attribute("data-value")) == pytest.approx(row["actual"], rel=1e-12)
        assert value.text_content() == en.compact(row["actual"], tree.nodes[kpi].unit)
        assert value.get_attribute("title") == en.value(row["actual"], tree.nodes[kpi].unit)
        assert node.locator(".node-attainment").text_content() == en.share(row["attainment"])
        target = node.locator(".node-target")
        assert float(target.get_attribute("data-value")) == pytest.approx(row["paced_target"])
    # a held-back team is named with its failed checks; its nodes show no number
    notice = page.locator(".notice[data-team=marketing]")
    assert "expect_" in notice.text_content()
    assert page.locator("#tree .node[data-kpi=sessions] .node-value").text_content() == "–"
    assert page.locator("#tree .node[data-kpi=sessions] .node-target").text_content() == "held back"
    assert "stale" in page.locator("#tree .node[data-kpi=sessions]").get_attribute("class")
    # today's alerts with their explanations
    assert page.locator("#alerts .alert").count() > 0

    # clicking a node shows its charts
    assert page.locator("#detail svg.chart").count() == 0
    page.click("#tree .node[data-kpi=gmv]")
    assert page.locator("#detail-title").text_content() == "GMV"
    daily = page.locator("#detail svg.trend-daily path.series-actual")
    assert daily.count() == 1
    points = daily.get_attribute("d").count("L") + 1
    month_start = expected["gmv"]["as_of_day"].replace(day=1)
    assert points == (expected["gmv"]["as_of_day"] - month_start).days + 1
    assert page.locator("#detail svg.trend-cumulative path.series-target").count() == 1
    channels = page.locator("#detail table.breakdown[data-dimension=channel] tbody tr")
    assert channels.count() == 5
    vocabulary = built_shop.settings.vocabulary
    shown = {  # each channel by its label in the language shown
        row.get_attribute("data-member"): row.locator("td.member").text_content()
        for row in channels.all()
    }
    assert shown == {m: vocabulary.label("channel", m, "en") for m in vocabulary.channels.names}
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "board.png"))

    # the period switch: the day's own value
    page.click("button[data-period=day]")
    value = page.locator("#tree .node[data-kpi=gmv] .node-value")
    assert float(value.get_attribute("data-value")) == pytest.approx(day_values["gmv"])
    page.click("button[data-period=month]")

    # switching language changes the labels, the members' too
    assert page.locator("#title").text_content() == "KPI board"
    page.click("#lang-toggle")
    assert page.locator("#title").text_content() == "KPI 看板"
    assert page.locator("#tree .node[data-kpi=gmv] .name").text_content() == tree.nodes["gmv"].zh
    assert page.locator("button[data-period=month]").get_attribute("title") == "月累计"
    assert page.locator("#detail .owner").text_content().startswith("负责部门")
    paid = "#detail table.breakdown[data-dimension=channel] tr[data-member=paid_search] td.member"
    assert page.locator(paid).text_content() == "付费搜索"
    page.screenshot(path=str(ARTIFACTS / "board-zh.png"), full_page=True)
    page.close()
    assert problems == []
    assert (ARTIFACTS / "board.png").stat().st_size > 10_000


def test_board_period_is_the_newest_published_day(built_shop):
    with _serving(built_shop) as con:
        data = collect(con, default_tree(), built_shop.settings)
    as_of = dt.date.fromisoformat(data["as_of"])
    assert as_of == built_shop.end
    gmv = next(n for n in data["nodes"] if n["id"] == "gmv")
    assert gmv["periods"]["quarter"]["start"] == dt.date(as_of.year, 4, 1).isoformat()


def test_non_finite_numbers_become_null_and_strings_stay_as_they_are():
    from pipelines.board.page import to_json

    data = {"v": float("nan"), "w": [1.5, float("inf"), -float("inf")], "s": 'NaN "Infinity"'}
    assert json.loads(to_json(data)) == {"v": None, "w": [1.5, None, None], "s": 'NaN "Infinity"'}


#: values the board's script writes in the page, against the Python formatter: halves,
#: negatives, near a rule's threshold, large, missing
FORMAT_VALUES = [0, 0.5, 2.5, -2.5, 0.125, 1.005, 2.675, 0.0049, 99.994, 99.995, 100, -0.004,
                 12345.675, 1234567.5, -98765.4321, 3e9, None, math.nan, math.inf,
                 999.5, 1005, 9999.5, 99950, 999949, 999950, 12345678, 99995000, -123456789,
                 1.5e12]  # fmt: skip


@pytest.mark.parametrize(("currency", "locale"), [("CNY", "zh_CN"), ("USD", "en_US")])
def test_the_board_writes_values_as_the_python_formatter(
    built_shop, browser, tmp_path, currency, locale
):
    """The page of a CNY shop (the built one) and of a USD one (its serving warehouse drawn
    for a shop whose kpi.yaml says USD, en_US): in each of the board's languages, every value
    written as Babel writes it in that language's locale."""
    settings = dataclasses.replace(built_shop.settings, currency=currency, locale=locale)
    page_file = write_board(settings, out=tmp_path / "board.html")
    page = browser.new_page()
    page.goto(page_file.resolve().as_uri())
    page.wait_for_selector("body[data-ready=true]")
    # the board opens in the shop's locale: a USD shop in en_US reads $76,109-style amounts
    gmv = page.locator("#tree .node[data-kpi=gmv] .node-value")
    shop = Formats(currency, locale)
    assert gmv.get_attribute("title") == shop.value(float(gmv.get_attribute("data-value")), "money")
    assert gmv.text_content() == shop.compact(float(gmv.get_attribute("data-value")), "money")
    assert gmv.text_content().startswith("$" if currency == "USD" else "¥")
    cases = [[v, unit] for unit in [*UNITS, None] for v in FORMAT_VALUES]
    for lang_locale, lang in LOCALES.items():
        got = page.evaluate(
            """([lang, cases]) => {
                const rules = JSON.parse(document.getElementById("board-data").textContent);
                const formats = kpiFormats(rules.formats[lang]);
                return cases.map(([v, unit]) => (unit === null
                    ? [formats.share(v), formats.share(v, true)]
                    : [formats.value(v, unit), formats.compact(v, unit)]));
            }""",
            [lang, cases],
        )
        python = Formats(currency, lang_locale)
        want = [
            [python.share(v), python.share(v, signed=True)]
            if unit is None
            else [python.value(v, unit), python.compact(v, unit)]
            for v, unit in cases
        ]
        differ = [
            (v, unit, g, w) for (v, unit), g, w in zip(cases, got, want, strict=True) if g != w
        ]
        assert differ == [], lang
        assert len({w for pair in want for w in pair}) > 150  # not all written alike
    page.close()


# ---- a shop that delivers some of the sources ---------------------------------------------


def test_an_orders_only_board_greys_what_the_shop_cannot_compute(orders_only_shop, browser):
    """The nodes the shop cannot compute are drawn greyed with what they need, in both
    languages, with no number, target or score; the others show their published values."""
    shop = orders_only_shop
    with _serving(shop) as con:
        data = collect(con, default_tree(), shop.settings)
        reasons = {
            kpi: (en, zh)
            for kpi, en, zh in con.execute(
                "select kpi_id, reason_en, reason_zh from kpi_tree.kpi_availability "
                "where not is_available"
            ).fetchall()
        }
        gmv = _pace_row(con, "gmv")
    assert reasons and "gmv" not in reasons and "conversion_rate" in reasons
    nodes = {n["id"]: n for n in data["nodes"]}
    for kpi, (en, zh) in reasons.items():
        node = nodes[kpi]
        assert not node["available"] and node["needs"] == {"en": en, "zh": zh}
        assert node["daily"] == [] and all(p["actual"] is None for p in node["periods"].values())
    teams = {t["id"]: t for t in data["teams"]}
    assert teams["marketing"]["skipped"] and not teams["marketing"]["held_back"]
    # the operations scorecard scores what it can: conversion rate is listed, not scored
    rows = {r["kpi"]: r for r in teams["operations"]["scorecard"]["month"]["rows"]}
    assert rows["conversion_rate"]["needs"]["en"] == "needs sessions"
    assert rows["conversion_rate"]["attainment"] is None

    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(board_path(shop.settings).resolve().as_uri())
    page.wait_for_selector("body[data-ready=true]")
    greyed = page.locator("#tree .node.unavailable")
    assert {greyed.nth(i).get_attribute("data-kpi") for i in range(greyed.count())} == set(reasons)
    cvr = page.locator("#tree .node[data-kpi=conversion_rate]")
    # it opens in the shop's locale (zh_CN): what a node needs is said in Chinese first
    assert cvr.locator(".node-needs").get_attribute("data-needs") == "需要流量数据"
    page.click("#lang-toggle")
    assert cvr.locator(".node-value").get_attribute("data-value") == ""
    assert cvr.locator(".node-needs").get_attribute("data-needs") == "needs sessions"
    assert cvr.locator(".stripe, .node-attainment, .sparkline").count() == 0
    value = page.locator("#tree .node[data-kpi=gmv] .node-value")
    assert float(value.get_attribute("data-value")) == pytest.approx(gmv["actual"], rel=1e-12)
    page.click("#tree .node[data-kpi=conversion_rate]")
    assert "needs sessions" in page.locator("#detail-needs").text_content()
    assert page.locator("#detail svg.chart").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "board-orders-only.png"))
    page.click("#lang-toggle")
    assert cvr.locator(".node-needs").get_attribute("data-needs") == "需要流量数据"
    assert "需要流量数据" in page.locator("#detail-needs").text_content()
    # greyed rows and skipped scorecards fit a phone as the full ones do
    page.set_viewport_size({"width": 390, "height": 844})
    page.keyboard.press("Escape")
    layout = page.evaluate(LAYOUT_JS)
    assert layout["scrollWidth"] <= 390 and layout["bad"] == []
    page.screenshot(path=str(ARTIFACTS / "board-orders-only-390x844-zh.png"))
    page.close()
    assert problems == []


# ---- comparisons, catch-up, open problems (the data) --------------------------------------


@pytest.mark.parametrize(
    ("day", "period", "previous", "last_year"),
    [
        # the 15th of a month against the 1st–15th of the one before, and of a year before
        ("2025-06-15", "month", ("2025-05-01", "2025-05-15"), ("2024-06-01", "2024-06-15")),
        # the 31st against the whole of a shorter month
        ("2025-03-31", "month", ("2025-02-01", "2025-02-28"), ("2024-03-01", "2024-03-31")),
        ("2025-01-10", "month", ("2024-12-01", "2024-12-10"), ("2024-01-01", "2024-01-10")),
        ("2025-05-20", "quarter", ("2025-01-01", "2025-02-19"), ("2024-04-01", "2024-05-20")),
        ("2025-04-04", "day", ("2025-04-03", "2025-04-03"), ("2024-04-04", "2024-04-04")),
        # a year's previous period is the year before: 同比 alone
        ("2025-04-04", "year", None, ("2024-01-01", "2024-04-04")),
        # 29 February against the 28th a year later
        ("2024-02-29", "day", ("2024-02-28", "2024-02-28"), ("2023-02-28", "2023-02-28")),
    ],
)
def test_comparison_windows(day, period, previous, last_year):
    from pipelines.board.data import comparison_windows

    def dates(pair):
        return None if pair is None else tuple(dt.date.fromisoformat(d) for d in pair)

    got = comparison_windows(dt.date.fromisoformat(day), period)
    assert got == {"previous": dates(previous), "last_year": dates(last_year)}


def test_report_links_are_relative_to_the_board(tmp_path):
    from pipelines.links import report_href
    from pipelines.settings import load_settings

    settings = load_settings(tmp_path / "data")
    report = settings.data_dir / "quality" / "docs" / "run 1" / "index.html"
    want = "../quality/docs/run%201/index.html"

    def href(report):
        return report_href(settings, report, settings.warehouse_dir)

    assert href(str(report)) == want
    assert href(report.as_uri()) == want
    assert href("quality/docs/run 1/index.html") == want
    assert href("http://reports.local/x.html") == "http://reports.local/x.html"
    assert href(None) is None


def _window_value(con, node, start, end):
    """A KPI over the days start..end from the published day rows, by hand: None when a day
    is missing."""
    days, num, den = con.execute(
        "select count(numerator), sum(numerator), sum(denominator) from kpi_tree.kpi_values "
        "where kpi_id = ? and grain = 'day' and dimension = 'total' "
        "and period_start between ? and ?",
        [node.id, start, end],
    ).fetchall()[0]
    if days != (end - start).days + 1:
        return None
    return num if node.kind == "sum" else node.scale * num / den


def _two_nights_of_alerts(shop) -> None:
    """The alerts of the shop's last two nights, each judged by the alerts step in turn (the
    fixture runs its 75 days as one night): a KPI still behind on the second night, by no more
    than it was on the first, is not alerted again."""
    from kpi_tree.units import team_units
    from pipelines.alerts.notify import team_alerts
    from pipelines.alerts.store import served_table
    from pipelines.i18n import use

    settings, tree = shop.settings, default_tree()
    (shop.data_dir / "alerts" / "alerts.jsonl").unlink()
    with _serving(shop) as con:
        published = {
            schema
            for (schema,) in con.execute(
                "select table_schema from information_schema.tables "
                "where table_name = 'kpi_vs_target'"
            ).fetchall()
        }
        units = [(u, t) for u, t in team_units(tree).items() if u in published]
        assert len(units) >= 2
        for day in (shop.end - dt.timedelta(days=1), shop.end):
            for unit, team in units:
                with use(settings.locale):
                    team_alerts(settings, tree, unit, team, day, f"night {day}", con, log=str)
    assemble_serving(settings, tables=[served_table(settings)])


def test_comparisons_catch_up_and_problems_equal_independent_queries(shop_copy):
    tree = default_tree()
    built_shop = shop_copy
    _two_nights_of_alerts(built_shop)
    with _serving(built_shop) as con:
        data = collect(con, tree, built_shop.settings)
        nodes = {n["id"]: n for n in data["nodes"]}
        day = _pace_row(con, "gmv")["as_of_day"]
        assert day == dt.date(2025, 4, 4)
        # 环比: 1–4 April against 1–4 March; 同比: the shop has no 2024, so unknown, not 0
        for kpi in ("gmv", "signoff_rate"):
            node = tree.nodes[kpi]
            now = _window_value(con, node, dt.date(2025, 4, 1), day)
            before = _window_value(con, node, dt.date(2025, 3, 1), dt.date(2025, 3, 4))
            month = nodes[kpi]["periods"]["month"]
            assert month["compare"]["previous"]["value"] == pytest.approx(before, rel=1e-9)
            assert month["compare"]["previous"]["change"] == pytest.approx(now / before - 1)
            assert month["compare"]["last_year"]["value"] is None
            assert month["compare"]["last_year"]["change"] is None
            yesterday = _window_value(con, node, day - dt.timedelta(days=1), day - dt.timedelta(1))
            today = nodes[kpi]["periods"]["day"]
            assert today["compare"]["previous"]["change"] == pytest.approx(
                _window_value(con, node, day, day) / yesterday - 1
            )
        # what the rest of April needs: the month's target less what is done, over 26 days
        target = con.execute(
            "select target from kpi_tree.targets_in_force where kpi_id = 'gmv' and scope = 'all' "
            "and grain = 'month' and period_start = ?",
            [day.replace(day=1)],
        ).fetchall()[0][0]
        done = _window_value(con, tree.nodes["gmv"], dt.date(2025, 4, 1), day)
        catch_up = nodes["gmv"]["periods"]["month"]["catch_up"]
        assert catch_up["days_left"] == 26 and len(catch_up["days"]) == 26
        # the catch-up counts in cents, each of the month's 30 day targets rounded to a cent
        cents = 30 * 0.005
        assert catch_up["needed"] == pytest.approx(target - done, abs=cents)
        assert sum(d[1] for d in catch_up["days"]) == pytest.approx(catch_up["needed"], abs=1e-6)
        assert catch_up["per_day"] == pytest.approx(catch_up["needed"] / 26)
        assert nodes["gmv"]["periods"]["day"]["catch_up"] is None  # a day has no rest
        # open problems: every KPI short or at risk at its newest published day, alerted or not
        behind = {
            kpi
            for (kpi,) in con.execute(
                "select kpi_id from kpi_tree.kpi_vs_target v where scope = 'all' "
                "and period_grain = 'month' and status in ('short', 'at_risk') and as_of_day = "
                "(select max(as_of_day) from kpi_tree.kpi_vs_target w where w.kpi_id = v.kpi_id)"
            ).fetchall()
        }
        alerted = {
            kpi
            for (kpi,) in con.execute(
                "select distinct kpi_id from main.alerts where kpi_id is not null "
                "and day = (select max(day) from main.alerts)"
            ).fetchall()
        }
    problems = {p["kpi"]: p for p in data["problems"]["month"]}
    assert set(problems) == behind and "gmv" in behind
    assert {k for k, p in problems.items() if p["alerted"]} == behind & alerted
    # one that alerted the night before and did not again today is listed all the same
    assert behind - alerted
    assert all(not problems[k]["alerted"] for k in behind - alerted)


def test_alert_times_are_in_business_time(built_shop):
    """The alerts table records UTC; the board shows the shop's business time (Asia/Shanghai
    in the test shop: eight hours ahead)."""
    settings = built_shop.settings
    assert settings.business_timezone == "Asia/Shanghai"
    with _serving(built_shop) as con:
        data = collect(con, default_tree(), settings)
        recorded = con.execute(
            "select created_at from main.alerts where day = (select max(day) from main.alerts)"
        ).fetchall()
    shown = sorted(a["created_at"] for a in data["alerts"]["items"])
    want = sorted((c + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M") for (c,) in recorded)
    assert shown == want and shown


# ---- the layout, in three screens and both languages --------------------------------------

LAYOUT_JS = (Path(__file__).with_name("board_layout.js")).read_text(encoding="utf-8")
#: an English word: two Latin letters or more (a KPI's "P90" is one letter and a number)
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
#: what an alert names as the machine spells it, in any language: a command to run (in
#: backticks) and a landing folder (``sessions/``)
VERBATIM = re.compile(r"`[^`]*`|\b[a-z_]+/")


def _open(browser, page_file: Path, width: int, height: int, lang: str):
    page = browser.new_page(viewport={"width": width, "height": height})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(page_file.resolve().as_uri())
    page.wait_for_selector("body[data-ready=true]")
    if page.locator("html").get_attribute("lang") != ("zh-CN" if lang == "zh" else "en"):
        page.click("#lang-toggle")
    return page, problems


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(("width", "height"), [(1366, 768), (1440, 900), (390, 844)])
def test_the_board_fits_the_screen(built_shop, browser, width, height, lang):
    """No sideways scrolling; the headline cards, the open problems and the root KPI on the
    first screen; nothing drawn over anything else in cards and tables; on a phone the
    drill-down is a full-screen sheet; the Chinese page's alerts in Chinese."""
    page, problems = _open(browser, board_path(built_shop.settings), width, height, lang)
    layout = page.evaluate(LAYOUT_JS)
    assert layout["scrollWidth"] <= width
    assert layout["bad"] == []
    for what in ("headline", "root", "problems"):
        left, _, right, bottom = layout[what]
        assert left >= 0 and right <= width and bottom <= height, (what, layout[what])
    assert page.locator("#headline .kpi-card").count() == 2
    ARTIFACTS.mkdir(exist_ok=True)
    name = f"board-{width}x{height}-{lang}"
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    alerts = page.locator("#alerts").inner_text()
    assert page.locator("#alerts .alert").count() > 0
    if lang == "zh":
        assert ENGLISH_WORD.findall(VERBATIM.sub("", alerts)) == [], alerts

    # the drill-down: inside the screen (the whole of it on a phone), its tables too
    page.locator("#tree .node[data-kpi=signoff_rate]").click()
    detail = page.locator("#detail").bounding_box()
    assert detail["x"] >= 0 and detail["x"] + detail["width"] <= width
    assert detail["y"] >= 0 and detail["y"] + detail["height"] <= height
    if width < 640:
        assert (detail["x"], detail["width"], detail["height"]) == (0, width, height)
    layout = page.evaluate(LAYOUT_JS)
    assert layout["scrollWidth"] <= width and layout["bad"] == []
    assert page.evaluate(
        "(() => { const d = document.getElementById('detail'); "
        "return d.scrollWidth <= d.clientWidth; })()"
    )
    page.screenshot(path=str(ARTIFACTS / f"{name}-detail.png"))
    page.close()
    assert problems == []


def test_the_printed_board(built_shop, browser):
    """A4 landscape: the headline, the tree and the alerts, no buttons, nothing cut off."""
    page, problems = _open(browser, board_path(built_shop.settings), 1123, 794, "zh")
    page.emulate_media(media="print")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1123
    for shown in ("#headline", "#tree", "#alerts", "#problems"):
        assert page.locator(shown).is_visible(), shown
    for hidden in ("#lang-toggle", "#print", "#teams", "#people", ".export"):
        assert not page.locator(hidden).first.is_visible(), hidden
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = page.pdf(path=str(ARTIFACTS / "board.pdf"), format="A4", landscape=True)
    assert pdf.startswith(b"%PDF")
    page.close()
    assert problems == []


# ---- a person's link, the search box, the downloads ---------------------------------------


def test_a_person_s_link_and_the_search_box(built_shop, browser):
    data = _page_data(board_path(built_shop.settings))
    mine = [p for p in data["people"] if p["person"] == "agent_03" and p["period"] == "month"]
    assert mine
    url = board_path(built_shop.settings).resolve().as_uri() + "#person=agent_03"
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    card = page.locator("#person-card")
    assert card.get_attribute("data-person") == "agent_03"
    assert card.locator("li").count() == len(mine)
    assert card.is_visible()
    box = card.bounding_box()
    assert 0 <= box["y"] < 844  # scrolled to
    assert "is-target" in page.locator("#people-table tr[data-person=agent_03]").get_attribute(
        "class"
    )
    # the search box: a person, then a KPI by its Chinese name
    page.fill("#search", "agent_07")
    page.locator("#search").press("Enter")
    page.wait_for_function("location.hash === '#person=agent_07'")
    # the card is redrawn by the hashchange event, which fires after the hash is set
    expect(page.locator("#person-card")).to_have_attribute("data-person", "agent_07")
    page.fill("#search", "签收率")
    assert page.locator("#search-results li[data-id=signoff_rate]").count() == 1
    page.locator("#search").press("Enter")
    expect(page.locator("#detail-title")).to_have_text("签收率")
    page.close()


def test_a_day_whose_outcomes_have_not_arrived_shows_none_yet_not_zero(built_shop, browser):
    """The newest day's net revenue and sign-off: nothing has signed yet (observed 0 in the
    published day row), so the board shows the expected final value and "none yet" beside it,
    in both languages, never ¥0 or 0 %; the month, where outcomes have arrived, shows them."""
    with _serving(built_shop) as con:
        rows = {
            kpi: (value, expected, provisional)
            for kpi, value, expected, provisional in con.execute(
                "select kpi_id, value, expected_value, is_provisional from kpi_tree.kpi_values "
                "where grain = 'day' and dimension = 'total' and period_start = ? "
                "and kpi_id in ('net_revenue', 'signoff_rate')",
                [built_shop.end],
            ).fetchall()
        }
        month_observed = _pace_row(con, "net_revenue")["observed_actual"]
        # each channel's month of net revenue, as published: its expected final value and
        # what has arrived of it
        by_channel = {
            member: (expected, observed)
            for member, expected, observed in con.execute(
                "select member, expected_value, value from kpi_tree.kpi_values "
                "where kpi_id = 'net_revenue' and grain = 'month' and dimension = 'channel' "
                "and period_start = ? and is_provisional",
                [built_shop.end.replace(day=1)],
            ).fetchall()
        }
    assert by_channel and all(e is not None and e != o for e, o in by_channel.values())
    assert set(rows) == {"net_revenue", "signoff_rate"}
    for value, expected, provisional in rows.values():
        assert provisional and value == 0 and expected > 0  # nothing arrived, some expected
    assert month_observed > 0
    en = Formats(built_shop.settings.currency, "en_US")
    page, problems = _open(browser, board_path(built_shop.settings), 1600, 1000, "en")
    observed = page.locator("#detail dd[data-key=observed]")
    for kpi in rows:
        page.click(f"#tree .node[data-kpi={kpi}]")
        page.click("button[data-period=day]")
        expect(observed).to_have_text("none yet")
        unit = default_tree().nodes[kpi].unit
        actual = page.locator("#detail dd[data-key=actual]").text_content()
        assert actual.startswith(en.value(rows[kpi][1], unit))  # the expected value, judged
        page.click("#lang-toggle")
        expect(observed).to_have_text("尚无")
        page.click("#lang-toggle")
        page.click("button[data-period=month]")
        if kpi == "net_revenue":
            expect(observed).to_have_text(en.value(month_observed, unit))
            # a member is judged on its expected value too, marked, what arrived beside it
            table = "#detail table.breakdown[data-dimension=channel]"
            for member, (expected, seen) in by_channel.items():
                row = page.locator(f"{table} tr[data-member={member}]")
                assert row.locator("td.value").text_content() == en.value(expected, unit) + " ≈"
                said = "none yet" if seen == 0 else en.value(seen, unit)
                assert row.locator("td.observed").text_content() == said
    # a provisional period's members are observed, and a carrier's slice has no expected
    # value at all: the page says so where the KPI has carriers
    for kpi, by_carrier in (("net_revenue", False), ("refusal_rate", True)):
        assert ("carrier" in default_tree().nodes[kpi].dimensions) == by_carrier
        page.evaluate(f"location.hash = '#kpi={kpi}'")
        expect(page.locator("#detail-title")).to_have_text(default_tree().nodes[kpi].en)
        note = page.locator("#breakdown-observed")
        expect(note).to_contain_text("what has arrived so far")
        assert ("By carrier there is no expected value" in note.text_content()) == by_carrier
    assert not problems, problems
    page.close()


def test_tables_download_as_csv_and_excel(built_shop, browser, tmp_path):
    """The breakdown of a rate, with its volumes: the CSV and the workbook hold the numbers
    (unrounded) of the published month rows, under the headers shown; unknown is empty. The
    month is provisional: each member's expected final value and volumes, what has arrived
    beside them."""
    import csv

    import openpyxl

    with _serving(built_shop) as con:
        day = _pace_row(con, "signoff_rate")["as_of_day"]
        rows = con.execute(
            "select member, expected_value, value, expected_numerator, expected_denominator "
            "from kpi_tree.kpi_values "
            "where kpi_id = 'signoff_rate' and grain = 'month' and dimension = 'channel' "
            "and period_start = ? and is_provisional and expected_value is not null",
            [day.replace(day=1)],
        ).fetchall()
    assert len(rows) == 5  # every channel has an expected value this month
    vocabulary = built_shop.settings.vocabulary
    want = {vocabulary.label("channel", m, "zh"): (v, o, n, d) for m, v, o, n, d in rows}
    page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page.goto(board_path(built_shop.settings).resolve().as_uri())
    page.wait_for_selector("body[data-ready=true]")
    page.locator("#tree .node[data-kpi=signoff_rate]").click()
    table = page.locator("#detail .table-block", has=page.locator("table[data-dimension=channel]"))
    headers = table.locator("th").all_inner_texts()
    # the rate, what has arrived of it, its volumes
    assert headers[:5] == ["渠道", "签收率", "目前已到", "签收交易额", "交易额"]
    with page.expect_download() as got:
        table.locator("button[data-format=csv]").click()
    path = tmp_path / got.value.suggested_filename
    got.value.save_as(path)
    assert path.suffix == ".csv"
    lines = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    assert lines[0] == headers
    got_csv = {r[0]: [float(x) for x in r[1:5]] for r in lines[1:]}
    assert got_csv.keys() == want.keys()
    for member, values in got_csv.items():
        assert values == pytest.approx(want[member], rel=1e-12)
    with page.expect_download() as got:
        table.locator("button[data-format=xlsx]").click()
    path = tmp_path / got.value.suggested_filename
    got.value.save_as(path)
    assert path.suffix == ".xlsx"
    sheet = openpyxl.load_workbook(path).active
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert list(cells[0]) == headers
    assert {r[0] for r in cells[1:]} == want.keys()
    for r in cells[1:]:
        assert list(r[1:5]) == pytest.approx(want[r[0]], rel=1e-12)
    assert all(isinstance(r[1], float) for r in cells[1:])  # numbers, not text
    page.close()


def test_every_string_of_the_board_is_in_its_catalogue():
    """Both languages have the same keys and the same placeholders, none empty; every key the
    script asks for is there, and so are those it makes from the data (an alert's kind,
    severity and delivery, a dimension, a relation, a status, a period)."""
    from pipelines.alerts.detect import AT_RISK, BREAK, HELD_BACK, ON_TRACK, RECOVERED, SHORT
    from pipelines.board.data import PERIODS
    from pipelines.board.page import STATIC, catalogue

    words = catalogue()
    assert words["en"].keys() == words["zh"].keys()
    for key, en in words["en"].items():
        zh = words["zh"][key]
        assert en.strip() and zh.strip(), key
        assert set(re.findall(r"\{(\w+)\}", en)) == set(re.findall(r"\{(\w+)\}", zh)), key
    script = (STATIC / "board.js").read_text(encoding="utf-8")
    prefixes = {"kind_", "severity_", "delivery_", "rel_"}
    asked = set(re.findall(r'\bt\("(\w+)"', script)) - prefixes
    tree = default_tree()
    made = (
        {f"kind_{k}" for k in (SHORT, AT_RISK, RECOVERED, BREAK, HELD_BACK, "kpi", "team")}
        | {"kind_person"}
        | {f"severity_{s}" for s in ("critical", "warning", "info")}
        | {f"delivery_{d}" for d in ("delivered", "partial", "undelivered")}
        | {f"rel_{n.relation}" for n in tree.nodes.values() if n.relation}
        | {d for n in tree.nodes.values() for d in n.dimensions}
        | {SHORT, AT_RISK, ON_TRACK, "none", "previous", "last_year"}
        | set(PERIODS)
        | {f"{p}Short" for p in PERIODS}
    )
    assert (asked | made) - words["en"].keys() == set()
