"""The sample shop's model: traffic sources, catalogue, agents, carriers, and one business day.

Everything here is numpy, vectorised per day (no Python loop per order). Each day draws from
its own random streams, ``SeedSequence([seed, day ordinal, stream])``, one stream per part
(counts, orders, shipping, after-sales, sessions, pre-sales), so a day is the same whichever
range it is generated in and whichever other parts are generated.

Times are whole seconds since the Unix epoch (UTC); a business day is a calendar day in
Asia/Shanghai (UTC+8, no daylight saving time). Money is in integer fen (cents), so sums are
exact. The parameters are documented in :mod:`sample_shop.generator`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from kpi_tree.vocabulary import DEFAULT_VOCABULARY
from sample_shop.seasons import day_factors

DAY = 86_400
HOUR = 3_600
UTC_OFFSET = 8 * HOUR  # Asia/Shanghai
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: Days of orders simulated before ``start`` so that their shipments, reviews and after-sales
#: conversations land in the first generated days exactly as in a longer range. The longest
#: life of an order: review < 2 days, shipping <= 2 + 3 (festival) + 1 days, transit <= 6 + 3,
#: return <= 14.5 days after delivery: 31.5 days.
WARMUP_DAYS = 33

# random streams of a day
STREAM_COUNTS, STREAM_ORDERS, STREAM_SHIP, STREAM_AFTERSALE = 1, 2, 3, 4
STREAM_SESSIONS, STREAM_PRESALE, STREAM_FAULT_ROWS = 5, 6, 7

# ---------------------------------------------------------------------------------------------
# Traffic sources: channels and campaigns
# ---------------------------------------------------------------------------------------------

#: the default vocabulary's (kpi_tree/vocabulary.py), in its order: a member's index is its
#: code in the generated arrays
CHANNELS = DEFAULT_VOCABULARY.channels.names
PAID_CHANNELS = DEFAULT_VOCABULARY.paid_channels
LANDING_PAGES = ("home", "category", "product", "promo")


@dataclass(frozen=True)
class ChannelSpec:
    share: float  # share of all sessions on an ordinary day
    cvr: float  # orders / sessions
    cod_share: float  # share of orders paid cash on delivery
    ctr: float = 1.0  # clicks / impressions (paid)
    cpc: float = 0.0  # yuan per click (paid)
    click_to_session: float = 1.0  # sessions / clicks (paid)


CHANNEL_SPECS: dict[str, ChannelSpec] = {
    "paid_search": ChannelSpec(0.25, 0.030, 0.15, ctr=0.040, cpc=1.60, click_to_session=0.92),
    "feed_ads": ChannelSpec(0.22, 0.016, 0.19, ctr=0.012, cpc=0.80, click_to_session=0.86),
    "social": ChannelSpec(0.13, 0.019, 0.17, ctr=0.022, cpc=1.10, click_to_session=0.88),
    "organic": ChannelSpec(0.28, 0.026, 0.18),
    "direct": ChannelSpec(0.12, 0.038, 0.16),
}

#: product categories and their share of demand
CATEGORIES = ("apparel", "shoes", "beauty", "home", "kitchen", "digital", "food", "baby")
CATEGORY_SHARE = (0.22, 0.12, 0.16, 0.12, 0.09, 0.12, 0.10, 0.07)
#: median list price (yuan) per category
CATEGORY_PRICE = (129, 259, 99, 79, 69, 199, 39, 89)
PRODUCTS_PER_CATEGORY = 15

#: landing-page mix (home, category, product, promo) by kind of traffic
LANDING_MIX = {
    "brand": (0.60, 0.20, 0.15, 0.05),
    "generic": (0.15, 0.55, 0.25, 0.05),
    "product": (0.05, 0.15, 0.75, 0.05),
    "promo": (0.10, 0.10, 0.20, 0.60),
    "organic": (0.35, 0.25, 0.35, 0.05),
    "direct": (0.70, 0.10, 0.15, 0.05),
}

# campaign: (channel, name, weight in channel, cvr x, ctr x, cpc x, landing kind, category)
_CampaignRow = tuple[str, str, float, float, float, float, str, int]


def _campaigns() -> list[_CampaignRow]:
    rows: list[_CampaignRow] = [
        ("paid_search", "ps_brand", 0.30, 1.50, 1.25, 0.50, "brand", -1),
        ("paid_search", "ps_competitor", 0.06, 0.60, 0.70, 1.60, "generic", -1),
        ("paid_search", "ps_shopping", 0.14, 1.20, 1.00, 1.10, "product", -1),
    ]
    rows += [
        ("paid_search", f"ps_generic_{c}", 0.50 * s, 0.85, 0.90, 1.05, "generic", i)
        for i, (c, s) in enumerate(zip(CATEGORIES, CATEGORY_SHARE, strict=True))
    ]
    rows += [
        ("feed_ads", "fa_retarget", 0.18, 1.80, 1.30, 1.30, "product", -1),
        ("feed_ads", "fa_lookalike", 0.12, 0.90, 1.00, 1.00, "product", -1),
        ("feed_ads", "fa_live", 0.10, 1.10, 1.10, 0.90, "promo", -1),
    ]
    rows += [
        ("feed_ads", f"fa_prospect_{c}", 0.60 * s, 0.80, 0.95, 1.00, "generic", i)
        for i, (c, s) in enumerate(zip(CATEGORIES, CATEGORY_SHARE, strict=True))
    ]
    rows += [
        ("social", "so_brand_page", 0.20, 1.20, 1.10, 0.80, "brand", -1),
        ("social", "so_livestream", 0.15, 1.30, 1.20, 1.10, "promo", -1),
        ("social", "so_ugc", 0.10, 0.90, 0.90, 0.90, "product", -1),
    ]
    rows += [
        ("social", f"so_kol_{c}", 0.55 * s, 0.85, 1.00, 1.10, "product", i)
        for i, (c, s) in enumerate(zip(CATEGORIES, CATEGORY_SHARE, strict=True))
    ]
    return rows


CAMPAIGNS = _campaigns()


def _traffic_sources() -> dict[str, np.ndarray]:
    """One row per traffic source: every paid campaign, then organic and direct."""
    rows = [
        (ch, name, CHANNEL_SPECS[ch].share * w, cvr, ctr, cpc, kind, cat)
        for ch, name, w, cvr, ctr, cpc, kind, cat in CAMPAIGNS
    ]
    rows += [
        ("organic", None, CHANNEL_SPECS["organic"].share, 1.0, 1.0, 1.0, "organic", -1),
        ("direct", None, CHANNEL_SPECS["direct"].share, 1.0, 1.0, 1.0, "direct", -1),
    ]
    channel = np.array([CHANNELS.index(r[0]) for r in rows])
    paid = np.array([r[0] in PAID_CHANNELS for r in rows])
    spec = [CHANNEL_SPECS[r[0]] for r in rows]
    return {
        "channel": channel,
        "campaign": np.array([r[1] for r in rows], dtype=object),
        "paid": paid,
        "share": np.array([r[2] for r in rows]),
        "cvr": np.array([s.cvr * r[3] for s, r in zip(spec, rows, strict=True)]),
        "ctr": np.array(
            [s.ctr * r[4] if p else 1.0 for s, r, p in zip(spec, rows, paid, strict=True)]
        ),
        "cpc": np.array([s.cpc * r[5] for s, r in zip(spec, rows, strict=True)]),
        "cts": np.array([s.click_to_session for s in spec]),
        "cod": np.array([s.cod_share for s in spec]),
        "landing": np.array([LANDING_MIX[r[6]] for r in rows]),
        "category": np.array([r[7] for r in rows]),
    }


SRC = _traffic_sources()
N_SOURCES = len(SRC["channel"])
#: sessions-weighted conversion of an ordinary day: sessions needed per order
BASE_CVR = float((SRC["share"] * SRC["cvr"]).sum() / SRC["share"].sum())
SOURCE_CHANNEL_NAMES = [CHANNELS[c] for c in SRC["channel"]]
SOURCE_CAMPAIGN_NAMES: list[str | None] = list(SRC["campaign"])

#: local hour -> share of sessions and orders (evening peak, quiet nights)
HOUR_WEIGHTS = np.array(
    [2.0, 1.2, 0.7, 0.4, 0.3, 0.3, 0.5, 1.0, 2.0, 3.2, 4.0, 4.3,
     4.5, 4.4, 4.3, 4.2, 4.3, 4.5, 4.6, 5.2, 6.2, 6.8, 6.0, 3.8]
)  # fmt: skip
HOUR_P = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
_PEAK = HOUR_WEIGHTS.copy()
_PEAK[0], _PEAK[1] = _PEAK[0] * 6, _PEAK[1] * 2.5  # the midnight rush of 618 / Double 11
PEAK_HOUR_P = _PEAK / _PEAK.sum()
HOUR_LOAD = HOUR_P / HOUR_P.mean()

#: landing page -> share of sessions that open a product-detail page
DETAIL_RATE = np.array([0.35, 0.55, 0.92, 0.50])
#: landing page -> share of the other sessions that bounce
BOUNCE_RATE = np.array([0.45, 0.35, 0.60, 0.40])
VIEWS_PER_DETAIL_SESSION = 2.4  # product_views / product_detail_sessions (mean)

# ---------------------------------------------------------------------------------------------
# Orders, catalogue, customers
# ---------------------------------------------------------------------------------------------

RETURNING_SHARE = 0.30  # orders placed by a customer who first ordered on an earlier day
RETURN_RECENCY_DAYS = 45  # mean days back to that first order (geometric, up to a year)
MAX_LOOKBACK_DAYS = 365
EXTRA_LINES = (1, 2, 3)  # extra lines of a multi-item order
EXTRA_LINES_P = (0.65, 0.25, 0.10)
QUANTITY = (1, 2, 3)
QUANTITY_P = (0.82, 0.13, 0.05)
CAMPAIGN_CATEGORY_AFFINITY = 0.6  # first line in the campaign's category

PREPAID_REVIEW_SECONDS = (5, 120)  # automatic review
COD_REVIEW_MEDIAN_MINUTES = 18  # queue before customer service calls, at ordinary load
COD_REVIEW_LOAD_POWER = 1.3
SERVICE_OPENS_HOUR = 8  # local; COD reviews wait for the morning shift


def _catalogue() -> dict[str, np.ndarray]:
    """A fixed catalogue (independent of the seed): 15 products per category."""
    rng = np.random.default_rng(np.random.SeedSequence([20250101, 0, 0]))
    n = len(CATEGORIES) * PRODUCTS_PER_CATEGORY
    category = np.repeat(np.arange(len(CATEGORIES)), PRODUCTS_PER_CATEGORY)
    median = np.array(CATEGORY_PRICE, dtype=float)[category]
    yuan = np.maximum(np.rint(median * np.exp(rng.normal(0, 0.45, n))), 10)
    price = (yuan * 100 - 10).astype(np.int64)  # 128.90-style prices
    rank = np.tile(np.arange(PRODUCTS_PER_CATEGORY), len(CATEGORIES))
    within = 1 / (rank + 1.0) ** 0.9
    within_p = within[:PRODUCTS_PER_CATEGORY] / within[:PRODUCTS_PER_CATEGORY].sum()
    popularity = np.array(CATEGORY_SHARE)[category] * np.tile(within_p, len(CATEGORIES))
    return {
        "category": category,
        "price": price,
        "popularity": popularity / popularity.sum(),
        "within_p": within_p,
        "product_id": np.array([f"p{i + 1:04d}" for i in range(n)], dtype=object),
    }


CATALOGUE = _catalogue()
N_PRODUCTS = len(CATALOGUE["price"])

# ---------------------------------------------------------------------------------------------
# Customer service
# ---------------------------------------------------------------------------------------------

#: agent_01 .. agent_12: median first-response time in seconds at ordinary load
AGENT_FRT_SECONDS = np.array([14, 18, 22, 27, 32, 38, 45, 55, 68, 85, 110, 140], dtype=float)
AGENT_IDS = [f"agent_{i + 1:02d}" for i in range(len(AGENT_FRT_SECONDS))]
FRT_SIGMA = 0.55  # lognormal spread of one response around the agent's median
FRT_LOAD_SLOPE = 0.6  # first response x (1 + slope x (load - 1))
NIGHT_STAFFING = 2.5  # first response x this between 00:00 and 08:00 local
PATIENCE_MEAN_SECONDS = 900  # a customer leaves unanswered after Exp(mean) seconds
INQUIRY_RATE = 0.03  # presale inquiries per product-detail session
PRESALE_CONVERSION_FLOOR = 0.05
PRESALE_CONVERSION_FAST = 0.55  # + this x exp(-first response / 240 s)
PRESALE_CONVERSION_SCALE = 240.0
UNANSWERED_CONVERSION = 0.03
TOPICS = tuple(
    DEFAULT_VOCABULARY.topics_in_role(role)[0] for role in ("presale", "aftersale", "order_review")
)
TOPIC_LETTER = ("p", "a", "r")

# ---------------------------------------------------------------------------------------------
# Logistics
# ---------------------------------------------------------------------------------------------

CARRIERS = DEFAULT_VOCABULARY.carriers.names
CARRIER_P = np.array([0.20, 0.30, 0.22, 0.16, 0.12])
TRANSIT_MIN = np.array([1, 2, 2, 1, 3])  # days
TRANSIT_MAX = np.array([2, 4, 4, 2, 6])
REFUSAL_PREPAID = np.array([0.008, 0.015, 0.018, 0.008, 0.025])
REFUSAL_COD = np.array([0.09, 0.15, 0.16, 0.08, 0.21])
SHIP_DELAY_DAYS = (0, 1, 2)
SHIP_DELAY_P = (0.50, 0.38, 0.12)
RETURN_RATE_PREPAID = 0.05  # of signed parcels
RETURN_RATE_COD = 0.03
RETURN_DAYS = (1, 14)
FULL_REFUND_SHARE = 0.7  # else 30-90 % of the amount
AFTERSALE_RATE = {"returned": 0.8, "refused": 0.08, "signed": 0.05}
STATUSES = ("shipped", "signed", "refused", "returned")


def day_start(ordinal: int) -> int:
    """Epoch seconds of local midnight of a business day."""
    return (ordinal - EPOCH_ORDINAL) * DAY - UTC_OFFSET


def business_ordinal(ts: np.ndarray) -> np.ndarray:
    """The business day (date ordinal) of epoch seconds."""
    return (ts + UTC_OFFSET) // DAY + EPOCH_ORDINAL


def local_hour(ts: np.ndarray) -> np.ndarray:
    return ((ts + UTC_OFFSET) % DAY) // HOUR


def factors(ordinal: int):
    return day_factors(date.fromordinal(ordinal))


@dataclass
class DayCounts:
    """A day's traffic and order counts per traffic source (cheap: drawn first)."""

    impressions: np.ndarray
    clicks: np.ndarray
    sessions: np.ndarray
    orders: np.ndarray
    spend: np.ndarray  # fen
    n_orders: int
    n_new: int


