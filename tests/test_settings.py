"""kpi.yaml's memory_limit: read, checked, and applied to DuckDB by our connections and dbt's."""

import json

import pytest

from pipelines.resources import Warehouse
from pipelines.settings import load_settings


def _config(tmp_path, monkeypatch, **values):
    path = tmp_path / "kpi.yaml"
    path.write_text(json.dumps(values), encoding="utf-8")
    monkeypatch.setenv("KPI_CONFIG", str(path))


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


def test_a_memory_limit_that_is_not_an_amount_is_refused_by_name(tmp_path, monkeypatch):
    _config(tmp_path, monkeypatch, memory_limit="lots")
    with pytest.raises(ValueError, match=r"memory_limit must be an amount such as 2GB.*'lots'"):
        load_settings(tmp_path / "data")
