"""What `kpi init` guesses from a shop's export files: which platform's export each is (the
preset whose columns it has), or else which source it is and which of its columns are ours.

A preset fits a file by the share of the file columns it reads that the file has (a name with
``*`` in the preset matches by pattern); a file fits a source without a preset by the
contract's columns it has under their own names or close ones.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.ingest.contracts import SOURCE_SPECS
from pipelines.ingest.mapping import EncodingMismatch, match_column, presets, read_csv_text
from pipelines.ingest.validate import READERS, optional_columns

#: a preset fits a file when the file has at least this share of the columns it reads
FITS = 0.8


@dataclass(frozen=True)
class Headers:
    """A file's column names, and the encoding they were read in."""

    names: list[str]
    encoding: str = "utf-8"


def file_headers(path: Path) -> Headers:
    """The column names of a CSV, Parquet or JSON Lines file (a CSV in whatever encoding it
    is in)."""
    kind = READERS.get(path.suffix.lower())
    if kind == "parquet":
        return Headers(list(pl.read_parquet_schema(path)))
    if kind == "jsonl":
        return Headers(list(pl.scan_ndjson(path, infer_schema_length=100).collect_schema()))
    if kind != "csv":
        raise ValueError(f"{path}: not a CSV, Parquet or JSON Lines file")
    encoding = "utf-8"
    try:
        frame = read_csv_text(path, ragged=True)
    except EncodingMismatch as err:
        if err.detected is None:
            raise ValueError(f"{path}: {err}") from None
        encoding = err.detected
        frame = read_csv_text(path, encoding, ragged=True)
    return Headers([c.strip() for c in frame.columns], encoding)


def preset_reads(section: dict) -> list[str]:
    """The file columns a preset's section of one source reads (names, or patterns)."""
    ours = set().union(*(spec.dtypes for spec in SOURCE_SPECS.values()))
    reads = list(section.get("columns", {}))
    reads += [c for c in section.get("skip", {}) if c not in ours and c not in reads]
    for rule in section.get("ids", {}).values():
        if isinstance(rule, list):
            reads += [c for c in rule if c not in ours and c not in reads]
    unpivot = section.get("unpivot") or {}
    for cells in unpivot.get("columns", {}).values():
        for theirs in [cells] if isinstance(cells, str) else cells.values():
            if theirs not in reads:
                reads.append(theirs)
    return reads


@dataclass(frozen=True)
class PresetFit:
    """How well a preset's description of one source fits a file."""

    preset: str
    source: str
    found: list[str]
    wanted: list[str]

    @property
    def share(self) -> float:
        return len(self.found) / len(self.wanted) if self.wanted else 0.0

    @property
    def missing(self) -> list[str]:
        return [w for w in self.wanted if w not in self.found]

    @property
    def folder(self) -> str | None:
        """The landing folder the preset reads this source from, when not its own."""
        return presets()[self.preset].sources[self.source].get("folder")


def preset_fits(headers: list[str], sources: list[str] | None = None) -> list[PresetFit]:
    """Every (preset, source) whose columns the file has at least :data:`FITS` of, the best
    first; only the presets of ``sources`` when given."""
    fits = []
    for name, preset in presets().items():
        for source, section in preset.sources.items():
            if sources is not None and source not in sources:
                continue
            wanted = preset_reads(section)
            found = [w for w in wanted if match_column(w, headers) is not None]
            fit = PresetFit(name, source, found, wanted)
            if fit.share >= FITS:
                fits.append(fit)
    return sorted(fits, key=lambda f: (-f.share, -len(f.found), f.preset, f.source))