@dataclass
class DayOrders:
    ordinal: int
    created: np.ndarray  # sorted
    source: np.ndarray
    cod: np.ndarray
    cust_day: np.ndarray
    cust_j: np.ndarray
    amount: np.ndarray  # fen
    reviewed: np.ndarray
    item_order: np.ndarray  # 0-based order index of each line
    line_no: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    unit_price: np.ndarray
    line_amount: np.ndarray
    review: pl.DataFrame  # order_review conversations (COD)

    @property
    def n(self) -> int:
        return len(self.created)


CONVERSATION_SCHEMA = {
    "origin": pl.Int64,
    "topic": pl.Int64,
    "seq": pl.Int64,
    "cust_day": pl.Int64,
    "cust_j": pl.Int64,
    "agent": pl.Int64,
    "started": pl.Int64,
    "first_response": pl.Int64,
    "ended": pl.Int64,
    "messages": pl.Int64,
    "order_day": pl.Int64,
    "order_idx": pl.Int64,
    "satisfaction": pl.Int64,
}
SHIPMENT_SCHEMA = {
    "origin": pl.Int64,
    "idx": pl.Int64,
    "carrier": pl.Int64,
    "cod": pl.Int64,
    "status": pl.Int64,
    "shipped": pl.Int64,
    "delivered": pl.Int64,
    "returned": pl.Int64,
    "refund": pl.Int64,
    "updated": pl.Int64,
}


