"""The benchmark's copies of a simulated block: new keys that still follow the days."""

import datetime as dt

import polars as pl

from bench.scale import shift


def test_a_copys_keys_move_with_its_days_and_stay_unique():
    block = pl.DataFrame(
        {
            "order_id": ["o20241229-040069", "o20250102-000001", None, "legacy-7"],
            "shipment_id": ["s20241229-040069", "s20250102-000001", "s20241231-5", "s9"],
            "business_date": [dt.date(2024, 12, 29), dt.date(2025, 1, 2), None, None],
        }
    )
    copy = shift(block, 7, "-r1")
    assert copy["order_id"].to_list() == [
        "o20250105-040069-r1",
        "o20250109-000001-r1",
        None,
        "legacy-7-r1",  # a key without a day only gets the suffix
    ]
    assert copy["shipment_id"].to_list() == [
        "s20250105-040069-r1",
        "s20250109-000001-r1",
        "s20250107-5-r1",
        "s9-r1",
    ]
    assert copy["business_date"].to_list() == [dt.date(2025, 1, 5), dt.date(2025, 1, 9), None, None]
    # a later copy's keys sort after the earlier ones' (and never collide with them)
    later = shift(block, 14, "-r2")
    assert later["order_id"][0] > copy["order_id"][0] > block["order_id"][0]
    assert set(later["order_id"].drop_nulls()).isdisjoint(copy["order_id"].drop_nulls())