def _norm(name: str) -> str:
    """A column name compared: words split (``InvoiceDate`` is ``invoice_date``), lower case,
    any punctuation one ``_``."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[^0-9a-z\u4e00-\u9fff]+", "_", words.lower()).strip("_")


#: other names shops' exports give our columns (English and Chinese), besides our own
ALSO_CALLED: dict[str, tuple[str, ...]] = {
    "order_id": (
        "order",
        "order_no",
        "order_number",
        "invoice",
        "invoice_no",
        "订单编号",
        "订单号",
    ),
    "customer_id": ("customer", "buyer", "buyer_id", "email", "客户编号", "客户", "买家会员名"),
    "created_at": ("date", "order_date", "invoice_date", "created", "下单日期", "下单时间"),
    "amount": ("total", "subtotal", "order_amount", "金额", "订单金额", "实付金额"),
    "payment_method": ("payment", "payment_type", "支付方式", "付款方式"),
    "channel": ("source", "medium", "渠道", "来源"),
    "campaign": ("campaign_name", "活动", "推广计划"),
    "quantity": ("qty", "数量", "购买数量"),
    "unit_price": ("price", "单价", "价格"),
    "product_id": ("sku", "product", "商品编码", "商家编码"),
    "spend": ("cost", "amount_spent", "消耗", "花费"),
    "impressions": ("impr", "展示数", "展现量"),
    "clicks": ("点击数", "点击量"),
    "date": ("day", "日期"),
}


def _also_called(source: str) -> dict[str, str]:
    ours = SOURCE_SPECS[source].dtypes
    return {_norm(n): c for c, names in ALSO_CALLED.items() if c in ours for n in names}


@dataclass
class ColumnGuess:
    """A source that a file without a preset may be, and its columns by ours."""

    source: str
    columns: dict[str, str] = field(default_factory=dict)  # their name -> ours
    unmatched: list[str] = field(default_factory=list)  # the file's names no column of ours

    @property
    def missing(self) -> list[str]:
        """Our required columns no column of the file was matched to."""
        given = set(self.columns.values())
        return [
            c
            for c in SOURCE_SPECS[self.source].dtypes
            if c not in given and c not in optional_columns(self.source)
        ]


def guess_columns(headers: list[str], source: str) -> ColumnGuess:
    """The file's columns matched to ``source``'s by name: the same name once lower-cased
    and with punctuation as ``_`` (``Customer ID`` is customer_id), a name shops' exports
    use for it (:data:`ALSO_CALLED`: ``下单日期`` is created_at), or a close spelling."""
    ours = list(SOURCE_SPECS[source].dtypes)
    also = _also_called(source)
    guess = ColumnGuess(source)
    taken: set[str] = set()
    for name in headers:
        key = _norm(name)
        match = key if key in ours and key not in taken else None
        if match is None and also.get(key) not in taken:
            match = also.get(key)
        if match is None:
            close = difflib.get_close_matches(key, [o for o in ours if o not in taken], 1, 0.75)
            match = close[0] if close else None
        if match is None:
            guess.unmatched.append(name)
        else:
            guess.columns[name] = match
            taken.add(match)
    return guess


def guess_source(headers: list[str], sources: list[str] | None = None) -> ColumnGuess | None:
    """The source whose columns the file's names match best (at least two of them)."""
    best = None
    for source in sources or list(SOURCE_SPECS):
        guess = guess_columns(headers, source)
        score = (len(guess.columns), -len(guess.missing))
        if len(guess.columns) >= 2 and (best is None or score > best[0]):
            best = (score, guess)
    return best[1] if best else None


def guess_grain(dates: pl.Series) -> str:
    """A report's grain from the dates its rows start on: week when they are 7 days apart
    (or a multiple), month when each is the first of a month, else day."""
    days = dates.drop_nulls().unique().sort()
    if days.len() < 2:
        return "day"
    if all(d.day == 1 for d in days) and days.len() >= 2:
        return "month"
    gaps = {(b - a).days for a, b in zip(days[:-1], days[1:], strict=True)}
    return "week" if gaps and all(g % 7 == 0 for g in gaps) else "day"


def guess_formats(values: pl.Series, target: pl.DataType) -> str | None:
    """The format of a date column the contract's own parser does not read, if one fits
    every value (:func:`~pipelines.ingest.validate.formats_that_parse`)."""
    from pipelines.ingest.validate import formats_that_parse

    present = values.drop_nulls()
    fits = formats_that_parse(present, target)
    return fits[0][0] if fits and fits[0][1] == present.len() else None