def _frame(columns: dict[str, np.ndarray], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """numpy columns -> DataFrame; negative values in nullable time/id columns mean null."""
    df = pl.DataFrame({k: np.asarray(columns[k], dtype=np.int64) for k in schema}, schema=schema)
    nullable = [c for c in ("first_response", "order_day", "order_idx", "satisfaction",
                            "delivered", "returned") if c in schema]  # fmt: skip
    return df.with_columns(
        pl.when(pl.col(c) >= 0).then(pl.col(c)).otherwise(None).alias(c) for c in nullable
    )


def service(
    rng: np.random.Generator, started: np.ndarray, load: np.ndarray, chat_lambda: float
) -> dict[str, np.ndarray]:
    """Customer-service side of customer-initiated conversations (presale, aftersale).

    Returns agent, first response (-1: unanswered), ended, messages, satisfaction (-1: none),
    the first-response time in seconds, and whether it was answered.
    """
    n = len(started)
    agent = rng.choice(len(AGENT_IDS), n)
    hour = local_hour(started)
    staffing = np.where(hour < SERVICE_OPENS_HOUR, NIGHT_STAFFING, 1.0)
    busy = 1 + 0.35 * (HOUR_LOAD[hour] - 1)
    frt = (
        AGENT_FRT_SECONDS[agent]
        * np.exp(rng.normal(0, FRT_SIGMA, n))
        * (1 + FRT_LOAD_SLOPE * (load - 1))
        * staffing
        * busy
    )
    frt = np.maximum(np.rint(frt), 3).astype(np.int64)
    patience = np.rint(rng.exponential(PATIENCE_MEAN_SECONDS, n)).astype(np.int64) + 30
    answered = frt <= patience
    messages = np.where(answered, 2 + rng.poisson(chat_lambda, n), 1 + rng.poisson(0.3, n))
    per_message = rng.integers(15, 50, n)
    first = np.where(answered, started + frt, -1)
    ended = np.where(answered, started + frt + messages * per_message, started + patience)
    rated = rng.random(n) < np.where(answered, 0.5, 0.15)
    score = np.rint(4.9 - 0.55 * np.log2(1 + frt / 30) + rng.normal(0, 0.6, n))
    score = np.where(answered, np.clip(score, 1, 5), rng.integers(1, 3, n))
    satisfaction = np.where(rated, score, -1).astype(np.int64)
    return {
        "agent": agent,
        "first_response": first,
        "ended": ended,
        "messages": messages,
        "satisfaction": satisfaction,
        "frt": frt,
        "answered": answered,
    }


@dataclass(frozen=True)
class Incident:
    """A planted problem the alerts should find: from ``start`` to ``end`` (inclusive), the
    conversion rate of ``channel``'s traffic is multiplied by ``cvr_factor`` (a broken
    landing page, a checkout bug on one traffic source)."""

    channel: str
    start: date
    end: date
    cvr_factor: float
    label: str = ""

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"incident channel must be one of {CHANNELS}, got {self.channel!r}")
        if self.end < self.start or self.cvr_factor < 0:
            raise ValueError("incident: need start <= end and cvr_factor >= 0")


