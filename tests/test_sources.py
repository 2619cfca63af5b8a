"""One SourceSpec per source: its facts agree with its contract, its key is the key its
contract enforces, and the sources are the dbt project's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl
import pytest
import yaml
from pandera.errors import SchemaErrors

from pipelines.ingest.contracts import SOURCE_SPECS, SOURCES, Timestamp
from pipelines.ingest.load import RAW_SCHEMA, ensure_tables

ROOT = Path(__file__).resolve().parent.parent
T0 = dt.datetime(2025, 3, 15, 1, 0)
HOUR = dt.timedelta(hours=1)

#: one row of each source that passes its contract
GOOD_ROW = {
    "orders": {
        "order_id": "o1",
        "customer_id": "c1",
        "created_at": T0,
        "channel": "organic",
        "campaign": None,
        "payment_method": "prepaid",
        "amount": 10.5,
        "reviewed_at": T0 + HOUR,
    },
    "order_items": {
        "order_id": "o1",
        "line_no": 1,
        "product_id": "p1",
        "category": "shoes",
        "quantity": 2,
        "unit_price": 5.0,
        "line_amount": 10.0,
    },
    "sessions": {
        "hour_start": T0,
        "channel": "organic",
        "campaign": None,
        "landing_page": "/home",
        "sessions": 10,
        "product_detail_sessions": 5,
        "product_views": 8,
        "bounces": 3,
    },
    "ad_spend": {
        "date": dt.date(2025, 3, 15),
        "channel": "social",
        "campaign": "spring",
        "impressions": 100,
        "clicks": 7,
        "spend": 12.5,
    },
    "conversations": {
        "conversation_id": "v1",
        "customer_id": "c1",
        "agent_id": "a1",
        "topic": "presale",
        "started_at": T0,
        "first_response_at": T0 + HOUR,
        "ended_at": T0 + 2 * HOUR,
        "messages": 4,
        "order_id": None,
        "satisfaction": 5,
    },
    "shipments": {
        "shipment_id": "s1",
        "order_id": "o1",
        "carrier": "zto",
        "payment_method": "cod",
        "status": "shipped",
        "shipped_at": T0,
        "delivered_at": None,
        "returned_at": None,
        "refund_amount": 0.0,
        "updated_at": T0,
    },
}


def other(value, dtype: pl.DataType):
    """A different value of the column's type (other rules may break: only the key rule's
    failures are looked at)."""
    if value is None:
        return {Timestamp: T0 + HOUR, pl.String: "c2"}.get(dtype, 1)
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, dt.datetime):
        return value + HOUR
    if isinstance(value, dt.date):
        return value + dt.timedelta(days=1)
    return value + 1


def key_failures(source: str, rows: list[dict]) -> list[int]:
    """The rows (by index) the contract's key rule quarantines."""
    spec = SOURCE_SPECS[source]
    frame = pl.DataFrame(rows, schema=spec.dtypes, orient="row")
    try:
        spec.contract.validate(frame, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases.filter(pl.col("check").str.ends_with("_key_unique"))
        return sorted(int(i) for i in cases["index"])
    return []


def test_one_spec_per_source_in_one_registry():
    assert SOURCES == list(SOURCE_SPECS) == list(GOOD_ROW)
    for name, spec in SOURCE_SPECS.items():
        assert spec.name == name
        assert issubclass(spec.contract, pa.DataFrameModel)
        with pytest.raises(AttributeError):
            spec.business_date = "date"  # frozen


def test_the_dbt_sources_are_the_specs():
    sources = yaml.safe_load((ROOT / "dbt_project/models/staging/_shop__sources.yml").read_text())
    (shop,) = sources["sources"]
    assert [t["name"] for t in shop["tables"]] == SOURCES


@pytest.mark.parametrize("source", SOURCES)
def test_a_spec_agrees_with_its_contract(source):
    spec = SOURCE_SPECS[source]
    assert list(spec.dtypes) == list(GOOD_ROW[source])
    # rows without dates of their own are dated by another source's, through a shared column
    assert (spec.business_date is None) == (spec.dated_by is not None)
    if spec.dated_by is not None:
        parent, column = spec.dated_by
        assert column in spec.dtypes and column in SOURCE_SPECS[parent].dtypes
        assert SOURCE_SPECS[parent].business_date is not None
    assert all(spec.dtypes[c] == Timestamp for c in spec.timestamp_columns)
    if spec.business_date is not None:
        assert spec.dtypes[spec.business_date] in (Timestamp, pl.Date)
    assert set(spec.key) <= set(spec.dtypes)
    assert key_failures(source, [GOOD_ROW[source]]) == []


@pytest.mark.parametrize("source", SOURCES)
def test_the_key_of_a_spec_is_the_key_its_contract_enforces(source):
    spec, row = SOURCE_SPECS[source], GOOD_ROW[source]
    assert key_failures(source, [row, row]) == [1]  # first one wins
    for column in spec.dtypes:
        changed = {**row, column: other(row[column], spec.dtypes[column])}
        # a later row with another value of a key column is another row; with another value
        # of any other column it is a copy of the first
        assert key_failures(source, [row, changed]) == ([] if column in spec.key else [1]), column


def test_a_raw_table_has_a_business_date_when_its_spec_names_one(tmp_path):
    with duckdb.connect(str(tmp_path / "b.duckdb")) as con:
        ensure_tables(con, SOURCES)
        for source, spec in SOURCE_SPECS.items():
            columns = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ?",
                    [RAW_SCHEMA, source],
                ).fetchall()
            ]
            assert ("business_date" in columns) == (spec.business_date is not None), source
