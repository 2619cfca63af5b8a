"""A shop with its own currency and vocabulary through the real nightly job: a USD shop (en_US)
that also buys TV, outdoor and print. Their spend loads and reaches marketing_kpis by channel,
shown by its label; every amount reads $76,109-style in the CLI, the board and the alerts."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil

import duckdb
import pytest
from conftest import TEST_PLAN, make_shop
from typer.testing import CliRunner

from kpi_tree.formats import Formats
from pipelines.board.page import board_path
from pipelines.cli import app
from pipelines.publish.serving import serving_db

#: every test here runs the nightly job over a generated shop (tests/conftest.py: slow)
pytestmark = pytest.mark.slow

START = dt.date(2025, 3, 1)
DAYS = 12
USD = Formats("USD", "en_US")
CONFIG = """
currency: USD
locale: en_US
vocabulary:
  channels:
    members:
      paid_search: {en: paid search, zh: 付费搜索, paid: true}
      feed_ads: {en: feed ads, zh: 信息流广告, paid: true}
      social: {en: social, zh: 社交媒体, paid: true}
      tv: {en: TV, zh: 电视, paid: true}
      outdoor: {en: outdoor, zh: 户外广告, paid: true}
      print: {en: print, zh: 平面广告, paid: true}
      organic: {en: organic, zh: 自然流量}
      direct: {en: direct, zh: 直接访问}