class ShopModel:
    """The shop, one business day at a time. ``orders_per_day`` is an ordinary weekday in
    early 2025 (the calendar and the trend move it)."""

    def __init__(self, seed: int, orders_per_day: int, incidents: tuple[Incident, ...] = ()):
        if seed < 0:
            raise ValueError("seed must be >= 0")
        if orders_per_day < 1:
            raise ValueError("orders_per_day must be >= 1")
        self.seed = seed
        self.orders_per_day = orders_per_day
        self.base_sessions = orders_per_day / BASE_CVR
        self.incidents = tuple(incidents)
        self._counts: dict[int, DayCounts] = {}

    def rng(self, ordinal: int, stream: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, ordinal, stream]))

    # -- counts ---------------------------------------------------------------------------------

    def counts(self, ordinal: int) -> DayCounts:
        cached = self._counts.get(ordinal)
        if cached is not None:
            return cached
        f = factors(ordinal)
        rng = self.rng(ordinal, STREAM_COUNTS)
        day_noise = math.exp(rng.normal(0, 0.04))
        source_noise = np.exp(rng.normal(0, 0.06, N_SOURCES))
        mult = f.traffic * np.where(SRC["paid"], f.paid, 1.0) * day_noise * source_noise
        expected = self.base_sessions * SRC["share"] * mult
        impressions = rng.poisson(expected / (SRC["cts"] * SRC["ctr"]))
        clicks = rng.binomial(impressions, SRC["ctr"])
        paid_sessions = rng.binomial(clicks, SRC["cts"])
        free_sessions = rng.poisson(expected)
        sessions = np.where(SRC["paid"], paid_sessions, free_sessions)
        cvr = np.clip(SRC["cvr"] * f.cvr * np.exp(rng.normal(0, 0.05, N_SOURCES)), 0, 0.5)
        for inc in self.incidents:
            if inc.start.toordinal() <= ordinal <= inc.end.toordinal():
                cvr = np.where(
                    SRC["channel"] == CHANNELS.index(inc.channel), cvr * inc.cvr_factor, cvr
                )
        orders = rng.binomial(sessions, cvr)
        cpc = SRC["cpc"] * f.cpc * np.exp(rng.normal(0, 0.06, N_SOURCES))
        spend = np.rint(clicks * cpc * 100).astype(np.int64)
        n_orders = int(orders.sum())
        n_new = int(rng.binomial(n_orders, 1 - RETURNING_SHARE))
        zero = np.zeros(N_SOURCES, dtype=np.int64)
        out = DayCounts(
            impressions=np.where(SRC["paid"], impressions, zero),
            clicks=np.where(SRC["paid"], clicks, zero),
            sessions=sessions.astype(np.int64),
            orders=orders.astype(np.int64),
            spend=np.where(SRC["paid"], spend, zero),
            n_orders=n_orders,
            n_new=n_new,
        )
        self._counts[ordinal] = out
        return out

    def _first_order_days(self, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For past days, the nearest day at or before each that had new customers, and its
        number of new customers (days with none fall back; a phantom customer at worst)."""
        uniq, inverse = np.unique(days, return_inverse=True)
        chosen = np.empty(len(uniq), dtype=np.int64)
        n_new = np.empty(len(uniq), dtype=np.int64)
        for i, day in enumerate(uniq.tolist()):
            found = day
            for back in range(60):
                if self.counts(day - back).n_new:
                    found = day - back
                    break
            chosen[i], n_new[i] = found, max(self.counts(found).n_new, 1)
        return chosen[inverse], n_new[inverse]

    # -- orders ---------------------------------------------------------------------------------

    def orders(self, ordinal: int) -> DayOrders:
        f = factors(ordinal)
        c = self.counts(ordinal)
        n = c.n_orders
        rng = self.rng(ordinal, STREAM_ORDERS)
        start = day_start(ordinal)

        hours = rng.choice(24, n, p=PEAK_HOUR_P if f.peak else HOUR_P)
        created = np.sort(start + hours * HOUR + rng.integers(0, HOUR, n))
        source = rng.permutation(np.repeat(np.arange(N_SOURCES), c.orders))
        cod = rng.random(n) < SRC["cod"][source]

        # customers: n_new first-time customers, the rest came back from an earlier day
        is_new = np.zeros(n, dtype=bool)
        is_new[rng.permutation(n)[: c.n_new]] = True
        back = np.minimum(rng.geometric(1 / RETURN_RECENCY_DAYS, n), MAX_LOOKBACK_DAYS)
        pick = rng.random(n)
        cust_day = np.full(n, ordinal, dtype=np.int64)
        cust_j = np.zeros(n, dtype=np.int64)
        cust_j[is_new] = np.arange(1, c.n_new + 1)
        ret = ~is_new
        if ret.any():
            first_days, n_new = self._first_order_days(ordinal - back[ret])
            cust_day[ret] = first_days
            cust_j[ret] = 1 + np.floor(pick[ret] * n_new).astype(np.int64)

        # items
        multi = rng.random(n) < f.multi_item
        extra = rng.choice(EXTRA_LINES, n, p=EXTRA_LINES_P)
        n_lines = 1 + np.where(multi, extra, 0)
        offsets = np.cumsum(n_lines) - n_lines
        n_items = int(n_lines.sum())
        item_order = np.repeat(np.arange(n), n_lines)
        line_no = np.arange(n_items) - offsets[item_order] + 1
        product = rng.choice(N_PRODUCTS, n_items, p=CATALOGUE["popularity"])
        within = rng.choice(PRODUCTS_PER_CATEGORY, n_items, p=CATALOGUE["within_p"])
        affinity = rng.random(n_items) < CAMPAIGN_CATEGORY_AFFINITY
        category = SRC["category"][source][item_order]
        use_campaign = (line_no == 1) & (category >= 0) & affinity
        product = np.where(use_campaign, category * PRODUCTS_PER_CATEGORY + within, product)
        quantity = rng.choice(QUANTITY, n_items, p=QUANTITY_P).astype(np.int64)
        unit_price = np.rint(CATALOGUE["price"][product] * f.discount).astype(np.int64)
        line_amount = quantity * unit_price
        amount = np.add.reduceat(line_amount, offsets) if n else np.zeros(0, dtype=np.int64)

        # review: prepaid automatically, COD by customer service (an order_review conversation)
        auto = created + rng.integers(*PREPAID_REVIEW_SECONDS, n, endpoint=True)
        median = COD_REVIEW_MEDIAN_MINUTES * 60 * f.load**COD_REVIEW_LOAD_POWER
        queue = np.clip(rng.lognormal(math.log(median), 0.8, n), 60, 16 * HOUR).astype(np.int64)
        pickup = created + queue
        morning = pickup - (pickup + UTC_OFFSET) % DAY + SERVICE_OPENS_HOUR * HOUR
        wait = rng.integers(0, int(90 * 60 * f.load) + 1, n)
        pickup = np.where(local_hour(pickup) < SERVICE_OPENS_HOUR, morning + wait, pickup)
        first = pickup + rng.integers(3, 31, n)
        messages = 2 + rng.poisson(1.5, n)
        ended = first + messages * rng.integers(15, 41, n)
        agent = rng.choice(len(AGENT_IDS), n)
        rated = rng.random(n) < 0.25
        score = rng.choice((3, 4, 5), n, p=(0.15, 0.35, 0.5))
        reviewed = np.where(cod, ended, auto)

        k = np.flatnonzero(cod)
        review = _frame(
            {
                "origin": np.full(len(k), ordinal),
                "topic": np.full(len(k), 2),
                "seq": np.arange(1, len(k) + 1),
                "cust_day": cust_day[k],
                "cust_j": cust_j[k],
                "agent": agent[k],
                "started": pickup[k],
                "first_response": first[k],
                "ended": ended[k],
                "messages": messages[k],
                "order_day": np.full(len(k), ordinal),
                "order_idx": k + 1,
                "satisfaction": np.where(rated[k], score[k], -1),
            },
            CONVERSATION_SCHEMA,
        )
        return DayOrders(
            ordinal=ordinal,
            created=created,
            source=source,
            cod=cod,
            cust_day=cust_day,
            cust_j=cust_j,
            amount=amount.astype(np.int64),
            reviewed=reviewed,
            item_order=item_order,
            line_no=line_no,
            product=product,
            quantity=quantity,
            unit_price=unit_price,
            line_amount=line_amount,
            review=review,
        )

    # -- shipping and after-sales -------------------------------------------------------------

    def shipments(self, o: DayOrders) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The orders' whole logistics life (shipped, signed/refused, returned) as status
        updates, and the after-sales conversations it causes."""
        f = factors(o.ordinal)
        n = o.n
        rng = self.rng(o.ordinal, STREAM_SHIP)
        start = day_start(o.ordinal)

        delay = rng.choice(SHIP_DELAY_DAYS, n, p=SHIP_DELAY_P)
        delay = delay + rng.integers(f.ship_extra[0], f.ship_extra[1], n, endpoint=True)
        shipped = start + delay * DAY + rng.integers(9 * HOUR, 21 * HOUR, n)
        shipped = np.where(shipped < o.reviewed + 1800, shipped + DAY, shipped)
        shipped = np.maximum(shipped, o.reviewed + 1800 + rng.integers(0, 4 * HOUR, n))
        carrier = rng.choice(len(CARRIERS), n, p=CARRIER_P)
        transit = rng.integers(TRANSIT_MIN[carrier], TRANSIT_MAX[carrier], endpoint=True)
        transit = transit + rng.integers(f.transit_extra[0], f.transit_extra[1], n, endpoint=True)
        ship_day_start = shipped - (shipped + UTC_OFFSET) % DAY
        delivered = ship_day_start + transit * DAY + rng.integers(9 * HOUR, 20 * HOUR, n)
        delivered = np.maximum(delivered, shipped + HOUR)
        refused = rng.random(n) < np.where(o.cod, REFUSAL_COD[carrier], REFUSAL_PREPAID[carrier])
        return_rate = np.where(o.cod, RETURN_RATE_COD, RETURN_RATE_PREPAID)
        returned = ~refused & (rng.random(n) < return_rate)
        returned_at = (
            delivered
            + rng.integers(RETURN_DAYS[0], RETURN_DAYS[1], n, endpoint=True) * DAY
            + rng.integers(0, 12 * HOUR, n)
        )
        full = rng.random(n) < FULL_REFUND_SHARE
        partial = np.maximum(np.rint(o.amount * rng.uniform(0.3, 0.9, n)), 1).astype(np.int64)
        refund = np.where(full, o.amount, partial)

        idx = np.arange(1, n + 1)
        cod = o.cod.astype(np.int64)
        none = np.full(n, -1)
        delivery_status = np.where(refused, 2, 1)
        delivery_refund = np.where(refused & ~o.cod, o.amount, 0)  # prepaid money goes back
        r = np.flatnonzero(returned)
        updates = {
            "origin": np.full(2 * n + len(r), o.ordinal),
            "idx": np.concatenate([idx, idx, idx[r]]),
            "carrier": np.concatenate([carrier, carrier, carrier[r]]),
            "cod": np.concatenate([cod, cod, cod[r]]),
            "status": np.concatenate([np.zeros(n), delivery_status, np.full(len(r), 3)]),
            "shipped": np.concatenate([shipped, shipped, shipped[r]]),
            "delivered": np.concatenate([none, delivered, delivered[r]]),
            "returned": np.concatenate([none, none, returned_at[r]]),
            "refund": np.concatenate([np.zeros(n), delivery_refund, refund[r]]),
            "updated": np.concatenate([shipped, delivered, returned_at[r]]),
        }
        shipments = _frame(updates, SHIPMENT_SCHEMA)

        # after-sales conversations: most returns, a few refusals and signed parcels
        rng = self.rng(o.ordinal, STREAM_AFTERSALE)
        rate = np.where(
            returned,
            AFTERSALE_RATE["returned"],
            np.where(refused, AFTERSALE_RATE["refused"], AFTERSALE_RATE["signed"]),
        )
        asks = rng.random(n) < rate
        before_return = delivered + (rng.uniform(0.1, 0.9, n) * (returned_at - delivered))
        later = delivered + np.minimum(rng.exponential(1.5 * DAY, n), 7 * DAY)
        started = np.rint(np.where(returned, before_return, later)).astype(np.int64)
        k = np.flatnonzero(asks)
        started = started[k]
        days, inverse = np.unique(business_ordinal(started), return_inverse=True)
        load = np.array([factors(int(d)).load for d in days], dtype=float)[inverse]
        s = service(rng, started, load, chat_lambda=5.0)
        aftersale = _frame(
            {
                "origin": np.full(len(k), o.ordinal),
                "topic": np.full(len(k), 1),
                "seq": np.arange(1, len(k) + 1),
                "cust_day": o.cust_day[k],
                "cust_j": o.cust_j[k],
                "agent": s["agent"],
                "started": started,
                "first_response": s["first_response"],
                "ended": s["ended"],
                "messages": s["messages"],
                "order_day": np.full(len(k), o.ordinal),
                "order_idx": k + 1,
                "satisfaction": s["satisfaction"],
            },
            CONVERSATION_SCHEMA,
        )
        return shipments, aftersale

    # -- sessions, ad spend, presale ------------------------------------------------------------

    def sessions(self, ordinal: int) -> pl.DataFrame:
        """Sessions per local hour x traffic source x landing page (rows with traffic only)."""
        c = self.counts(ordinal)
        f = factors(ordinal)
        rng = self.rng(ordinal, STREAM_SESSIONS)
        hour_p = PEAK_HOUR_P if f.peak else HOUR_P
        by_hour = rng.multinomial(c.sessions, hour_p)  # sources x 24
        cells = np.stack(
            [rng.multinomial(by_hour[s], SRC["landing"][s]) for s in range(N_SOURCES)]
        )  # sources x 24 x pages
        src_i, hour_i, page_i = np.nonzero(cells)
        sessions = cells[src_i, hour_i, page_i]
        detail = rng.binomial(sessions, DETAIL_RATE[page_i])
        views = detail + rng.poisson((VIEWS_PER_DETAIL_SESSION - 1) * detail)
        bounces = rng.binomial(sessions - detail, BOUNCE_RATE[page_i])
        return pl.DataFrame(
            {
                "hour_start": day_start(ordinal) + hour_i.astype(np.int64) * HOUR,
                "source": src_i.astype(np.int64),
                "page": page_i.astype(np.int64),
                "sessions": sessions.astype(np.int64),
                "product_detail_sessions": detail.astype(np.int64),
                "product_views": views.astype(np.int64),
                "bounces": bounces.astype(np.int64),
            }
        )

    def presale(self, o: DayOrders, sessions: pl.DataFrame) -> pl.DataFrame:
        """Presale inquiries from product-detail sessions; a fast answer converts more often.

        A converted inquiry is linked to one of the day's orders placed after it ended (and
        takes that order's customer); the others are visitors who did not buy.
        """
        ordinal = o.ordinal
        f = factors(ordinal)
        rng = self.rng(ordinal, STREAM_PRESALE)
        start = day_start(ordinal)
        detail = np.zeros(24, dtype=np.int64)
        hours = ((sessions["hour_start"].to_numpy() - start) // HOUR).astype(np.int64)
        np.add.at(detail, hours, sessions["product_detail_sessions"].to_numpy())
        per_hour = rng.binomial(detail, INQUIRY_RATE)
        started = np.sort(
            start
            + np.repeat(np.arange(24), per_hour) * HOUR
            + rng.integers(0, HOUR, int(per_hour.sum()))
        )
        m = len(started)
        s = service(rng, started, np.full(m, f.load), chat_lambda=3.0)
        p = np.where(
            s["answered"],
            PRESALE_CONVERSION_FLOOR
            + PRESALE_CONVERSION_FAST * np.exp(-s["frt"] / PRESALE_CONVERSION_SCALE),
            UNANSWERED_CONVERSION,
        )
        converts = rng.random(m) < p
        gap = rng.integers(60, 1800, m)

        # link converted inquiries to distinct orders placed after they ended (vectorised
        # greedy: the i-th inquiry by earliest order takes max(own, previous + 1))
        order_idx = np.full(m, -1, dtype=np.int64)
        k = np.flatnonzero(converts)
        if len(k) and o.n:
            first_order = np.searchsorted(o.created, s["ended"][k] + gap[k], side="left")
            by = np.argsort(first_order, kind="stable")
            ranks = np.arange(len(k))
            assigned = np.maximum.accumulate(first_order[by] - ranks) + ranks
            ok = assigned < o.n
            order_idx[k[by[ok]]] = assigned[ok]
        linked = order_idx >= 0
        safe = np.maximum(order_idx, 0)
        cust_day = np.where(linked, o.cust_day[safe] if o.n else ordinal, ordinal)
        visitors = np.cumsum(~linked)
        n_new = self.counts(ordinal).n_new
        cust_j = np.where(linked, o.cust_j[safe] if o.n else 0, n_new + visitors)
        return _frame(
            {
                "origin": np.full(m, ordinal),
                "topic": np.zeros(m),
                "seq": np.arange(1, m + 1),
                "cust_day": cust_day,
                "cust_j": cust_j,
                "agent": s["agent"],
                "started": started,
                "first_response": s["first_response"],
                "ended": s["ended"],
                "messages": s["messages"],
                "order_day": np.where(linked, ordinal, -1),
                "order_idx": np.where(linked, order_idx + 1, -1),
                "satisfaction": s["satisfaction"],
            },
            CONVERSATION_SCHEMA,
        )
