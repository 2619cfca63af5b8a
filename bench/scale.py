"""The sample shop at benchmark scale, quickly.

The generator simulates every order, one by one: a year of a large shop would take far longer
to generate than to benchmark. The benchmark instead simulates one block of days at the wanted
scale and lays copies of it end to end: each copy's dates move by the block's length and its keys
(order, shipment and conversation ids) get a suffix, so every copy is new data with the same
shape, volumes and proportions (sessions, items, conversations and shipments per order).
Seasonality is the block's own; that does not matter for timing.

The generator starts its block with the shipments and conversations of orders placed before
its first day (its warm-up), as a shop's first days do: about a third of a 7-day block's
shipment rows. In the first copy those orders come before the history, as a real history's
first weeks' do; in a later copy they are the orders of the copies before it, so each such
reference is pointed at the order of the same block day and number in the copy it falls in.
Left as they were, they would name orders no copy has, and the gates would hold back the
units that read shipments (orphan shipments: ``expectations/completeness.py``) every night.

The generator's keys begin with their day (``o20250105-000123``), as a shop's order numbers
usually follow time; a copy's keys move with its dates (``o20250112-000123-r1``), so keys
keep following the days over the whole year. (Copies that kept the block's dates in their
keys would make every month's keys look like the first week's, which no shop's do, and no
lookup by key could skip any part of a table.)
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sample_shop.generator import generate_shop

DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
KEYS = ("order_id", "shipment_id", "conversation_id")
DATED_KEY = r"^([^0-9]*)(\d{8})(.*)$"  # prefix, the day as YYYYMMDD, the rest
NUMBERED = r"^-(\d+)$"  # the rest of an order id: its number in its day
TEXT_FORMATS = (  # (pattern, strftime) of the generator's text timestamps
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"), "%Y-%m-%dT%H:%M:%SZ"),
    (re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"), "%Y-%m-%d %H:%M:%S"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
)


def _read(path: Path) -> pl.DataFrame:
    if path.suffix == ".csv":
        return pl.read_csv(path, infer_schema=False)
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    return pl.read_ndjson(path, infer_schema_length=None)


def _write(df: pl.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        df.write_csv(path)
    elif path.suffix == ".parquet":
        df.write_parquet(path)
    else:
        df.write_ndjson(path)


def _text_format(series: pl.Series) -> str | None:
    sample = series.drop_nulls().head(1)
    if sample.len() == 0:
        return None
    value = sample[0]
    return next((fmt for pattern, fmt in TEXT_FORMATS if pattern.match(str(value))), None)


def _shift_key(col: pl.Expr, days: int, suffix: str) -> pl.Expr:
    """A key ``days`` later (the day it begins with moved) and made unique by ``suffix``."""
    day = col.str.extract(DATED_KEY, 2).str.strptime(pl.Date, "%Y%m%d", strict=False)
    moved = pl.concat_str(
        col.str.extract(DATED_KEY, 1),
        (day + pl.duration(days=days)).dt.strftime("%Y%m%d"),
        col.str.extract(DATED_KEY, 3),
    )
    return pl.when(col.is_null()).then(None).otherwise(pl.coalesce(moved, col) + suffix)


@dataclass(frozen=True)
class Block:
    """The simulated block: its first day, its length, and how many orders each day has (an
    order's number in its day runs from 1 to that count)."""

    start: dt.date
    days: int
    orders: dict[dt.date, int]


def _order_reference(col: pl.Expr, copy: int, block: Block) -> pl.Expr:
    """The order id ``col`` in copy ``copy``: a block order's moves with the copy; an order
    from before the block's first day becomes the order of its day and number in the copy it
    falls in (the number wrapped into that day's count), or stays as it is moved when that
    copy would come before the first."""
    moved = _shift_key(col, copy * block.days, f"-r{copy}")
    day = col.str.extract(DATED_KEY, 2).str.strptime(pl.Date, "%Y%m%d", strict=False)
    number = col.str.extract(DATED_KEY, 3).str.extract(NUMBERED, 1)
    before = (pl.lit(block.start) - day).dt.total_days()
    back = (before + block.days - 1) // block.days  # copies back: 1 for the 7 days before
    source = copy - back
    block_day = day + pl.duration(days=back * block.days)
    per_day = pl.DataFrame(
        {"day": list(block.orders), "n": list(block.orders.values())},
        schema={"day": pl.Date, "n": pl.Int64},
    )
    count = block_day.replace_strict(per_day["day"], per_day["n"], default=None)
    wrapped = (number.cast(pl.Int64, strict=False) - 1) % count + 1
    earlier = pl.concat_str(
        col.str.extract(DATED_KEY, 1),
        (day + pl.duration(days=copy * block.days)).dt.strftime("%Y%m%d"),
        pl.lit("-"),
        wrapped.cast(pl.String).str.zfill(number.str.len_chars()),
        pl.when(source == 0).then(pl.lit("")).otherwise(pl.lit("-r") + source.cast(pl.String)),
    )
    return (
        pl.when((before > 0) & (source >= 0) & earlier.is_not_null()).then(earlier).otherwise(moved)
    )


def shift(df: pl.DataFrame, copy: int, block: Block) -> pl.DataFrame:
    """The rows of ``block`` as its copy number ``copy`` (1, 2, ...): ``copy`` blocks' days
    later, keys made unique by the suffix ``-r<copy>``, references to orders from before the
    block pointed at the copies before it."""
    days = copy * block.days
    exprs = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime) or dtype == pl.Date:
            exprs.append(col + pl.duration(days=days))
        elif dtype == pl.String and name == "order_id":
            exprs.append(_order_reference(col, copy, block).alias(name))
        elif dtype == pl.String and name in KEYS:
            exprs.append(_shift_key(col, days, f"-r{copy}").alias(name))
        elif dtype == pl.String and (fmt := _text_format(df[name])) is not None:
            parsed = col.str.strptime(pl.Datetime if "%H" in fmt else pl.Date, fmt, strict=False)
            exprs.append((parsed + pl.duration(days=days)).dt.strftime(fmt).alias(name))
        else:
            exprs.append(col)
    return df.select(exprs)


