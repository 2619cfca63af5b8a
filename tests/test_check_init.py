"""`kpi check` and `kpi init`, run as a user runs them: every problem of a file in one report,
writing nothing; a first kpi.yaml guessed from the exports, with the preset of each."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from rich.cells import cell_len

from kpi_tree.vocabulary import DEFAULT_VOCABULARY
from pipelines.settings import read_config

EXPORTS = Path(__file__).with_name("exports")
KPI = [sys.executable, "-m", "pipelines.cli"]


def kpi(
    cwd: Path, *args: str, config: Path | None = None, locale: str = "en_US"
) -> subprocess.CompletedProcess:
    # the report in English, the language these tests read (the shop's would be zh_CN)
    env = {**os.environ, "KPI_DATA_DIR": str(cwd / "data"), "COLUMNS": "80", "KPI_LOCALE": locale}
    env.pop("KPI_CONFIG", None)
    if config is not None:
        env["KPI_CONFIG"] = str(config)
    return subprocess.run(
        [*KPI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def every_file(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_kpi_check_reports_every_problem_of_a_file_at_once_and_writes_nothing(tmp_path):
    """The issue's first run, as one report: the encoding, a missing column, dates in another
    format, payment words outside the list, the share of bad rows."""
    config = tmp_path / "kpi.yaml"
    config.write_text(
        "sources:\n  orders:\n"
        "    columns: {客户编号: customer_id, 下单日期: created_at, 支付方式: payment_method}\n"
        "    ids: {order_id: row}\n    constants: {channel: direct}\n",
        encoding="utf-8",
    )
    export = tmp_path / "orders_history.csv"
    shutil.copyfile(EXPORTS / "orders_history_gbk_2025-03-05.csv", export)
    before = every_file(tmp_path)
    started = time.perf_counter()
    out = kpi(tmp_path, "check", "orders", str(export), config=config)
    seconds = time.perf_counter() - started
    report = out.stdout
    assert out.returncode == 1, out.stdout + out.stderr
    assert "3 problems keep the file from loading" in report
    # 1. the encoding, with the one it reads as
    assert "is not utf-8 text" in report and "encoding: gb18030" in report
    # 2. the column no mapping gives, with the file's columns to choose from
    assert "missing columns: amount" in report and "'金额'" in report
    # 3. the dates, with the format that parses all 12 of them
    assert "created_at (下单日期)" in report and "12 of them parse with the format %Y%m%d" in report
    # 4. the words outside the payment methods, with a value map to start from
    assert "payment_method (支付方式): '支付宝' ×7, '货到付款' ×3, '微信支付' ×2" in report
    assert "sources.orders.values.payment_method:" in report and "# members: prepaid, cod" in report
    assert "Rows: 12 of 12 bad (100.0%, above the 5.0% threshold)" in report
    assert "The file would not load." in report
    assert max(len(line) for line in report.splitlines()) <= 80  # read in an 80-column terminal
    assert every_file(tmp_path) == before  # no warehouse, no ledger, no data directory
    assert seconds < 60


def test_kpi_check_says_each_problem_in_the_shops_language(tmp_path):
    """The same file checked for a Chinese shop: the encoding and the dates' problems in
    Chinese, with what to write kept as the config spells it."""
    config = tmp_path / "kpi.yaml"
    config.write_text(
        "sources:\n  orders:\n"
        "    columns: {客户编号: customer_id, 下单日期: created_at, 支付方式: payment_method}\n"
        "    ids: {order_id: row}\n    constants: {channel: direct}\n",
        encoding="utf-8",
    )
    export = tmp_path / "orders_history.csv"
    shutil.copyfile(EXPORTS / "orders_history_gbk_2025-03-05.csv", export)
    out = kpi(tmp_path, "check", "orders", str(export), config=config, locale="zh_CN")
    assert out.returncode == 1, out.stdout + out.stderr
    report = "".join(out.stdout.split())  # wrapped at 80 columns: read it whole
    # the encoding, and the one it reads as
    assert "不是utf-8文本" in report and "`encoding:gb18030`" in report, out.stdout
    # the dates: none parses, 12 do with the format %Y%m%d
    assert "它的12个值没有一个能解析" in report and "其中12个能按格式%Y%m%d解析" in report
    for english in ("is not utf-8 text", "of them parse", "none of its", "is missing"):
        assert english not in out.stdout, english
    assert max(cell_len(line) for line in out.stdout.splitlines()) <= 80


def test_kpi_check_says_a_file_would_load_and_how_many_rows(tmp_path):
    out = kpi(
        tmp_path,
        "check",
        "ad_spend",
        str(EXPORTS / "meta_ads_weekly_2025-03-17.csv"),
        "--preset",
        "meta_ads",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Read 12 rows" in out.stdout and "1 left out by skip" in out.stdout
    assert "The file would load: 11 rows, 0 quarantined." in out.stdout
    assert not (tmp_path / "data").exists()
    wrong = kpi(tmp_path, "check", "ad_spend", str(EXPORTS / "meta_ads_weekly_2025-03-17.csv"))
    assert wrong.returncode == 1  # without the preset: the contract's names are missing
    assert "missing columns: date, channel, campaign, impressions, clicks, spend" in wrong.stdout


def test_kpi_init_guesses_each_preset_from_the_landed_folders(tmp_path):
    landing = tmp_path / "data" / "landing"
    for folder, name in [
        ("orders", "shopify_orders_export_2025-03-14.csv"),
        ("ad_spend", "meta_ads_weekly_2025-03-17.csv"),
    ]:
        (landing / folder).mkdir(parents=True)
        shutil.copyfile(EXPORTS / name, landing / folder / name)
    out = kpi(tmp_path, "init")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Shopify orders export: it has 6 of the 6 columns the preset reads" in out.stdout
    written = tmp_path / "kpi.yaml"
    sources = yaml.safe_load(written.read_text(encoding="utf-8"))["sources"]
    # one export, two sources; the weekly report found weekly from its dates
    assert sources == {
        "orders": {"preset": "shopify"},
        "order_items": {"preset": "shopify"},
        "ad_spend": {"preset": "meta_ads", "grain": "week"},
    }
    assert "# landing/orders/shopify_orders_export_2025-03-14.csv:" in written.read_text()
    read_config(written)
    # never overwritten without --force
    written.write_text("# mine\n", encoding="utf-8")
    again = kpi(tmp_path, "init")
    assert again.returncode == 1 and "--force" in again.stderr
    assert written.read_text() == "# mine\n"
    assert kpi(tmp_path, "init", "--force").returncode == 0
    assert "preset: shopify" in written.read_text()


def test_kpi_init_guesses_taobao_from_files_and_maps_an_unknown_export_by_name(tmp_path):
    out = kpi(
        tmp_path,
        "init",
        str(EXPORTS / "taobao_ExportOrderList_2025-03-14.csv"),
        str(EXPORTS / "taobao_ExportOrderDetailList_2025-03-14.csv"),
        "--out",
        "taobao.yaml",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    taobao = yaml.safe_load((tmp_path / "taobao.yaml").read_text(encoding="utf-8"))
    assert taobao["sources"] == {
        "orders": {"preset": "taobao"},
        "order_items": {"preset": "taobao"},
    }
    # an export no preset describes: its source, columns, encoding and date format by guess
    hand = kpi(
        tmp_path, "init", str(EXPORTS / "orders_history_gbk_2025-03-05.csv"), "--out", "hand.yaml"
    )
    assert hand.returncode == 0, hand.stdout + hand.stderr
    text = (tmp_path / "hand.yaml").read_text(encoding="utf-8")
    orders = yaml.safe_load(text)["sources"]["orders"]
    assert orders == {
        "encoding": "gb18030",
        "columns": {
            "客户编号": "customer_id",
            "下单日期": "created_at",
            "金额": "amount",
            "支付方式": "payment_method",
        },
        "dates": {"created_at": "%Y%m%d"},
    }
    assert "still needed: order_id, channel" in text and "# ids: {order_id: row}" in text
    # what it still needs, kpi check then says
    check = kpi(
        tmp_path,
        "check",
        "orders",
        str(EXPORTS / "orders_history_gbk_2025-03-05.csv"),
        config=tmp_path / "hand.yaml",
    )
    assert check.returncode == 1 and "missing columns: order_id, channel" in check.stdout


def test_kpi_init_says_its_guesses_and_writes_its_comments_in_the_shops_language(tmp_path):
    """A Chinese shop's `kpi init`: the guess's reason on screen and the comments of the
    kpi.yaml it writes are Chinese (the person who edits the file reads them); the keys and
    values stay the config's, and the file still reads."""
    preset = kpi(
        tmp_path,
        "init",
        str(EXPORTS / "shopify_orders_export_2025-03-14.csv"),
        "--out",
        "preset.yaml",
        locale="zh_CN",
    )
    assert preset.returncode == 0, preset.stdout + preset.stderr
    said = "".join(preset.stdout.split())  # the table wraps its cells
    assert "预设读取的6列中它有6列" in said, preset.stdout
    assert "columnsthepresetreads" not in said
    hand = kpi(
        tmp_path,
        "init",
        str(EXPORTS / "orders_history_gbk_2025-03-05.csv"),
        "--out",
        "hand.yaml",
        locale="zh_CN",
    )
    assert hand.returncode == 0, hand.stdout + hand.stderr
    assert "没有合适的预设" in "".join(hand.stdout.split()), hand.stdout
    for name in ("preset.yaml", "hand.yaml"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert "编辑" in text.splitlines()[0], text
        # no comment left in English prose (keys, commands, paths and ids are not prose)
        for english in ("edit it", "business days", "guessed by name", "still needed", "read from"):
            assert english not in text, (name, english)
        read_config(tmp_path / name)
    hand_text = (tmp_path / "hand.yaml").read_text(encoding="utf-8")
    assert "仍然需要" in hand_text and "# ids: {order_id: row}" in hand_text


def test_kpi_check_says_which_timestamps_it_read_in_the_business_zone(tmp_path):
    """Local times without a declared zone are read in the business zone, and check says so
    as the run does; a date-only column is a business day, not such a timestamp."""
    export = tmp_path / "orders_2025-03-15.csv"
    export.write_text(
        "order_id,customer_id,created_at,channel,payment_method,amount,reviewed_at\n"
        "o1,c1,2025-03-15 09:30:00,direct,prepaid,10,2025-03-16\n",
        encoding="utf-8",
    )
    config = tmp_path / "kpi.yaml"
    config.write_text("business_timezone: Europe/Berlin\n", encoding="utf-8")
    out = kpi(tmp_path, "check", "orders", str(export), config=config)
    assert out.returncode == 0, out.stdout + out.stderr
    said = " ".join(out.stdout.split())
    assert "timestamps without a UTC offset (created_at) were read in the business zone" in said
    assert "Europe/Berlin" in said and "sources.orders.timezone" in said
    # a Chinese shop is told the same in Chinese
    out = kpi(tmp_path, "check", "orders", str(export), config=config, locale="zh_CN")
    assert out.returncode == 0, out.stdout + out.stderr
    said = "".join(out.stdout.split())
    assert "没有UTC偏移的时间（created_at）已按营业时区Europe/Berlin读取" in said, out.stdout
    assert "sources.orders.timezone" in said and "without a UTC offset" not in out.stdout
    config.write_text("sources:\n  orders: {timezone: UTC}\n", encoding="utf-8")
    out = kpi(tmp_path, "check", "orders", str(export), config=config)
    assert out.returncode == 0 and "without a UTC offset" not in out.stdout


def test_kpi_check_says_each_broken_rule_in_business_words(tmp_path):
    """The reasons name each rule as the shop reads it (the list a value is not one of, the
    bound an amount is below), in its language, never as pandera's check names."""
    export = tmp_path / "orders_2025-03-01.csv"
    export.write_text(
        "order_id,customer_id,created_at,channel,campaign,payment_method,amount\n"
        "o1,c1,2025-03-01 10:00:00,tv,,prepaid,10\n"
        "o2,c2,2025-03-01 11:00:00,direct,,prepaid,-3\n"
        "o3,c3,2025-03-01 11:00:00,tv,,card,-1\n"
        "o4,,2025-03-01 12:00:00,direct,,prepaid,5\n",
        encoding="utf-8",
    )
    channels = DEFAULT_VOCABULARY.members("channels")
    methods = DEFAULT_VOCABULARY.members("payment_methods")
    out = kpi(tmp_path, "check", "orders", str(export))
    assert out.returncode == 1, out.stdout + out.stderr
    said = " ".join(out.stdout.split())  # wrapped at 80 columns: read it whole
    assert f"channel: not one of the shop's channels ({', '.join(channels)}): 2" in said
    listed = ", ".join(methods)
    assert f"payment_method: not one of the shop's payment methods ({listed}): 1" in said
    assert "amount: below 0: 2" in said and "customer_id: empty: 1" in said
    for pandera in ("isin(", "greater_than", "not_nullable", "str_length"):
        assert pandera not in out.stdout, pandera
    out = kpi(tmp_path, "check", "orders", str(export), locale="zh_CN")
    assert out.returncode == 1, out.stdout + out.stderr
    said = "".join(out.stdout.split())
    assert f"channel:不是店铺的渠道之一（{'、'.join(channels)}）:2" in said, out.stdout
    assert "amount:小于0:2" in said and "customer_id:为空:1" in said
    assert "not one of" not in out.stdout and "below" not in out.stdout
    assert "would not load" not in out.stdout