"""
#: the extra channels' daily report: (impressions, clicks, spend) on day i
OFFLINE = {
    "tv": lambda i: (80_000 + 1_000 * i, 0, 15_000.0 + 250.5 * i),
    "outdoor": lambda i: (30_000, 0, 4_200.25),
    "print": lambda i: (9_000 + 10 * i, 0, 1_100.0 + i),
}


@pytest.fixture(scope="module")
def usd_shop(tmp_path_factory):
    """12 days of a small shop without faults, its kpi.yaml saying USD, en_US and the extra
    channels, each day with a second ad spend report for TV, outdoor and print; run once."""
    root = tmp_path_factory.mktemp("usd_shop")
    config = root / "kpi.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KPI_CONFIG", str(config))
        shop = make_shop(root, start=START, days=DAYS, orders_per_day=30, faults={})
        spend: dict[tuple[dt.date, str], float] = {}
        for i in range(DAYS):
            day = START + dt.timedelta(days=i)
            lines = ["date,channel,campaign,impressions,clicks,spend"]
            for channel, report in OFFLINE.items():
                impressions, clicks, amount = report(i)
                lines.append(f"{day},{channel},spring_{channel},{impressions},{clicks},{amount}")
                spend[(day, channel)] = amount
            (shop.landing / "ad_spend" / f"ad_spend_{day}_offline.csv").write_text(
                "\n".join(lines) + "\n", encoding="utf-8"
            )
        plans = shop.settings.targets_dir / "plans"
        plans.mkdir(parents=True)
        shutil.copyfile(TEST_PLAN, plans / TEST_PLAN.name)
        outcome = shop.run()
        assert outcome.ok, outcome.error
        yield shop, spend, outcome


def test_tv_outdoor_and_print_reach_marketing_kpis_by_channel(usd_shop):
    shop, spend, outcome = usd_shop
    assert "marketing" not in outcome.held_back
    expected = {(day, channel): amount for (day, channel), amount in spend.items()}
    with shop.connect() as con:
        assert con.execute("select count(*) from raw._quarantine").fetchall() == [(0,)]
        rows = con.execute(
            "select period_start, member, ad_spend from marketing.marketing_kpis "
            "where grain = 'day' and dimension = 'channel' and member in ('tv', 'outdoor', 'print')"
        ).fetchall()
        total = con.execute(
            "select sum(spend) from raw.ad_spend where date = ?", [START]
        ).fetchall()[0][0]
        day_total = con.execute(
            "select ad_spend from marketing.marketing_kpis where grain = 'day' "
            "and dimension = 'total' and period_start = ?",
            [START],
        ).fetchall()[0][0]
    assert {(d, m): pytest.approx(v) for d, m, v in rows} == expected
    assert day_total == pytest.approx(total)  # the total has them too
    # published: the serving warehouse has them, and the board shows them by their label
    with duckdb.connect(str(serving_db(shop.settings)), read_only=True) as con:
        month = dict(
            con.execute(
                "select member, ad_spend from marketing.marketing_kpis where grain = 'month' "
                "and dimension = 'channel' and period_start = ?",
                [START],
            ).fetchall()
        )
    for channel in OFFLINE:
        mine = sum(v for (_, c), v in spend.items() if c == channel)
        assert month[channel] == pytest.approx(mine)


def test_the_board_shows_the_channels_labels_and_dollars(usd_shop, browser):
    shop, _, _ = usd_shop
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(board_path(shop.settings).resolve().as_uri())
    page.wait_for_selector("body[data-ready=true]")
    # an en_US shop's board opens in English, its amounts in dollars
    assert page.locator("#title").text_content() == "KPI board"
    # the tree writes values compact ($76.1K), the exact amount on hover
    gmv = page.locator("#tree .node[data-kpi=gmv] .node-value")
    written = gmv.get_attribute("title")
    assert written == USD.value(float(gmv.get_attribute("data-value")), "money")
    assert re.fullmatch(r"\$\d{1,3}(,\d{3})*", written), written
    assert gmv.text_content() == USD.compact(float(gmv.get_attribute("data-value")), "money")
    page.click("#tree .node[data-kpi=ad_spend]")
    channels = "#detail table.breakdown[data-dimension=channel]"
    assert page.locator(f"{channels} tr[data-member=tv] td.member").text_content() == "TV"
    page.click("#lang-toggle")
    assert page.locator(f"{channels} tr[data-member=tv] td.member").text_content() == "电视"
    assert page.locator(f"{channels} tr[data-member=print] td.member").text_content() == "平面广告"
    assert page.locator("#tree .node[data-kpi=gmv] .node-value").text_content().startswith("US$")
    page.close()


def _kpi(shop, *args: str):
    result = CliRunner().invoke(app, list(args), env={"KPI_DATA_DIR": str(shop.data_dir)})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_cli_writes_dollars(usd_shop):
    shop, _, _ = usd_shop
    end = shop.end
    with shop.connect() as con:
        gmv_day, gmv_month = (
            con.execute(
                "select value from kpi.fct_kpi_values where kpi_id = 'gmv' and grain = ? "
                "and dimension = 'total' and period_start = ?",
                [grain, start],
            ).fetchall()[0][0]
            for grain, start in (("day", end), ("month", end.replace(day=1)))
        )
    tree = _kpi(shop, "tree", "--date", end.isoformat())
    line = next(line for line in tree.splitlines() if "交易额 GMV" in line)
    assert USD.value(gmv_day, "money") in line and USD.value(gmv_month, "money") in line
    assert "$" in line and "¥" not in tree
    with duckdb.connect(str(serving_db(shop.settings)), read_only=True) as con:
        actual, target = con.execute(
            "select actual, target from kpi_tree.kpi_vs_target where kpi_id = 'gmv' "
            "and scope = 'all' and period_grain = 'month' and as_of_day = ?",
            [end],
        ).fetchall()[0]
    show = _kpi(shop, "targets", "show", "--date", end.isoformat())
    line = next(line for line in show.splitlines() if "GMV 交易额" in line)
    assert USD.value(actual, "money") in line and USD.value(target, "money") in line
    assert "¥" not in show


def test_alerts_and_the_dictionary_say_dollars(usd_shop):
    shop, _, _ = usd_shop
    outbox = shop.data_dir / "alerts" / "outbox.jsonl"
    sent = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    money = [m for m in sent if m["kpi"] in ("gmv", "net_revenue", "aov")]
    assert money, "the ambitious test plan leaves a money KPI behind pace"
    for message in money:
        assert message["fields"]["Actual"].startswith("$"), message  # en_US: its label
    assert not [m for m in sent if "¥" in json.dumps(m, ensure_ascii=False)]
    with duckdb.connect(str(serving_db(shop.settings)), read_only=True) as con:
        (gmv,) = con.execute(
            "select description from kpi_tree.data_dictionary where table_name = 'kpi_nodes' "
            "and column_name = 'kpi_id = gmv'"
        ).fetchall()[0]
    assert gmv.startswith("GMV (交易额), USD, owned by Management")