def block_of(folder: Path, start: dt.date, days: int) -> Block:
    """The block the generator wrote in ``folder``: its orders counted per day of their ids."""
    orders = sorted((folder / "orders").glob("*"))
    ids = pl.concat([_read(path).select(pl.col("order_id").cast(pl.String)) for path in orders])
    per_day = (
        ids.select(
            pl.col("order_id")
            .str.extract(DATED_KEY, 2)
            .str.strptime(pl.Date, "%Y%m%d", strict=False)
            .alias("day")
        )
        .drop_nulls()
        .group_by("day")
        .len()
    )
    return Block(start, days, dict(zip(per_day["day"], per_day["len"], strict=True)))


def scaled_shop(
    landing: Path,
    start: dt.date,
    days: int,
    orders_per_day: int,
    block_days: int = 7,
    seed: int = 5,
    log=print,
) -> dict:
    """Write ``days`` days of the sample shop at ``orders_per_day`` into ``landing``."""
    if landing.exists():
        shutil.rmtree(landing)
    block = landing.parent / f".block_{orders_per_day}"
    if block.exists():
        shutil.rmtree(block)
    block_days = min(block_days, days)
    log(f"simulating a {block_days}-day block at {orders_per_day:,} orders a day")
    generate_shop(block, start, block_days, orders_per_day=orders_per_day, seed=seed, faults=None)
    simulated = block_of(block, start, block_days)
    copies = -(-days // block_days)
    files = sorted(p for p in block.rglob("*") if p.is_file() and DATE_IN_NAME.search(p.name))
    written = 0
    for k in range(copies):
        offset = k * block_days
        for path in files:
            day = dt.date.fromisoformat(DATE_IN_NAME.search(path.name)[1]) + dt.timedelta(offset)
            if (day - start).days >= days:
                continue
            target = landing / path.parent.name / DATE_IN_NAME.sub(day.isoformat(), path.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            if k == 0:
                shutil.copyfile(path, target)
            else:
                _write(shift(_read(path), k, simulated), target)
            written += 1
        if k % 8 == 7:
            log(f"  {min((k + 1) * block_days, days)}/{days} days written")
    shutil.rmtree(block)
    return {"files": written, "days": days, "orders_per_day": orders_per_day}
