"""A deterministic sample shop: six sources of daily files that follow ``docs/sources.md``.

``generate_shop(out_dir, start, days, ...)`` writes ``out_dir/<source>/<source>_<day>.<ext>``
for orders, order_items, sessions, ad_spend, conversations and shipments, plus
``out_dir/_sample_manifest.json`` (the parameters, every file and every injected fault).

Determinism: the same arguments give byte-identical files. Each business day draws from its
own streams ``SeedSequence([seed, day ordinal, stream])`` and the calendar is a function of
the date only, so without faults a sub-range regenerates the very same days. Orders of the
``WARMUP_DAYS`` (33) days before ``start`` are simulated (not written) so that their
shipment updates, COD reviews and after-sales conversations land in the first days as they
would in a longer range; updates due after the last day are not written (still pending).
Fault placement depends on the range (and the seed), so with faults only the same range is
reproduced.

The shop (numbers for an ordinary weekday early in 2025; the calendar in
:mod:`sample_shop.seasons` moves them: weekends, trend, Spring Festival trough,
618, Double 11, Double 12):

Traffic (:mod:`sample_shop.model`)
    ``orders_per_day / 2.6 %`` sessions a day, split by channel: paid_search 25 %, feed_ads
    22 %, social 13 %, organic 28 %, direct 12 %. Each paid channel has 11 campaigns with
    stable names (``ps_brand``, ``ps_competitor``, ``ps_shopping``, ``ps_generic_<category>``;
    ``fa_retarget``, ``fa_lookalike``, ``fa_live``, ``fa_prospect_<category>``;
    ``so_brand_page``, ``so_livestream``, ``so_ugc``, ``so_kol_<category>``): 33 ad_spend rows a
    day, so one bad row is 3 % of its file, under the 5 % bad-row threshold. Organic and direct
    have no campaign (empty). Impressions ~ Poisson; clicks ~ Binomial(impressions, CTR) with
    CTR 4.0 % search, 1.2 % feed, 2.2 % social (x0.7-1.3 by campaign); paid sessions ~
    Binomial(clicks, 0.92 / 0.86 / 0.88); spend = clicks x CPC (1.60 / 0.80 / 1.10 yuan, x0.5-1.6
    by campaign, up to x1.6 on promotion peaks). Sessions are split over local hours (evening
    peak, a midnight rush on 618 and 11-11) and landing pages (home, category, product, promo
    by campaign kind); product_detail_sessions ~ Binomial(sessions, 35-92 % by page),
    product_views = detail + Poisson(1.4 x detail), bounces ~ Binomial(sessions - detail,
    35-60 %); only rows with sessions are written.
Orders
    Orders per traffic source ~ Binomial(sessions, CVR): paid_search 3.0 %, feed_ads 1.6 %,
    social 1.9 %, organic 2.6 %, direct 3.8 % (x0.6-1.8 by campaign, x1.3-1.4 on peaks, x0.85
    around the Spring Festival). COD (``cod``) 15-19 % by channel. 30 % of orders come from a
    customer whose first order was 1-365 days earlier (geometric, mean 45 days). Reviewed:
    prepaid automatically 5-120 s after creation; COD by customer service after a queue
    (lognormal, median 18 min x load^1.3, nights wait for the 08:00 shift), as an
    ``order_review`` conversation that ends at ``reviewed_at``.
Items
    120 products in 8 categories (apparel, shoes, beauty, home, kitchen, digital, food, baby;
    median list prices 39-259 yuan, 128.90-style). 24 % of orders have 2-4 lines (up to 40 % on
    peaks); quantity 1/2/3 (82/13/5 %); a category campaign's order starts in its category
    (60 %). unit_price = list price x the day's discount; line_amount = quantity x unit_price;
    amount = sum of line_amount (exact, in fen).
Conversations (timestamps: Asia/Shanghai local, no offset)
    Presale: 3 % of product-detail sessions. 12 agents (``agent_01`` ... ``agent_12``) with
    median first responses of 14-140 s, x lognormal(0.55), x(1 + 0.6 (load - 1)) for busy days,
    x2.5 at night, x the hour's load; a customer waits Exp(15 min) and leaves unanswered
    (empty first_response_at) if the answer is slower. A presale inquiry converts with
    probability 5 % + 55 % x exp(-first response / 240 s) (3 % unanswered) and is linked to one
    of the day's orders placed after it ended (its order_id and customer). Satisfaction (50 %
    rated when answered) falls with the response time. After-sales: 80 % of returns, 8 % of
    refusals, 5 % of signed parcels. messages >= 1.
Shipments (timestamps: UTC)
    Shipped on the order's day or 1 or 2 days later (50/38/12 %; +1-3 days around the Spring
    Festival), 09:00-21:00 local, never before review + 30 min. Carriers sf_express 20 %,
    zto 30 %, yto 22 %, jd_logistics 16 %, ems 12 % with transit 1-2, 2-4, 2-4, 1-2, 3-6 days
    (+1-3 around the festival). Refusal: prepaid 0.8-2.5 %, COD 8-21 % by carrier (refund =
    amount for a refused prepaid parcel, else 0). 5 % of signed prepaid (3 % COD) parcels are
    returned 1-14 days later, with a full (70 %) or partial refund. One row per status change
    (``shipped``, ``signed``/``refused``, ``returned``), in the file of its updated_at
    business day.

Faults: see :mod:`sample_shop.faults` (``FAULT_KINDS``, ``DEFAULT_FAULTS``).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from sample_shop.faults import (
    DEFAULT_FAULTS,
    FAULT_KINDS,
    ROW_FAULTS,
    FaultPlan,
    RowFault,
    check_faults,
    inject_rows,
    plan_faults,
)
from sample_shop.model import (
    CONVERSATION_SCHEMA,
    DAY,
    EPOCH_ORDINAL,
    SHIPMENT_SCHEMA,
    STREAM_FAULT_ROWS,
    UTC_OFFSET,
    WARMUP_DAYS,
    DayOrders,
    Incident,
    ShopModel,
)
from sample_shop.output import (
    FORMATS,
    MIXED_FORMATS,
    SOURCES,
    ad_spend_frame,
    conversations_frame,
    day_text,
    order_items_frame,
    orders_frame,
    render_value,
    retype,
    sessions_frame,
    shipments_frame,
    write,
)

__all__ = ["DEFAULT_FAULTS", "FAULT_KINDS", "MANIFEST_NAME", "generate_shop", "resolve_formats"]

MANIFEST_NAME = "_sample_manifest.json"
MANIFEST_VERSION = 1


def resolve_formats(formats: str | Mapping[str, str]) -> dict[str, str]:
    """``"mixed"`` (the default mix), one format for all, or per-source overrides of the mix."""
    if isinstance(formats, str):
        if formats == "mixed":
            return dict(MIXED_FORMATS)
        if formats not in FORMATS:
            raise ValueError(f"unknown format {formats!r}: use 'mixed' or one of {FORMATS}")
        return {s: formats for s in SOURCES}
    out = dict(MIXED_FORMATS)
    for source, fmt in formats.items():
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; the sources are {SOURCES}")
        if fmt not in FORMATS:
            raise ValueError(f"{source}: unknown format {fmt!r} (one of {FORMATS})")
        out[source] = fmt
    return out


class _Pending:
    """Rows waiting for the file of their business day (shipment updates, conversations)."""

    def __init__(self, first: int, last: int):
        self.first, self.last = first, last
        self.frames: dict[tuple[str, int], list[pl.DataFrame]] = defaultdict(list)

    def add(self, kind: str, df: pl.DataFrame, when: str) -> None:
        if df.height == 0:
            return
        day = ((pl.col(when) + UTC_OFFSET) // DAY + EPOCH_ORDINAL).alias("_day")
        df = df.with_columns(day).filter(pl.col("_day").is_between(self.first, self.last))
        for (d,), part in df.partition_by("_day", as_dict=True).items():
            self.frames[(kind, int(d))].append(part.drop("_day"))

    def pop(self, kind: str, day: int, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
        parts = self.frames.pop((kind, day), [])
        return pl.concat(parts) if parts else pl.DataFrame(schema=dict(schema))


class _Writer:
    """Writes the files of each day, injecting the planned faults, and keeps the record."""

    def __init__(self, out: Path, formats: dict[str, str], plan: FaultPlan, seed: int):
        self.out, self.formats, self.plan, self.seed = out, formats, plan, seed
        self.files: list[dict] = []
        self.row_faults: list[dict] = []
        self.file_faults: list[dict] = []
        self.schema_faults: list[dict] = []
        self.carry: dict[str, list[RowFault]] = defaultdict(list)
        self.late: dict[int, list[tuple[pl.DataFrame, dict]]] = defaultdict(list)
        self.rows: Counter[str] = Counter()

    def rel(self, source: str, ordinal: int, suffix: str = "") -> str:
        return f"{source}/{source}_{day_text(ordinal)}{suffix}.{self.formats[source]}"

    def _rng(self, ordinal: int, source: str, extra: int = 0) -> np.random.Generator:
        seq = [self.seed, ordinal, STREAM_FAULT_ROWS, SOURCES.index(source), extra]
        return np.random.default_rng(np.random.SeedSequence(seq))

    def _take_late(self, df: pl.DataFrame, ordinal: int) -> pl.DataFrame:
        delays = self.plan.late.get(ordinal, [])
        if not delays or df.height == 0:
            return df
        rng = self._rng(ordinal, "shipments", 1)
        changed = np.flatnonzero(df["status"].to_numpy() != "shipped")
        others = np.flatnonzero(df["status"].to_numpy() == "shipped")
        pool = np.concatenate([rng.permutation(changed), rng.permutation(others)])
        rows = sorted(int(r) for r in pool[: len(delays)])
        due = self.rel("shipments", ordinal)
        for row, k in zip(rows, delays, strict=False):
            self.late[ordinal + k].append((df.slice(row, 1), {"due_file": due, "days_late": k}))
        keep = np.ones(df.height, dtype=bool)
        keep[rows] = False
        return df.filter(pl.Series(keep))

    def write(self, source: str, ordinal: int, df: pl.DataFrame) -> None:
        key = (source, ordinal)
        rel = self.rel(source, ordinal)
        path = self.out / rel
        if key in self.plan.missing:
            path.unlink(missing_ok=True)
            self.file_faults.append(
                {"fault": "missing_day", "source": source, "date": day_text(ordinal), "file": rel}
            )
            return
        late_entries: list[dict] = []
        if source == "shipments":
            df = self._take_late(df, ordinal)
        base_rows = df.height
        if source == "shipments" and self.late.get(ordinal):
            arriving = self.late.pop(ordinal)
            order = sorted(
                range(len(arriving)),
                key=lambda i: (arriving[i][0]["updated_at"][0], arriving[i][0]["shipment_id"][0]),
            )
            for n, i in enumerate(order):
                frame, meta = arriving[i]
                df = pl.concat([df, frame])
                late_entries.append(
                    {
                        "fault": "late_updates",
                        "source": "shipments",
                        "file": rel,
                        "row": base_rows + n + 1,
                        "due_file": meta["due_file"],
                        "days_late": meta["days_late"],
                        "shipment_id": frame["shipment_id"][0],
                        "status": frame["status"][0],
                        "updated_at": render_value(source, "updated_at", frame["updated_at"][0]),
                    }
                )
        planned = self.carry.pop(source, []) + self.plan.rows.get(key, [])
        overrides: dict[tuple[int, str], str] = {}
        if planned:
            injected = inject_rows(df, source, planned, base_rows, self._rng(ordinal, source))
            df, overrides = injected.frame, injected.overrides
            self.row_faults += [
                {"fault": e["fault"], "source": source, "file": rel, **e} for e in injected.entries
            ]
            self.carry[source] += injected.unplaced
        self.file_faults += late_entries

        if key in self.plan.missing_column:
            column = self.plan.missing_column[key]
            df = df.drop(column)
            self.schema_faults.append(
                {"fault": "missing_column", "source": source, "file": rel, "column": column}
            )
        if key in self.plan.retyped:
            column = self.plan.retyped[key]
            df = retype(df, source, column)
            self.schema_faults.append(
                {
                    "fault": "retyped_column",
                    "source": source,
                    "file": rel,
                    "column": column,
                    "format": self.formats[source],
                }
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        write(df, source, self.formats[source], path, overrides)
        self.files.append(
            {"file": rel, "source": source, "date": day_text(ordinal), "rows": df.height}
        )
        self.rows[source] += df.height
        if key in self.plan.duplicates:
            copy = self.rel(source, ordinal + 1, "_resend")
            shutil.copyfile(path, self.out / copy)
            self.file_faults.append(
                {
                    "fault": "duplicate_file",
                    "source": source,
                    "file": rel,
                    "copy": copy,
                    "delivered_with": day_text(ordinal + 1),
                }
            )


def _route_order_events(model: ShopModel, orders: DayOrders, pending: _Pending) -> None:
    shipments, aftersale = model.shipments(orders)
    pending.add("shipments", shipments, "updated")
    pending.add("conversations", orders.review, "started")
    pending.add("conversations", aftersale, "started")


def generate_shop(
    out_dir: Path,
    start: date,
    days: int,
    orders_per_day: int = 200,
    seed: int = 7,
    faults: Mapping[str, int] | None = None,
    formats: str | Mapping[str, str] = "mixed",
    progress: Callable[[int, int], None] | None = None,
    incidents: Sequence[Incident] = (),
) -> dict:
    """Write ``days`` business days of the sample shop from ``start`` into ``out_dir``.

    ``incidents``: planted business problems (:class:`Incident`, e.g. one channel's conversion
    rate falling), listed in the manifest; unlike faults, their rows are valid data.

    ``faults`` maps a fault name (:data:`FAULT_KINDS`) to how many to inject (``None``: no
    faults; the demo passes :data:`DEFAULT_FAULTS`). ``formats``: ``"mixed"`` (orders,
    order_items, ad_spend and shipments CSV, sessions Parquet, conversations JSON Lines),
    ``"csv"`` / ``"parquet"`` / ``"jsonl"`` for all, or a mapping overriding the mix per
    source. ``progress(done_days, total_days)`` is called after each day. Files of the same
    names are replaced; other files in ``out_dir`` are left alone and listed in the manifest's
    ``other_files`` (an earlier run's other days or formats: clear them before ingesting).

    Returns the manifest, also written to ``out_dir/_sample_manifest.json``.
    """
    if days < 1:
        raise ValueError("days must be >= 1")
    fmt = resolve_formats(formats)
    requested = check_faults(faults)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = ShopModel(seed, orders_per_day, tuple(incidents))
    first = start.toordinal()
    last = first + days - 1
    plan = plan_faults(requested, first, last, fmt, seed)
    pending = _Pending(first, last)
    writer = _Writer(out, fmt, plan, seed)

    for ordinal in range(first - WARMUP_DAYS, first):
        _route_order_events(model, model.orders(ordinal), pending)
    for done, ordinal in enumerate(range(first, last + 1), start=1):
        orders = model.orders(ordinal)
        sessions = model.sessions(ordinal)
        _route_order_events(model, orders, pending)
        pending.add("conversations", model.presale(orders, sessions), "started")
        frames = {
            "orders": orders_frame(orders),
            "order_items": order_items_frame(orders),
            "sessions": sessions_frame(sessions),
            "ad_spend": ad_spend_frame(ordinal, model.counts(ordinal)),
            "conversations": conversations_frame(
                pending.pop("conversations", ordinal, CONVERSATION_SCHEMA)
            ),
            "shipments": shipments_frame(pending.pop("shipments", ordinal, SHIPMENT_SCHEMA)),
        }
        for source in SOURCES:
            writer.write(source, ordinal, frames[source])
        if progress is not None:
            progress(done, days)

    manifest = _manifest(writer, plan, requested, fmt, start, days, orders_per_day, seed)
    manifest["other_files"] = _other_files(out, manifest)
    manifest["incidents"] = [
        {
            "channel": i.channel,
            "start": i.start.isoformat(),
            "end": i.end.isoformat(),
            "cvr_factor": i.cvr_factor,
            "label": i.label,
        }
        for i in incidents
    ]
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    (out / MANIFEST_NAME).write_text(text, encoding="utf-8")
    return manifest


def _other_files(out: Path, manifest: dict) -> list[str]:
    """Files in the source folders that this run did not write (e.g. left by an earlier run
    with other dates or formats): ingestion would pick them up too."""
    ours = {f["file"] for f in manifest["files"]} | set(manifest["expected"]["duplicate_files"])
    return sorted(
        p.relative_to(out).as_posix()
        for source in SOURCES
        if (out / source).is_dir()
        for p in (out / source).iterdir()
        if p.is_file() and p.relative_to(out).as_posix() not in ours
    )


def _manifest(
    writer: _Writer,
    plan: FaultPlan,
    requested: dict[str, int],
    formats: dict[str, str],
    start: date,
    days: int,
    orders_per_day: int,
    seed: int,
) -> dict:
    counts = Counter(
        e["fault"] for e in writer.row_faults + writer.file_faults + writer.schema_faults
    )
    skipped = dict(plan.skipped)
    for kind, n in requested.items():
        if counts[kind] < n and kind not in skipped:
            skipped[kind] = {
                "requested": n,
                "injected": counts[kind],
                "reason": "no eligible row left in the planned files",
            }
    quarantined = Counter(e["source"] for e in writer.row_faults)
    return {
        "generator": "sample_shop",
        "manifest_version": MANIFEST_VERSION,
        "parameters": {
            "start": start.isoformat(),
            "end": (start + timedelta(days=days - 1)).isoformat(),
            "days": days,
            "orders_per_day": orders_per_day,
            "seed": seed,
            "formats": formats,
            "faults": requested,
        },
        "fault_counts": {k: counts[k] for k in FAULT_KINDS if counts[k]},
        "skipped_faults": skipped,
        "expected": {
            "quarantined_rows": {s: quarantined[s] for s in SOURCES if quarantined[s]},
            "quarantined_rows_total": sum(quarantined.values()),
            "duplicate_files": [e["copy"] for e in writer.file_faults if "copy" in e],
            "missing_files": [e["file"] for e in writer.file_faults if e["fault"] == "missing_day"],
            "unloadable_files": [e["file"] for e in writer.schema_faults],
        },
        "rows": {s: writer.rows[s] for s in SOURCES},
        "row_faults": sorted(
            writer.row_faults, key=lambda e: (ROW_FAULTS.index(e["fault"]), e["file"], e["row"])
        ),
        "file_faults": writer.file_faults,
        "schema_faults": writer.schema_faults,
        "files": writer.files,
    }
