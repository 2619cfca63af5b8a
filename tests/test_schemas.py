"""The JSON schemas for editors (schemas/*.json): what the config models generate, and they
accept the project's own config files and refuse what the models refuse."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from kpi_tree.targets.plan import PLANS_DIR, load_plan
from pipelines.schemas import MODELS, SCHEMAS_DIR, main, schema_text, stale_schemas, write_schemas
from pipelines.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent
PLAN_FILES = sorted(PLANS_DIR.glob("*.yaml")) + sorted((ROOT / "tests" / "plans").glob("*.yaml"))
FULL_CONFIG = """
business_timezone: Asia/Shanghai
bad_row_threshold: 0.05
partitions_start: "2024-01-01"
nightly_time: "02:30"
memory_limit: 2GB
sources:
  orders:
    timezone: UTC
    columns: {OrderNo: order_id, PaidAmount: amount}
  ad_spend:
    columns: {Cost: spend}
targets:
  plans: [plans/*.yaml]
  on_track: 0.98
  at_risk: 0.85
alerts:
  retries: 2
  channels:
    default:
      - {type: file}
    marketing:
      - {type: slack, url_env: SLACK_URL}
      - {type: dingtalk, url_env: DT_URL, secret_env: DT_SECRET}
      - {type: webhook, url: "https://hooks.example/kpi", headers_env: {Authorization: HOOK_AUTH}}
      - type: email
        host: smtp.example.com
        starttls: true
        from: kpi@shop.example
        to: boss@shop.example
        user: kpi
        password_env: SMTP_PASSWORD
"""


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(yaml.safe_load((SCHEMAS_DIR / name).read_text(encoding="utf-8")))


def test_the_committed_schemas_are_what_the_models_generate(tmp_path):
    assert stale_schemas() == [], "run `python -m pipelines.schemas` and commit schemas/"
    assert main(["--check"]) == 0
    written = write_schemas(tmp_path)
    assert {p.name for p in written} == set(MODELS) == {p.name for p in SCHEMAS_DIR.glob("*")}
    for path in written:
        assert path.read_text(encoding="utf-8") == (SCHEMAS_DIR / path.name).read_text()
    # and a change to a model shows as a stale file
    (tmp_path / "plan.schema.json").write_text(schema_text(MODELS["kpi.schema.json"]))
    assert stale_schemas(tmp_path) == [tmp_path / "plan.schema.json"]


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_the_plan_files_pass_the_schema_and_the_model(path):
    Draft202012Validator.check_schema(validator("plan.schema.json").schema)
    errors = list(validator("plan.schema.json").iter_errors(yaml.safe_load(path.read_text())))
    assert errors == [], [e.message for e in errors]
    load_plan(path)


@pytest.mark.parametrize("path", sorted(PLANS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_the_example_plans_name_their_schema_for_editors(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    assert (path.parent / first.removeprefix(prefix)).resolve() == SCHEMAS_DIR / "plan.schema.json"


def test_a_full_config_passes_the_schema_and_the_model(tmp_path, monkeypatch):
    errors = list(validator("kpi.schema.json").iter_errors(yaml.safe_load(FULL_CONFIG)))
    assert errors == [], [e.message for e in errors]
    config = tmp_path / "kpi.yaml"
    config.write_text(FULL_CONFIG, encoding="utf-8")
    monkeypatch.setenv("KPI_CONFIG", str(config))
    assert load_settings(tmp_path / "data").source("ad_spend").columns == {"Cost": "spend"}


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["sources"]["orders"].update(encodng="gbk"),
        lambda d: d["sources"]["ad_spend"].update(timezone="UTC"),
        lambda d: d["sources"]["orders"]["columns"].update(Amount="amout"),
        lambda d: d["alerts"]["channels"]["marketing"][0].update(url="https://hooks.slack.com/x"),
        lambda d: d["alerts"]["channels"]["marketing"][1].update(secret="s3cret"),
        lambda d: d["alerts"]["channels"]["marketing"][1].update(secret_env="not a name"),
        lambda d: d["alerts"]["channels"]["default"][0].update(type="pager"),
        lambda d: d["targets"].update(mid_month_day=31),
        lambda d: d.update(bad_row_threshold="5%"),
        lambda d: d.update(nightly_time="25:00"),
    ],
)
def test_the_schema_and_the_model_refuse_the_same_mistakes(tmp_path, monkeypatch, change):
    data = yaml.safe_load(FULL_CONFIG)
    change(data)
    assert list(validator("kpi.schema.json").iter_errors(data)), "the editor would accept it"
    config = tmp_path / "kpi.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("KPI_CONFIG", str(config))
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "data")
