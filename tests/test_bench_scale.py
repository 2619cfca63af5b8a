"""The benchmark's copies of a simulated block: new keys that still follow the days, and
references to orders that exist."""

import datetime as dt

import polars as pl

from bench.scale import Block, shift

# a 7-day block from 29 December 2024; its days' order counts
BLOCK = Block(
    dt.date(2024, 12, 29),
    7,
    {dt.date(2024, 12, 29) + dt.timedelta(d): n for d, n in enumerate([5, 3, 4, 4, 4, 4, 2])},
)


def test_a_copys_keys_move_with_its_days_and_stay_unique():
    block = pl.DataFrame(
        {
            "order_id": ["o20241229-040069", "o20250102-000001", None, "legacy-7"],
            "shipment_id": ["s20241229-040069", "s20250102-000001", "s20241231-5", "s9"],
            "business_date": [dt.date(2024, 12, 29), dt.date(2025, 1, 2), None, None],
        }
    )
    copy = shift(block, 1, BLOCK)
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
    later = shift(block, 2, BLOCK)
    assert later["order_id"][0] > copy["order_id"][0] > block["order_id"][0]
    assert set(later["order_id"].drop_nulls()).isdisjoint(copy["order_id"].drop_nulls())


def test_a_copys_references_to_orders_before_the_block_name_the_earlier_copies_orders():
    """The generator's warm-up: shipments of orders placed before the block's first day. In copy
    3 (21 days later) an order of 27 December (two days before the block) becomes copy 2's
    order of 17 January (block day 6, 3 January, 14 days later); one of 18 December (11 days
    before) copy 1's of 8 January (block day 4, 1 January: four orders, so number 6 wraps to
    2); one 25 days before would be copy -1's: no copy has it, and it is only moved."""
    shipments = pl.DataFrame(
        {
            "shipment_id": ["s1", "s2", "s3", "s4"],
            "order_id": [
                "o20241227-000002",
                "o20241218-000006",
                "o20241204-000001",
                "o20241230-000003",  # a block order: moved as the copy's own
            ],
        }
    )
    copy = shift(shipments, 3, BLOCK)
    assert copy["order_id"].to_list() == [
        "o20250117-000002-r2",
        "o20250108-000002-r1",
        "o20241225-000001-r3",
        "o20250120-000003-r3",
    ]
    # each named order exists in the copy it names (copy 0 is the block itself, no suffix)
    orders = pl.DataFrame(
        {
            "order_id": [
                f"o{d:%Y%m%d}-{n:06d}" for d, c in BLOCK.orders.items() for n in range(1, c + 1)
            ]
        }
    )
    every = pl.concat([orders, *(shift(orders, k, BLOCK) for k in (1, 2, 3))])["order_id"]
    assert [o in set(every) for o in copy["order_id"]] == [True, True, False, True]
    # in copy 1 an order of 27 December is block day 7's, the block's own (copy 0)
    assert shift(shipments, 1, BLOCK)["order_id"][0] == "o20250103-000002"
