"""kpi.yaml: read into checked settings; every kind of mistake refused at its place, by name;
memory_limit applied to DuckDB by our connections and dbt's."""

import datetime as dt
import json

import pytest

from pipelines.alerts.notify import channels_for
from pipelines.ingest.contracts import SOURCE_SPECS
from pipelines.resources import Warehouse
from pipelines.settings import ConfigError, load_settings

#: the start of a config with one channel of team ops
OPS = "alerts:\n  channels:\n    ops:\n      - "


def _config(tmp_path, monkeypatch, **values):
    path = tmp_path / "kpi.yaml"
    path.write_text(json.dumps(values), encoding="utf-8")
    monkeypatch.setenv("KPI_CONFIG", str(path))
    return path


def _yaml(tmp_path, monkeypatch, text):
    path = tmp_path / "kpi.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("KPI_CONFIG", str(path))
    return path


def refused(tmp_path) -> dict[str, str]:
    """What load_settings says of the config: the place of each problem -> what it says."""
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "data")
    out = {}
    for line in str(info.value).splitlines():
        file, place, what = line.split(": ", 2)
        assert file == str(tmp_path / "kpi.yaml")  # every line names the file
        out[place] = what
    return out


def test_memory_limit_defaults_to_2gb_and_reaches_the_warehouse_connection(tmp_path, monkeypatch):
    monkeypatch.delenv("KPI_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_settings(tmp_path / "data").memory_limit == "2GB"
    _config(tmp_path, monkeypatch, memory_limit="1500MB")
    assert load_settings(tmp_path / "data").memory_limit == "1500MB"
    with Warehouse(data_dir=str(tmp_path / "data")).connect() as con:
        shown = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    # DuckDB reports it in its own unit: 1500 MB = 1.3 GiB
    assert shown == "1.3 GiB"


def test_without_a_config_every_setting_has_its_default(tmp_path, monkeypatch):
    monkeypatch.delenv("KPI_CONFIG", raising=False)
    monkeypatch.delenv("KPI_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.data_dir == tmp_path / "data" and s.config_file is None
    assert (s.business_timezone, s.bad_row_threshold) == ("Asia/Shanghai", 0.05)
    assert (s.partitions_start, s.nightly_hour, s.nightly_minute) == ("2024-01-01", 2, 30)
    # no source declares a zone: timestamps without an offset are read in the business zone
    # (and the run says so), date-only values are business days
    assert {name: (c.timezone, c.timezone_declared) for name, c in s.sources.items()} == {
        name: ("Asia/Shanghai", False) if spec.timestamp_columns else (None, True)
        for name, spec in SOURCE_SPECS.items()
    }
    assert {c.business_timezone for c in s.sources.values()} == {"Asia/Shanghai"}
    assert s.targets.on_track == 1.0 and s.alerts.retries == 3 and not s.alerts.channels


def test_a_config_is_read_into_the_settings(tmp_path, monkeypatch):
    _yaml(
        tmp_path,
        monkeypatch,
        """
data_dir: elsewhere
business_timezone: Europe/Berlin
bad_row_threshold: 0.1
partitions_start: 2025-03-01     # unquoted: YAML reads a date
nightly_time: "4:05"
sources:
  orders:
    timezone: Asia/Shanghai
    columns: {OrderNo: order_id, PaidAmount: amount}
  order_items:                   # blank: the defaults
targets:
  plans: plans/*.yaml            # one glob, not a list
alerts:
  retries: 5
  channels:
    default:
      - {type: file}
    marketing:
      - {type: file, path: /tmp/mkt.jsonl}
      - {type: feishu, url_env: FEISHU_URL, secret_env: FEISHU_SECRET}
""",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KPI_DATA_DIR", raising=False)
    s = load_settings()
    assert s.data_dir == tmp_path / "elsewhere"
    assert (s.business_timezone, s.bad_row_threshold) == ("Europe/Berlin", 0.1)
    assert (s.partitions_start, s.nightly_hour, s.nightly_minute) == ("2025-03-01", 4, 5)
    assert dt.date.fromisoformat(s.partitions_start) == dt.date(2025, 3, 1)
    orders = s.source("orders")
    assert (orders.timezone, orders.timezone_declared) == ("Asia/Shanghai", True)
    # a source that declares no zone is read in the business zone
    assert (s.source("sessions").timezone, s.source("sessions").timezone_declared) == (
        "Europe/Berlin",
        False,
    )
    assert orders.columns == {"OrderNo": "order_id", "PaidAmount": "amount"}
    assert s.source("order_items").columns == {} and s.source("order_items").timezone is None
    assert s.targets.plans == ("plans/*.yaml",) and s.alerts.retries == 5
    # the channels as delivery uses them: file paths under the data directory
    (default,) = channels_for(s, "operations")
    assert default.path == str(tmp_path / "elsewhere" / "alerts" / "outbox.jsonl")
    mkt_file, feishu = channels_for(s, "marketing")
    assert mkt_file.path == "/tmp/mkt.jsonl"
    assert (feishu.type, feishu.url_env, feishu.secret_env) == (
        "feishu",
        "FEISHU_URL",
        "FEISHU_SECRET",
    )


@pytest.mark.parametrize(
    ("text", "place"),
    [
        # unknown keys, at every level
        ("nightly: '02:30'\n", "nightly"),
        ("sources:\n  orders:\n    encodng: gbk\n", "sources.orders.encodng"),
        ("sources:\n  orders:\n    encoding: klingon\n", "sources.orders.encoding"),
        ("sources:\n  orders:\n    date_format: '%d/%m'\n", "sources.orders.date_format"),
        ("sources:\n  ordres: {}\n", "sources.ordres"),
        ("sources:\n  ad_spend:\n    timezone: UTC\n", "sources.ad_spend.timezone"),
        ("targets:\n  pace: 1\n", "targets.pace"),
        ("alerts:\n  retry: 1\n", "alerts.retry"),
        (
            OPS + "{type: slack, url_env: S, to: x}\n",
            "alerts.channels.ops[0].to",
        ),
        # values of the wrong kind
        ("bad_row_threshold: '5%'\n", "bad_row_threshold"),
        ("bad_row_threshold: true\n", "bad_row_threshold"),
        ("targets:\n  mid_month_day: 14.5\n", "targets.mid_month_day"),
        ("targets:\n  plans: {a: 1}\n", "targets.plans"),
        ("sources:\n  orders: [order_id]\n", "sources.orders"),
        ("alerts:\n  channels:\n    ops: {type: file}\n", "alerts.channels.ops"),
        # out of range
        ("bad_row_threshold: 1.5\n", "bad_row_threshold"),
        ("targets:\n  mid_month_day: 31\n", "targets.mid_month_day"),
        ("targets:\n  trailing_days: 0\n", "targets.trailing_days"),
        ("alerts:\n  retries: 0\n", "alerts.retries"),
        ("alerts:\n  backoff_seconds: -1\n", "alerts.backoff_seconds"),
        # time zones, dates, times, amounts
        ("business_timezone: Asia/Shangai\n", "business_timezone"),
        ("sources:\n  orders:\n    timezone: GMT+8\n", "sources.orders.timezone"),
        ("partitions_start: '2024-13-01'\n", "partitions_start"),
        ("partitions_start: 2024-01-01 10:00:00\n", "partitions_start"),
        ("nightly_time: '25:00'\n", "nightly_time"),
        ("nightly_time: 2:30\n", "nightly_time"),  # YAML 1.1 reads it as the number 150
        ("memory_limit: lots\n", "memory_limit"),
        # column mappings onto the contract's columns
        ("sources:\n  orders:\n    columns: {Amount: amout}\n", "sources.orders.columns.Amount"),
        (
            "sources:\n  orders:\n    columns: {OrderNo: order_id, Order: order_id}\n",
            "sources.orders.columns.Order",
        ),
        # rules over several keys
        ("targets:\n  on_track: 0.8\n  at_risk: 0.9\n", "targets.at_risk"),
        # alert channels
        (OPS + "{type: pager}\n", "alerts.channels.ops[0].type"),
        (OPS + "{url_env: X}\n", "alerts.channels.ops[0].type"),
        (
            "alerts:\n  channels:\n    marketing:\n      - {type: file}\n      - {type: slack}\n",
            "alerts.channels.marketing[1].url_env",
        ),
        (
            "alerts:\n  channels:\n    marketing:\n      - {type: file}\n"
            "      - {type: slack, url_env: 'https://hooks.slack.com/services/T0/B0/XYZSECRET'}\n",
            "alerts.channels.marketing[1].url_env",
        ),
        (
            OPS + "{type: dingtalk, url_env: D, secret: s3cr3tvalue}\n",
            "alerts.channels.ops[0].secret",
        ),
        (
            OPS + "{type: email, host: h, from: a@b.cn, to: c@d.cn,"
            " user: u, password: s3cr3tvalue}\n",
            "alerts.channels.ops[0].password",
        ),
        (
            OPS + "{type: email, host: h, from: a@b.cn, to: c@d.cn, user: u}\n",
            "alerts.channels.ops[0].password_env",
        ),
        ("- a list\n", ""),
    ],
)
def test_each_kind_of_mistake_is_refused_at_its_place(tmp_path, monkeypatch, text, place):
    _yaml(tmp_path, monkeypatch, text)
    if place:
        problems = refused(tmp_path)
        assert place in problems, problems
        assert problems[place]
    else:  # the file as a whole
        with pytest.raises(ConfigError, match=str(tmp_path / "kpi.yaml")):
            load_settings(tmp_path / "data")


def test_every_problem_is_reported_at_once_and_says_what_to_do(tmp_path, monkeypatch):
    _yaml(
        tmp_path,
        monkeypatch,
        "business_timezone: Asia/Shangai\nbad_row_threshold: 2\n"
        "sources:\n  orders:\n    encodng: gbk\n",
    )
    problems = refused(tmp_path)
    assert set(problems) == {
        "business_timezone",
        "bad_row_threshold",
        "sources.orders.encodng",
    }
    assert "Asia/Shanghai" in problems["business_timezone"]  # the zone it was meant to be
    assert "columns" in problems["sources.orders.encodng"]  # the keys it could have been


def test_no_secret_value_reaches_the_message_or_its_traceback(tmp_path, monkeypatch):
    _yaml(
        tmp_path,
        monkeypatch,
        "alerts:\n  channels:\n    ops:\n"
        "      - {type: webhook, url: 'https://hooks.example/x?access_token=TOPSECRET1'}\n"
        "      - {type: dingtalk, url_env: D, secret: TOPSECRET2}\n"
        "      - {type: slack, url_env: 'https://hooks.slack.com/services/TOPSECRET3'}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "data")
    err = info.value
    assert {"alerts.channels.ops[0].url", "alerts.channels.ops[1].secret"} <= set(refused(tmp_path))
    assert "TOPSECRET" not in str(err)
    assert err.__cause__ is None and err.__suppress_context__  # pydantic's error holds them


def test_a_config_that_is_not_yaml_names_the_file(tmp_path, monkeypatch):
    path = _yaml(tmp_path, monkeypatch, "sources: [\n")
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        load_settings(tmp_path / "data")
    assert str(info.value).count(str(path)) >= 1


def test_a_config_error_is_a_value_error(tmp_path, monkeypatch):
    """The CLI and callers catch ValueError for a config that cannot be used."""
    _config(tmp_path, monkeypatch, memory_limit="lots")
    with pytest.raises(ValueError, match="memory_limit"):
        load_settings(tmp_path / "data")


def test_engine_picks_the_dbt_target_and_an_unknown_engine_is_refused_by_name(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("KPI_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    default = load_settings(tmp_path / "data")
    assert (default.engine, default.dbt_target) == ("duckdb", "build")
    _config(tmp_path, monkeypatch, engine="spark")
    spark = load_settings(tmp_path / "data")
    assert (spark.engine, spark.dbt_target) == ("spark", "spark")
    assert spark.spark_raw_dir == (tmp_path / "data" / "spark" / "raw").resolve()
    _config(tmp_path, monkeypatch, engine="trino")
    problems = refused(tmp_path)
    assert list(problems) == ["engine"], problems
