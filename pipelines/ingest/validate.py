"""Read one landed file, type it, validate it, and split it into good rows and quarantine.

Pure functions of a file and its source's settings: no warehouse, no Dagster. The order:

1. polars reads the file (CSV and JSON Lines as text, Parquet as written);
2. the shop's column mapping renames its columns to ours; a missing required column is a
   :class:`SchemaMismatch` naming the file and column, a missing optional one is null. A
   source whose mapping does more than rename (``pipelines/ingest/mapping.py``) is read and
   prepared there instead: encoding, constants, ids, value maps, a wide file made long;
3. each column is parsed into its contract dtype (a date in its declared format; an amount
   written with a currency sign or thousands separators is read again without them); a
   value that does not parse quarantines its row, and a column where no value parses is a
   retyped column (``SchemaMismatch``, with the date formats that would parse it);
4. timestamps are converted to UTC from the source's zone: the one kpi.yaml declares, else
   the business zone, and the columns read so are reported (a text column is parsed in its
   first value's form, then its other values by the general parser); a date without a time
   (``2025-03-14``, or a declared format without one, ``%Y%m%d``) is the start of that day
   in the business zone;
5. a value of a member column (a channel, a carrier...) that is not one of the shop's members
   becomes the member its list maps unknown values to, where the vocabulary says so
   (``unknown: map``); otherwise the contract's ``isin`` quarantines its row;
6. the pandera model validates the typed rows (``lazy=True``) and its failure cases are joined
   back by row index, so exactly the bad rows are quarantined, each with every reason found.
   With the fast paths on (:mod:`pipelines.fastpaths`), its checks are first evaluated all at
   once (:func:`~pipelines.fastpaths.failing_rules`): a file whose rows all pass skips
   pandera's one query per check;
7. a weekly or monthly report's good rows are spread over their days.

With ``problems`` (`kpi check`), a problem that would stop the file (a missing column, a
column that does not parse, the encoding) is added to the list instead, and the rest of the
file is still checked.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import accumulate
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
from pandera.errors import SchemaErrors

from kpi_tree.vocabulary import ColumnMembers
from pipelines.fastpaths import _check_name, failing_rules  # noqa: F401 - examine.py imports it from here
from pipelines.i18n import _
from pipelines.ingest.contracts import RULE_COLUMNS, SOURCE_SPECS, Timestamp
from pipelines.ingest.landing import READERS, CompressedProblem, plain
from pipelines.ingest.mapping import (
    EncodingMismatch,
    MappingProblem,
    Prepared,
    computed_columns,
    detect_encoding,
    grain_of,
    prepare,
    read_csv_text,
    spread,
)
from pipelines.settings import SourceConfig

ROW = "_row"
QUARANTINE_SCHEMA = {
    "row_number": pl.Int64,
    "column": pl.String,
    "check": pl.String,
    "value": pl.String,
}
DATE_IN_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
JSONL_KEYS_FROM_LINES = 1000


#: the quarantine's column for the file's own name of a column, where it has another
FILE_COLUMN = "file_column"
#: the quarantine's column for the bad row's key (its source's key columns, joined by "|"):
#: a shipment of a quarantined order is no orphan (expectations/completeness.py)
ROW_KEY = "row_key"


class SchemaMismatch(ValueError):
    """The file's columns do not fit the contract: nothing of it can be loaded. ``kind``:
    the rule it breaks, as a refusal records it (schema, encoding, cut)."""

    def __init__(self, file: str, column: str, problem: str, kind: str = "schema"):
        self.file, self.column, self.problem, self.kind = file, column, problem, kind
        where = "the file" if column == "*" else f"column '{column}'"
        super().__init__(f"{file}: {where} {problem}")


@dataclass(frozen=True)
class FileProblem:
    """A problem that keeps a file from loading, found by `kpi check` with the others:
    ``column`` is ours (``*``: the file), ``problem`` what is wrong and what to do, ``kind``
    one of encoding, mapping (the mapping names what the file lacks), missing, unparsed, cut
    (the file ends mid-row)."""

    column: str
    problem: str
    file_column: str | None = None
    kind: str = "unparsed"


@dataclass
class Validated:
    good: pl.DataFrame  # contract columns (typed) + business_date + _row
    bad: pl.DataFrame  # one row per (row, column, check): QUARANTINE_SCHEMA + file_column
    rows_in: int
    #: what the mapping made of the file (None: the file needed no mapping)
    prepared: Prepared | None = None
    #: the timestamp columns written without an offset and read in a zone the shop did not
    #: declare (the business zone): the run says so once (pipelines/ingest/assets.py)
    zone_assumed: tuple[str, ...] = ()

    @property
    def bad_rows(self) -> int:
        return self.bad["row_number"].n_unique() if self.bad.height else 0


def contract_dtypes(source: str) -> dict[str, pl.DataType]:
    return SOURCE_SPECS[source].dtypes


def file_columns(source: str, conf: SourceConfig) -> list[str]:
    """The contract's columns by the names the shop's files give them."""
    named = {ours: theirs for theirs, ours in conf.columns.items()}
    return [named.get(name, name) for name in contract_dtypes(source)]


def read_raw(path: Path, expected: Collection[str] = ()) -> pl.DataFrame:
    """The file as polars reads it: CSV as text, JSON Lines as text (see :func:`_read_jsonl`),
    Parquet as written. ``expected`` are the columns the source's contract needs, by the
    file's names."""
    kind = READERS.get(path.suffix.lower())
    if kind == "csv":
        # glob=False: a file's name is its name ("orders[1].csv" is no pattern)
        return pl.read_csv(path, infer_schema=False, raise_if_empty=False, glob=False)
    if kind == "parquet":
        return pl.read_parquet(path, glob=False)
    if kind == "jsonl":
        return _read_jsonl(path, expected) if path.stat().st_size else pl.DataFrame()
    raise ValueError(f"{path}: unsupported file type (expected one of {sorted(READERS)})")


def _read_jsonl(path: Path, expected: Collection[str]) -> pl.DataFrame:
    """Every value as its JSON text, like a CSV read as text: typing is :func:`type_frame`'s job,
    so a value of the wrong JSON type quarantines its row, not the file.

    The file is read once, for the ``expected`` keys. When one of them has no value in any
    line, it may be missing from the file (which is not the same as null): then the file's
    keys are taken from its first lines, or from every line when one of the ``expected`` is
    not among the first lines' keys (it may first appear further down, or be missing), and
    the file is read again for them.
    """
    try:
        if expected:
            df = pl.read_ndjson(path, schema=dict.fromkeys(expected, pl.String))
            if df.height and max(df.null_count().row(0)) < df.height:
                return df  # every expected key has a value: each is in the file
        keys = pl.scan_ndjson(path, infer_schema_length=JSONL_KEYS_FROM_LINES).collect_schema()
        if not all(k in keys for k in expected):
            keys = pl.scan_ndjson(path, infer_schema_length=None).collect_schema()
        return pl.read_ndjson(path, schema=dict.fromkeys(keys, pl.String))
    except pl.exceptions.PolarsError:
        return pl.read_ndjson(path, infer_schema_length=None)  # let it say what is wrong


def _parse_text_timestamp(col: pl.Expr, tz: str, date_tz: str | None = None) -> pl.Expr:
    """ISO 8601 text -> UTC. An explicit offset wins; otherwise the source's zone ``tz``
    applies, but a date without a time is the start of that day in the business zone
    ``date_tz`` (a day is a business day, whatever zone the source's clocks are in)."""
    norm = col.str.strip_chars().str.replace(" ", "T", literal=True).str.replace(r"Z$", "+00:00")
    with_offset = norm.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us", time_zone="UTC"
    )
    naive = pl.coalesce(
        norm.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        norm.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us"),
    )
    date_only = norm.str.to_datetime("%Y-%m-%d", strict=False, time_unit="us")
    return pl.coalesce(
        with_offset.dt.replace_time_zone(None),
        _local_to_utc(naive, tz),
        _local_to_utc(date_only, date_tz or tz),
    )


def _local_to_utc(naive: pl.Expr, tz: str) -> pl.Expr:
    """Naive local time in ``tz`` -> naive UTC; a time the zone skips (DST) becomes null."""
    local = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC").dt.replace_time_zone(None)


#: exact text forms of a timestamp (format, whether it is UTC): a column is parsed in the form
#: of its first value, in one cheap pass; the values in any other form (or none) are then
#: parsed by the general parser, :func:`_parse_text_timestamp`, which gives the same result
#: for every value of these forms but tries them all, which is far slower.
TIMESTAMP_FORMS: list[tuple[str, bool]] = [
    ("%Y-%m-%dT%H:%M:%SZ", True),
    ("%Y-%m-%dT%H:%M:%S%.fZ", True),
    ("%Y-%m-%d %H:%M:%S", False),
    ("%Y-%m-%dT%H:%M:%S", False),
    ("%Y-%m-%d %H:%M:%S%.f", False),
    ("%Y-%m-%dT%H:%M:%S%.f", False),
]


def _timestamp_in_form(col: pl.Expr, form: tuple[str, bool], tz: str) -> pl.Expr:
    fmt, is_utc = form
    parsed = col.str.to_datetime(fmt, strict=False, time_unit="us")
    return parsed if is_utc else _local_to_utc(parsed, tz)


#: the values of a column :func:`_forms_of` looks at for its first written value
FORM_SAMPLE = 16


def _forms_of(df: pl.DataFrame, names: list[str]) -> dict[str, tuple[str, bool] | None]:
    """For each of the text timestamp columns ``names``, the first of :data:`TIMESTAMP_FORMS`
    that its first value is written in (None: no value, or none of them). A blank value is
    no value (of the first :data:`FORM_SAMPLE` present). One query for all the columns and
    forms."""
    if not names:
        return {}

    def first_written(name: str) -> pl.Expr:
        sample = pl.col(name).drop_nulls().head(FORM_SAMPLE)
        return sample.filter(sample.str.strip_chars() != "").first().alias(name)

    tried = (
        df.lazy()
        .select(first_written(name) for name in names)
        .select(
            pl.col(name).str.to_datetime(fmt, strict=False).is_not_null().alias(f"{i}:{j}")
            for i, name in enumerate(names)
            for j, (fmt, _) in enumerate(TIMESTAMP_FORMS)
        )
        .collect(engine="in-memory")
        .row(0)
    )
    forms: dict[str, tuple[str, bool] | None] = {}
    per_name = len(TIMESTAMP_FORMS)
    for i, name in enumerate(names):
        fits = tried[i * per_name : (i + 1) * per_name]
        forms[name] = next((f for f, ok in zip(TIMESTAMP_FORMS, fits, strict=True) if ok), None)
    return forms


def _parse(
    name: str,
    source: pl.DataType,
    target: pl.DataType,
    tz: str | None,
    form: tuple[str, bool] | None = None,
    fmt: str | None = None,
    decimal: str = ".",
    date_tz: str | None = None,
) -> pl.Expr:
    """The expression parsing column ``name`` (of dtype ``source``) into its contract dtype;
    unparseable values become null. ``form``: parse text timestamps in this form only;
    ``fmt``: a date or timestamp written in this declared format; ``decimal``: the decimal
    mark of numbers (a ',' one reads every number as :func:`_parse_number` does);
    ``date_tz``: the zone of a date without a time (the business zone)."""
    col = pl.col(name)
    if fmt is not None and source == pl.String and target in (Timestamp, pl.Date):
        return _parse_declared(col, target, fmt, tz or "UTC", date_tz)
    if target == Timestamp:
        if source == pl.String and form is not None:
            return _timestamp_in_form(col, form, tz or "UTC")
        if source == pl.String:
            return _parse_text_timestamp(col, tz or "UTC", date_tz)
        if isinstance(source, pl.Datetime):
            expr = (
                col.dt.replace_time_zone(tz or "UTC", ambiguous="earliest")
                if (source.time_zone is None)
                else col
            )
            return (
                expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None).dt.cast_time_unit("us")
            )
        if source == pl.Null:
            return col.cast(target)
        return pl.lit(None, dtype=target)  # numbers are not timestamps: every value fails
    if target == pl.Date:
        if source == pl.String:
            return col.str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
        return col.cast(pl.Date, strict=False)
    if source == pl.String and target == pl.String:
        return _blank_to_null(col)
    if source == pl.String and decimal != "." and target.is_numeric():
        return _parse_number(col, target, decimal)
    if source == pl.String:  # a blank value parses as no value
        stripped = col.str.strip_chars()
        if target.is_integer():
            # "3" and "3.0" are integers; "3.5" is not
            as_float = stripped.cast(pl.Float64, strict=False)
            return pl.when(as_float == as_float.round(0)).then(as_float).cast(target, strict=False)
        return stripped.cast(target, strict=False)
    if target.is_integer() and source.is_float():
        return pl.when(col == col.round(0)).then(col).cast(target, strict=False)
    if target == pl.String:
        return col.cast(pl.String)
    return col.cast(target, strict=False)


def _has_offset(fmt: str) -> bool:
    return any(d in fmt for d in ("%z", "%:z", "%#z", "%::z"))


#: a strftime directive of a time of day (an hour, minutes, seconds, a fraction, AM/PM, a
#: whole time, seconds since the epoch) or of an offset
_TIME_DIRECTIVE = re.compile(r"%[-_0^#]?[.:\d]*[HkIlMSfpPTRXrcsz]")


def has_time(fmt: str) -> bool:
    """Whether a declared date or timestamp format writes a time of day: one that does not
    (``%Y%m%d``) writes dates, and a date is a business day."""
    return bool(_TIME_DIRECTIVE.search(fmt))


def _parse_declared(
    col: pl.Expr, target: pl.DataType, fmt: str, tz: str, date_tz: str | None = None
) -> pl.Expr:
    """A date or timestamp written in the format the source declares: a timestamp with an
    offset in its format is taken as written, one without is in the source's zone ``tz``,
    and a date-only format gives the start of that business day (midnight in the business
    zone ``date_tz``, whatever zone the source's clocks are in)."""
    text = col.str.strip_chars()
    if target == pl.Date:
        return text.str.to_date(fmt, strict=False)
    if _has_offset(fmt):
        parsed = text.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")
        return parsed.dt.replace_time_zone(None)
    if not has_time(fmt):
        parsed = text.str.to_date(fmt, strict=False).cast(Timestamp)
        return _local_to_utc(parsed, date_tz or tz)
    parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
    return _local_to_utc(parsed, tz)


#: a number as shops write it: an optional currency (a sign such as $ ¥ €, or a code such
#: as USD, RMB), an optional sign, digits with thousands separators, a decimal part, 元.
#: By decimal mark: with ".", thousands are separated by ","; with ",", by ".", a space
#: (also a no-break one) or an apostrophe.
_NUMBER = {
    ".": r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)",
    ",": r"(\d{1,3}(?:[.\s'\u00a0\u202f]\d{3})+(?:,\d+)?|\d+(?:,\d+)?|,\d+)",
}
_AMOUNT = (
    r"^(?:[A-Z]{{1,3}})?\s*([-+])?\s*\p{{Sc}}?\s*([-+])?\s*{number}\s*\p{{Sc}}?\s*"
    r"(?:元|圆|円)?\s*(?:[A-Z]{{3}})?$"
)


def _parse_number(col: pl.Expr, target: pl.DataType, decimal: str = ".") -> pl.Expr:
    """Text such as ``$1,234.50``, ``¥1,234.50``, ``1,234.50``, ``-$3.00``, ``1.234,50 €``
    (with ``decimal=","``) as a number of ``target``; anything else (``12x``) as null."""
    parts = col.str.strip_chars().str.extract_groups(_AMOUNT.format(number=_NUMBER[decimal]))
    digits = parts.struct.field("3")
    if decimal == ",":
        digits = digits.str.replace_all(r"[.\s'\u00a0\u202f]", "").str.replace(",", ".")
    else:
        digits = digits.str.replace_all(",", "")
    sign = pl.coalesce(parts.struct.field("1"), parts.struct.field("2"), pl.lit("+"))
    value = pl.when(sign == "-").then(-digits.cast(pl.Float64)).otherwise(digits.cast(pl.Float64))
    if target.is_integer():
        return pl.when(value == value.round(0)).then(value).cast(target, strict=False)
    return value.cast(target, strict=False)


def _blank_to_null(col: pl.Expr) -> pl.Expr:
    """Text with a value of only white space as no value."""
    return pl.when(col.str.strip_chars() != "").then(col)


def _as_given(values: pl.Series) -> pl.Series:
    """A column's values as the file gives them: a blank text is no value."""
    if values.dtype != pl.String:
        return values
    return values.to_frame().select(_blank_to_null(pl.col(values.name))).to_series()


@cache
def optional_columns(source: str) -> frozenset[str]:
    """The contract's columns that may be null: a file without one of them is read as if
    every row left it blank."""
    schema = SOURCE_SPECS[source].contract.to_schema()
    return frozenset(name for name, col in schema.columns.items() if col.nullable)


def type_frame(
    raw: pl.DataFrame,
    source: str,
    conf: SourceConfig,
    file: str,
    problems: list[FileProblem] | None = None,
    numbered: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rename and parse ``raw`` into contract dtypes. Returns (typed, parse failures).
    ``numbered``: ``raw`` carries its rows' numbers in :data:`ROW` (several files together,
    each numbered from 1); else they are numbered here."""
    dtypes = contract_dtypes(source)
    if raw.width == 0 and raw.height == 0:  # an empty file (e.g. JSON Lines with no lines)
        raw = pl.DataFrame(schema={name: pl.String for name in dtypes})
    renamed = raw.rename({k: v for k, v in conf.columns.items() if k in raw.columns})
    lacking = [name for name in dtypes if name not in renamed.columns]
    if lacking:
        for name in lacking:
            if name in optional_columns(source):
                continue
            mapped_from = [k for k, v in conf.columns.items() if v == name]
            hint = (
                " " + _("(mapped from '{column}')").format(column=mapped_from[0])
                if mapped_from
                else ""
            )
            text = _(
                "is missing{hint}; the file has {columns}: map one of them to it "
                "(sources.{source}.columns), or give every row a value "
                "(sources.{source}.constants) in kpi.yaml"
            ).format(hint=hint, columns=raw.columns, source=source)
            if problems is None:
                raise SchemaMismatch(file, name, text)
            problems.append(
                FileProblem(name, text, mapped_from[0] if mapped_from else None, "missing")
            )
        # an optional column the file lacks is null in every row (and, for `kpi check`, a
        # missing required one too: its rows' other problems are still worth knowing)
        renamed = renamed.with_columns(pl.lit(None, dtype=pl.String).alias(n) for n in lacking)
    df = renamed.select(*([ROW] if numbered else []), *dtypes)
    return parse_frame(
        df, source, conf.timezone, file, problems=problems, date_tz=conf.business_timezone
    )


def parse_frame(
    df: pl.DataFrame,
    source: str,
    tz: str | None,
    file: str,
    formats: Mapping[str, str] | None = None,
    decimal: str = ".",
    problems: list[FileProblem] | None = None,
    origin: Mapping[str, str] | None = None,
    date_tz: str | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse ``df`` (the contract's columns, as read, and perhaps :data:`ROW`) into contract
    dtypes. Returns (typed, parse failures). ``tz``: the zone of timestamps without an
    offset; ``date_tz``: the business zone, where a date without a time falls (default
    ``tz``); ``formats``: declared date formats by column; ``origin``: the file's name of
    each column, for messages."""
    dtypes = contract_dtypes(source)
    formats = formats or {}
    # a few queries a file, whatever its columns: each eager polars operation is a query of
    # its own, and on a small file their fixed cost was most of the typing
    forms = _forms_of(
        df,
        [
            n
            for n, t in dtypes.items()
            if t == Timestamp and df.schema[n] == pl.String and n not in formats
        ],
    )
    numbered = (
        df.lazy().with_columns(pl.col(ROW).cast(pl.Int64))
        if ROW in df.columns
        else df.lazy().with_row_index(ROW, offset=1)
    )
    # every column parsed in one pass (one collect, not one per column); a blank value parses
    # as no value
    typed = numbered.select(
        pl.col(ROW).cast(pl.Int64),
        *(
            _parse(
                name,
                df.schema[name],
                target,
                tz,
                forms.get(name),
                formats.get(name),
                decimal,
                date_tz,
            ).alias(name)
            for name, target in dtypes.items()
        ),
    ).collect(engine="in-memory")
    # the columns with values that did not parse, or blank ones: a missing value parses as
    # missing, and a value that parses was present, so they are the columns to whose nulls
    # parsing added (polars keeps a column's null count: no query). Only these are looked at
    # value by value, as the file's values with the blank ones missing.
    given = {n: _as_given(df[n]) for n in dtypes if typed[n].null_count() > df[n].null_count()}
    broken_in = {
        n: typed[n].null_count() - (given[n].null_count() if n in given else df[n].null_count())
        for n in dtypes
    }
    for name, form in forms.items():  # values written in another form than the column's first
        if form is None or not broken_in[name]:
            continue
        missed = given[name].is_not_null() & typed[name].is_null()
        again = (
            given[name]
            .filter(missed)
            .to_frame()
            .select(_parse_text_timestamp(pl.col(name), tz or "UTC", date_tz))
        )
        typed = typed.with_columns(typed[name].scatter(missed.arg_true(), again.to_series()))
    for name, target in dtypes.items():  # numbers with a currency sign, thousands separators
        if not broken_in[name] or not target.is_numeric() or given[name].dtype != pl.String:
            continue
        if decimal != ".":  # read so already
            continue
        missed = given[name].is_not_null() & typed[name].is_null()
        again = given[name].filter(missed).to_frame().select(_parse_number(pl.col(name), target))
        typed = typed.with_columns(typed[name].scatter(missed.arg_true(), again.to_series()))
    failures = []
    for name, target in dtypes.items():
        if not broken_in[name]:  # counted before any values were parsed again: an upper bound
            continue
        original, parsed = given[name], typed[name]
        broken = original.is_not_null() & parsed.is_null()
        n_broken = int(broken.sum())
        if not n_broken:
            continue
        n_present = int(original.is_not_null().sum())
        if n_broken == n_present and n_present >= 3:
            text = _retyped(original, target, formats.get(name), source, name)
            if problems is None:
                raise SchemaMismatch(file, name, text)
            theirs = (origin or {}).get(name)
            problems.append(FileProblem(name, text, theirs if theirs != name else None))
            continue
        failures.append(
            pl.DataFrame(
                {
                    "row_number": typed[ROW].filter(broken),
                    "column": name,
                    "check": _dtype_rule(target, formats.get(name)),
                    "value": original.filter(broken).cast(pl.String),
                }
            )
        )
    bad = pl.concat(failures) if failures else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return typed, bad


def _dtype_rule(target: pl.DataType, fmt: str | None) -> str:
    return f"dtype({target})" if fmt is None else f"dtype({target}) in format {fmt}"


#: date and timestamp formats shops' exports use, tried on a column none of whose values
#: parse, to say which one would
DATE_FORMATS = (
    "%Y%m%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y年%m月%d日",
    "%Y%m%d%H%M%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%d.%m.%Y %H:%M",
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y年%m月%d日 %H:%M:%S",
    "%b %d, %Y",
    "%d %b %Y",
)


def formats_that_parse(values: pl.Series, target: pl.DataType) -> list[tuple[str, int]]:
    """The formats of :data:`DATE_FORMATS` that parse some of ``values`` (text), with how many
    they parse, the most first; a date-only format fits a timestamp column too."""
    text = values.drop_nulls().cast(pl.String).str.strip_chars().to_frame("v")
    if not text.height:
        return []
    date_only = [f for f in DATE_FORMATS if not any(c in f for c in "HIMSz")]
    tried = list(DATE_FORMATS) if target == Timestamp else date_only
    counts = text.select(
        (
            pl.col("v").str.to_date(f, strict=False)
            if f in date_only
            else pl.col("v").str.to_datetime(f, strict=False, time_unit="us")
        )
        .is_not_null()
        .sum()
        .alias(str(i))
        for i, f in enumerate(tried)
    ).row(0)
    found = [(f, int(n)) for f, n in zip(tried, counts, strict=True) if n]
    return sorted(found, key=lambda fn: -fn[1])


def _kind(target: pl.DataType) -> str:
    """A contract dtype in words."""
    if target == Timestamp:
        return _("a timestamp")
    if target == pl.Date:
        return _("a date")
    if target.is_integer():
        return _("a whole number")
    return _("a number") if target.is_numeric() else f"{target}"


def _retyped(
    original: pl.Series, target: pl.DataType, fmt: str | None, source: str, name: str
) -> str:
    """What to say of a column none of whose values parse."""
    example = original.drop_nulls()[0]
    # in the active language: `kpi check` says it in the shop's, a run's log in English
    what = (
        _("in the format {format}").format(format=fmt)
        if fmt
        else _("as {kind}").format(kind=_kind(target))
    )
    text = (
        _("is text and none of its {n} values parse {what} (e.g. {example})")
        if original.dtype == pl.String
        else _("is of type {dtype} and none of its {n} values parse {what} (e.g. {example})")
    ).format(dtype=original.dtype, n=original.is_not_null().sum(), what=what, example=repr(example))
    if target in (Timestamp, pl.Date) and original.dtype == pl.String:
        fits = formats_that_parse(original, target)
        if fits:
            best, n = fits[0]
            return text + _(
                "; {n} of them parse with the format {format}: set "
                "`dates: {{{column}: '{format}'}}` under sources.{source} in kpi.yaml"
            ).format(n=n, format=best, column=name, source=source)
        return text + _("; give its format under sources.{source}.dates in kpi.yaml").format(
            source=source
        )
    return text + _(": was the column retyped?")


def map_unknown_members(typed: pl.DataFrame, members: tuple[ColumnMembers, ...]) -> pl.DataFrame:
    """Each value of a member column that is not a member of its list becomes the member the
    list maps unknown values to (only the lists that say ``unknown: map``; a null stays null,
    and a member the column does not allow stays itself, for the contract to refuse)."""
    mapped = [
        pl.when(pl.col(m.column).is_in(list(m.known or m.allowed)) | pl.col(m.column).is_null())
        .then(pl.col(m.column))
        .otherwise(pl.lit(m.map_to))
        .alias(m.column)
        for m in members
        if m.map_to is not None
    ]
    return typed.with_columns(mapped) if mapped else typed


def _pandera_failures(typed: pl.DataFrame, source: str, conf: SourceConfig) -> pl.DataFrame:
    model = SOURCE_SPECS[source].contract_for(conf.members)
    body = typed.drop(ROW)
    if failing_rules(body, model) == set():  # every row passes: nothing for pandera to find
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    try:
        model.validate(body, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases
    else:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    unlocated = cases.filter(pl.col("index").is_null())
    if unlocated.height:
        first = unlocated.row(0, named=True)
        raise SchemaMismatch(
            "<frame>", str(first["column"]), f"fails {first['check']}: {first['failure_case']}"
        )
    rows = typed[ROW]
    out = []
    for case in cases.iter_rows(named=True):
        index = int(case["index"])
        column, check = case["column"], case["check"]
        if check in RULE_COLUMNS:
            column, check = RULE_COLUMNS[check]
        value = body[column][index] if column in body.columns else case["failure_case"]
        out.append(
            {
                "row_number": int(rows[index]),
                "column": column,
                "check": check,
                "value": None if value is None else str(value),
            }
        )
    return pl.DataFrame(out, schema=QUARANTINE_SCHEMA)


#: a column whose timestamps span more than this is dated value by value
CONSTANT_OFFSET_SPAN = dt.timedelta(days=62)


def constant_utc_offset(utc: pl.Series, tz: str) -> dt.timedelta | None:
    """The UTC offset of ``tz`` when it is the same at every instant from the earliest to the
    latest of ``utc`` (naive UTC timestamps), else None (or when they span more than
    :data:`CONSTANT_OFFSET_SPAN`). The zone is asked at every hour in between and at the
    latest: a change of offset, at whatever minute, shows at the next of them. (Asked in
    Python: for a day's file, a few dozen questions cost less than one polars query.)"""
    first, last = utc.min(), utc.max()
    if first is None or last - first > CONSTANT_OFFSET_SPAN:
        return None
    zone = ZoneInfo(tz)
    start = first.replace(tzinfo=dt.UTC)
    hours = (last - first) // dt.timedelta(hours=1)
    probes = [start + dt.timedelta(hours=i) for i in range(hours + 1)]
    probes.append(last.replace(tzinfo=dt.UTC))
    offsets = {probe.astimezone(zone).utcoffset() for probe in probes}
    return offsets.pop() if len(offsets) == 1 else None


def add_business_date(df: pl.DataFrame, source: str, business_tz: str) -> pl.DataFrame:
    column = SOURCE_SPECS[source].business_date
    if column is None:
        return df
    if df.schema[column] == pl.Date:
        return df.with_columns(pl.col(column).alias("business_date"))
    offset = constant_utc_offset(df[column], business_tz)
    # one addition, not a time-zone lookup for each value
    if offset is not None:
        local = pl.col(column) + offset
    else:
        local = pl.col(column).dt.replace_time_zone("UTC").dt.convert_time_zone(business_tz)
    return df.with_columns(local.dt.date().alias("business_date"))


_WITH_OFFSET = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$", re.IGNORECASE)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def written_without_offset(
    frame: pl.DataFrame, source: str, formats: Mapping[str, str] | None = None
) -> list[str]:
    """The contract's timestamp columns of ``frame`` (the file as read, under our column
    names) whose values are written without a UTC offset: they are read in the source's zone.
    A column with a declared format (``formats``) is judged by it, one without by its first
    written value. A date without a time (``2025-03-14``, or a format such as ``%Y%m%d``) is
    a business day, not a timestamp: not one."""
    return written_without_offset_by(frame, source, None, formats)[0]


def written_without_offset_by(
    frame: pl.DataFrame,
    source: str,
    files: pl.Series | None,
    formats: Mapping[str, str] | None = None,
) -> list[list[str]]:
    """:func:`written_without_offset` of each file whose rows ``frame`` holds together:
    ``files`` gives each row's file, numbered from 0 in the frame's order (None: one file).
    A text column is judged by each file's own first written value, found for all the files
    in one query."""
    formats = formats or {}
    count = int(files.max()) + 1 if files is not None and files.len() else 1  # type: ignore[arg-type]
    naive: list[list[str]] = [[] for _ in range(count)]
    judged: list[str] = []  # text columns judged by their values
    for name in SOURCE_SPECS[source].timestamp_columns:
        dtype = frame.schema.get(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                for columns in naive:
                    columns.append(name)
        elif dtype == pl.String and name in formats:
            fmt = formats[name]
            if has_time(fmt) and not _has_offset(fmt):
                for columns in naive:
                    columns.append(name)
        elif dtype == pl.String:
            judged.append(name)
    if not judged or not frame.height:
        return naive

    def first_written(name: str) -> pl.Expr:
        written = pl.col(name).drop_nulls().head(FORM_SAMPLE).str.strip_chars()
        return written.filter(written != "").first().alias(name)

    if files is None:
        firsts = [frame.select(first_written(name) for name in judged).row(0)]
        order = [0]
    else:
        found = (
            frame.lazy()
            .select(judged)
            .with_columns(files.alias("_file_index"))
            .group_by("_file_index")
            .agg(first_written(name) for name in judged)
            .collect()
        )
        order = found["_file_index"].to_list()
        firsts = found.select(judged).rows()
    for k, values in zip(order, firsts, strict=True):
        for name, first in zip(judged, values, strict=True):
            if first and not _DATE_ONLY.match(first) and not _WITH_OFFSET.search(first):
                naive[k].append(name)
    # the columns in the contract's order, as one file's are
    rank = {name: i for i, name in enumerate(SOURCE_SPECS[source].timestamp_columns)}
    return [sorted(columns, key=rank.__getitem__) for columns in naive]


def zone_notice(source: str, columns: Collection[str], zone: str) -> str:
    """The one line a run (and `kpi check`) says when it read a source's timestamps in a zone
    it assumed (:func:`written_without_offset`)."""
    return _(
        "{source}: timestamps without a UTC offset ({columns}) were read in the business zone "
        "{zone}, as no zone is declared for them; if they are in another zone, set "
        "sources.{source}.timezone in kpi.yaml"
    ).format(source=source, columns=", ".join(sorted(columns)), zone=zone)


def cut_line(path: Path) -> int | None:
    """The number of the last line of a delimited file that does not end with a line break
    (None: it does, or it is empty). Every writer of a whole file ends its last row with one;
    a file without it was cut in transfer or read while still being written, and its last row
    may be whole or not (a cut inside a number still parses), so it is not loaded at all."""
    with path.open("rb") as f:
        size = f.seek(0, 2)
        if not size:
            return None
        f.seek(max(size - 4, 0))
        tail = f.read().rstrip(b"\x00")  # UTF-16/32 put NULs beside the line break
    if tail.endswith((b"\n", b"\r")):
        return None
    return path.read_bytes().replace(b"\x00", b"").count(b"\n") + 1


def _read(
    path: Path,
    source: str,
    conf: SourceConfig,
    file: str,
    problems: list[FileProblem] | None,
) -> pl.DataFrame:
    """The file as :func:`read_raw` reads it, or as its mapping says (encoding, delimiter,
    lines before the header); a compressed file (``.gz``, ``.zip``) as the file it holds. A
    file that is not text in its encoding is a :class:`SchemaMismatch` that names the likely
    one; with ``problems``, a problem, and the file is read in the likely encoding to find
    the others."""
    try:
        with plain(path) as unpacked:
            return _read_plain(unpacked, source, conf, file, problems)
    except CompressedProblem as err:
        if problems is None:
            raise SchemaMismatch(file, "*", str(err), kind="cut") from None
        problems.append(FileProblem("*", str(err), kind="cut"))
        return pl.DataFrame()


def _read_plain(
    path: Path,
    source: str,
    conf: SourceConfig,
    file: str,
    problems: list[FileProblem] | None,
) -> pl.DataFrame:
    mapping = conf.mapping
    mapped = mapping is not None and mapping.needs_mapping
    if _blank(path):  # nothing but white space (a BOM): an empty file, not a cut or bad one
        return pl.DataFrame()
    if path.suffix.lower() == ".csv" and (cut := cut_line(path)) is not None:
        problem = _(
            "ends mid-row: its last line, line {line}, has no line break at its end, so the "
            "delivery was cut or unfinished and its last value may be cut short (61.0 for "
            "61.08). Deliver the whole file again (ending with a line break)"
        ).format(line=cut)
        if problems is None:
            raise SchemaMismatch(file, "*", problem, kind="cut")
        problems.append(FileProblem("*", problem, kind="cut"))
    try:
        if mapped and path.suffix.lower() == ".csv":
            assert mapping is not None
            return read_csv_text(
                path, mapping.encoding, mapping.delimiter, mapping.skip_lines, ragged=True
            )
        return read_raw(
            path, mapping_columns(source, conf) if mapped else file_columns(source, conf)
        )
    except EncodingMismatch as err:
        mismatch = err
    except (pl.exceptions.PolarsError, OSError) as err:
        if "utf-8" not in str(err).lower() or path.suffix.lower() != ".csv":
            raise SchemaMismatch(file, "*", f"cannot be read: {err}") from err
        mismatch = EncodingMismatch("utf-8", detect_encoding(path.read_bytes()), "invalid utf-8")
    mismatch = mismatch.located(path.read_bytes(), source)
    if problems is None or mismatch.detected is None:
        raise SchemaMismatch(file, "*", str(mismatch), kind="encoding") from None
    problems.append(FileProblem("*", str(mismatch), kind="encoding"))
    options = (mapping.delimiter, mapping.skip_lines) if mapped and mapping else (",", 0)
    return read_csv_text(path, mismatch.detected, *options, ragged=mapped)


def _blank(path: Path) -> bool:
    """Whether a text file holds nothing but white space (and a BOM); a file of rows is
    never that short, so only a short one is read to tell."""
    if path.suffix.lower() == ".parquet" or path.stat().st_size > 4096:
        return False
    data = path.read_bytes()
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        data = data.removeprefix(bom)
    return not data.replace(b"\x00", b"").strip()


def mapping_columns(source: str, conf: SourceConfig) -> list[str]:
    """The columns a mapped file is read for (JSON Lines): those its mapping names."""
    mapping = conf.mapping
    assert mapping is not None
    named = [theirs for theirs in mapping.columns if "*" not in theirs]
    named += [c for c in mapping.skip if c not in named]
    return named


def validate_file(
    path: Path,
    source: str,
    conf: SourceConfig,
    business_tz: str,
    display_name: str | None = None,
    problems: list[FileProblem] | None = None,
) -> Validated:
    """Read, type and validate one file. Raises :class:`SchemaMismatch` for column problems;
    with ``problems``, adds them to it and checks the rest of the file (`kpi check`)."""
    name = display_name or str(path)
    raw = _read(path, source, conf, name, problems)
    return _validate_raw(raw, source, conf, business_tz, name, problems)


def _validate_raw(
    raw: pl.DataFrame,
    source: str,
    conf: SourceConfig,
    business_tz: str,
    name: str,
    problems: list[FileProblem] | None = None,
    numbered: bool = False,
) -> Validated:
    """:func:`validate_file` of a file already read (``numbered``: see :func:`type_frame`)."""
    mapping = conf.mapping
    if raw.width == 0:  # an empty file: no rows, whatever its mapping would make of columns
        typed, _failures = type_frame(raw, source, conf, name)
        good = add_business_date(typed, source, business_tz)
        return Validated(good=good, bad=_NO_BAD_ROWS, rows_in=0)
    prepared = None
    if mapping is None or not mapping.needs_mapping:
        typed, parse_bad = type_frame(raw, source, conf, name, problems, numbered)
        origin = {ours: theirs for theirs, ours in conf.columns.items()}
        read_as = raw.rename({k: v for k, v in conf.columns.items() if k in raw.columns})
        formats: Mapping[str, str] = {}
    else:
        typed, parse_bad, prepared = _mapped(raw, source, conf, name, problems)
        origin = {ours: theirs for ours, theirs in prepared.origin.items() if ours != theirs}
        read_as, formats = prepared.frame, mapping.dates
    # the columns read in the business zone for want of a declared one (said once a run)
    assumed = (
        () if conf.timezone_declared else tuple(written_without_offset(read_as, source, formats))
    )
    typed = map_unknown_members(typed, conf.members)
    try:
        rule_bad = _pandera_failures(typed, source, conf)
    except SchemaMismatch as err:
        raise SchemaMismatch(name, err.column, err.problem) from err
    # a value that did not parse is null now: its "not nullable" failure says nothing new
    rule_bad = rule_bad.join(parse_bad, on=["row_number", "column"], how="anti")
    bad = pl.concat([parse_bad, rule_bad])
    if problems:  # a column that is wrong as a whole is reported once, not row by row
        bad = bad.filter(~pl.col("column").is_in([p.column for p in problems]))
    bad = bad.sort("row_number", "column")
    good = typed.filter(~pl.col(ROW).is_in(bad["row_number"].unique().implode()))
    grain = grain_of(mapping)
    if grain != "day":
        good, overlaps = _spread(good, source, grain)
        bad = pl.concat([bad, overlaps]).sort("row_number", "column")
    good = add_business_date(good, source, business_tz)
    rows_in = typed.height
    if mapping is not None and mapping.unpivot is not None:  # rows of the file, not cells
        rows_in = typed[ROW].n_unique()
    return Validated(
        good=good,
        bad=_with_row_keys(_with_file_columns(bad, origin), typed, source),
        rows_in=rows_in,
        prepared=prepared,
        zone_assumed=assumed,
    )


#: small files of a source validated together (:func:`validate_files`) hold at most this many
#: bytes between them: enough that the fixed cost of each polars query is paid once for many
#: files, little enough that their frames are small beside the memory a step may use
TOGETHER_BYTES = 16 << 20


def validate_files(
    files: Sequence[tuple[Path, str]], source: str, conf: SourceConfig, business_tz: str
) -> list[Validated | SchemaMismatch]:
    """:func:`validate_file` of each of several files of ``source`` (path, display name), or
    the :class:`SchemaMismatch` it raises; each file's result is exactly the one it gets
    alone.

    Files that read with the same columns are typed and checked together, as one frame
    (each file's rows numbered from 1), and each is given its slice of it when none of them
    has a bad row. That is the common case, and it is the same result: every value is typed
    and every rule checked row by row, or by key within the frame (a key unique among all
    the files' rows is unique within each), so a file without a bad row together has none
    alone. A file with one (a later copy of an earlier file's key counts), and every file
    when a column is wrong, is validated again alone, which names the file, its rows and its
    rules as always; the others keep their slices. A file whose mapping does more than
    rename, a weekly or monthly source's, and an empty one are validated alone.
    """
    mapping = conf.mapping
    if len(files) < 2 or (mapping is not None and mapping.needs_mapping):
        return [_alone(path, name, source, conf, business_tz) for path, name in files]
    if grain_of(mapping) != "day":
        return [_alone(path, name, source, conf, business_tz) for path, name in files]
    out: list[Validated | SchemaMismatch | None] = [None] * len(files)
    groups: dict[tuple, list[tuple[int, pl.DataFrame]]] = {}
    read = _read_together([path for path, _ in files])
    for i, (path, name) in enumerate(files):
        try:
            raw = read[i] if i in read else _read(path, source, conf, name, None)
        except SchemaMismatch as err:
            out[i] = err
            continue
        if raw.height:
            groups.setdefault(tuple(raw.schema.items()), []).append((i, raw))
        else:
            out[i] = _alone(path, name, source, conf, business_tz, raw)
    for members in groups.values():
        together = _together(members, files, source, conf, business_tz)
        for i, raw in members:
            out[i] = together.get(i) or _alone(*files[i], source, conf, business_tz, raw)
    return [r for r in out if r is not None]


#: the name of the column that tells a row's file in :func:`_read_together`'s read
_PATH_COLUMN = "_kpi_read_from"


def _read_together(paths: Sequence[Path]) -> dict[int, pl.DataFrame]:
    """Plain CSV files of one source read in one polars read per header, as :func:`read_raw`
    reads each (a read's fixed cost is most of a small file's): each file with rows, by its
    place in ``paths``. Every file under a header line written byte for byte the same has the
    same columns in the same order. A file left out (compressed, blank, cut, without rows,
    another format), or every file of a read that fails, is read alone by :func:`_read`,
    which says what is wrong with it."""
    by_header: dict[bytes, list[int]] = {}
    for i, path in enumerate(paths):
        if READERS.get(path.suffix.lower()) != "csv" or _blank(path) or cut_line(path):
            continue
        with path.open("rb") as fh:
            by_header.setdefault(fh.readline(), []).append(i)
    out: dict[int, pl.DataFrame] = {}
    for header, members in by_header.items():
        if len(members) < 2 or _PATH_COLUMN.encode() in header:
            continue
        try:
            frame = pl.scan_csv(
                [paths[i] for i in members],
                infer_schema=False,
                include_file_paths=_PATH_COLUMN,
                glob=False,  # a file's name is its name, "[1]" and all
            ).collect()
        except (pl.exceptions.PolarsError, OSError):
            continue
        parts = frame.partition_by(_PATH_COLUMN, include_key=False, as_dict=True)
        for i in members:
            part = parts.get((str(paths[i]),))
            if part is not None:
                out[i] = part
    return out


def _alone(
    path: Path,
    name: str,
    source: str,
    conf: SourceConfig,
    business_tz: str,
    raw: pl.DataFrame | None = None,
) -> Validated | SchemaMismatch:
    try:
        if raw is None:
            return validate_file(path, source, conf, business_tz, name)
        return _validate_raw(raw, source, conf, business_tz, name)
    except SchemaMismatch as err:
        return err


def _together(
    members: list[tuple[int, pl.DataFrame]],
    files: Sequence[tuple[Path, str]],
    source: str,
    conf: SourceConfig,
    business_tz: str,
) -> dict[int, Validated]:
    """The files ``members`` (their index in ``files``, the frame read) validated as one
    frame: each file without a bad row in it, by its index, with its slice (its rows numbered
    from 1 again). The others, and all of them when a column is wrong, are left out: they
    are to be validated alone."""
    if len(members) < 2:
        return {}
    heights = [raw.height for _, raw in members]
    starts = list(accumulate(heights, initial=0))[:-1]
    file_starts = pl.Series(starts, dtype=pl.Int64)

    def file_of(rows: pl.Series) -> pl.Series:
        """Each row's file (its place in ``members``), from its place in the frame (from 0)."""
        return pl.Series(range(len(members)), dtype=pl.Int32).gather(
            file_starts.search_sorted(rows, side="right") - 1
        )

    # numbered through the frame, so that a bad row's number tells its file
    together = pl.concat([raw for _, raw in members]).with_row_index(ROW, offset=1)
    try:
        checked = _validate_raw(
            together, source, conf, business_tz, files[members[0][0]][1], numbered=True
        )
    except SchemaMismatch:
        return {}
    spoiled = set()
    if checked.bad.height:
        spoiled = {bisect_left(starts, r) - 1 for r in checked.bad["row_number"].unique()}
    # each row's file (its place in members), and its number within its file, for all the
    # files at once
    good_file = file_of(checked.good[ROW].cast(pl.Int64) - 1)
    first_row = file_starts.gather(good_file)
    good_all = checked.good.with_columns(
        (checked.good[ROW].cast(pl.Int64) - first_row).cast(checked.good[ROW].dtype).alias(ROW)
    )
    assumed: list[list[str]] = [[] for _ in members]
    if not conf.timezone_declared:
        read_as = together.rename({k: v for k, v in conf.columns.items() if k in together.columns})
        rows = pl.int_range(0, together.height, dtype=pl.Int64, eager=True)
        assumed = written_without_offset_by(read_as, source, file_of(rows))
    out: dict[int, Validated] = {}
    for k, ((i, raw), start) in enumerate(zip(members, starts, strict=True)):
        if k in spoiled:
            continue
        # when bad rows are gone from the frame, the file's rows are found by their file
        good = good_all.filter(good_file == k) if spoiled else good_all.slice(start, raw.height)
        out[i] = Validated(
            good=good, bad=_NO_BAD_ROWS, rows_in=raw.height, zone_assumed=tuple(assumed[k])
        )
    return out


def _mapped(
    raw: pl.DataFrame,
    source: str,
    conf: SourceConfig,
    file: str,
    problems: list[FileProblem] | None,
) -> tuple[pl.DataFrame, pl.DataFrame, Prepared]:
    """A file whose source's mapping does more than rename: prepared by the mapping, then
    typed, its ``computed`` columns derived from the typed ones."""
    mapping = conf.mapping
    assert mapping is not None
    found: list[MappingProblem] | None = [] if problems is not None else None
    try:
        prepared = prepare(raw, source, mapping, found)
    except MappingProblem as err:
        raise SchemaMismatch(file, err.column, err.problem) from err
    if problems is not None:
        problems += [FileProblem("*", p.problem, kind="mapping") for p in found or ()]
    frame = prepared.frame
    for ours in prepared.missing:
        text = _("is missing: {what}").format(what=_missing_text(source, ours, prepared))
        if problems is None:
            raise SchemaMismatch(file, ours, text)
        problems.append(FileProblem(ours, text, kind="missing"))
    if prepared.missing:
        frame = frame.with_columns(pl.lit(None, pl.String).alias(c) for c in prepared.missing)
        frame = frame.select(ROW, *contract_dtypes(source))
    typed, parse_bad = parse_frame(
        frame,
        source,
        conf.timezone,
        file,
        formats=mapping.dates,
        decimal=mapping.decimal,
        problems=problems,
        origin=prepared.origin,
        date_tz=conf.business_timezone,
    )
    return computed_columns(typed, source, mapping), parse_bad, prepared


def _missing_text(source: str, column: str, prepared: Prepared) -> str:
    names = ", ".join(f"'{c}'" for c in prepared.file_columns[:12])
    more = ", …" if len(prepared.file_columns) > 12 else ""
    make = " " + _("(or make one: ids)") if column in SOURCE_SPECS[source].key else ""
    return _(
        "the file has [{names}] and the mapping gives no '{column}': map a column to it "
        "(sources.{source}.columns) or give it a value (sources.{source}.constants){make}"
    ).format(names=names + more, column=column, source=source, make=make)


def _spread(good: pl.DataFrame, source: str, grain: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A weekly or monthly report's rows spread over their days; the rows whose days another
    row of the file already covers are quarantined, not loaded twice."""
    days = spread(good, source, grain)
    key = list(SOURCE_SPECS[source].key)
    taken: set[tuple] = set()  # the days of the rows kept so far, in the file's order
    dropped = []
    for (row,), part in days.group_by(ROW, maintain_order=True):
        keys = set(part.select(key).iter_rows())
        if keys & taken:
            dropped.append(row)
        else:
            taken |= keys
    overlapping = pl.Series(ROW, dropped, dtype=pl.Int64)
    if not overlapping.len():
        return days, pl.DataFrame(schema=QUARANTINE_SCHEMA)
    bad = pl.DataFrame(
        {
            "row_number": overlapping,
            "column": key[0],
            "check": f"({', '.join(key)}) is unique once each {grain} is spread over its days",
            "value": None,
        },
        schema=QUARANTINE_SCHEMA,
    )
    return days.filter(~pl.col(ROW).is_in(overlapping.implode())), bad


#: the quarantine of a file without bad rows (one frame for all: each new one is a query)
_NO_BAD_ROWS = pl.DataFrame(
    schema={**QUARANTINE_SCHEMA, FILE_COLUMN: pl.String, ROW_KEY: pl.String}
)


def row_key(frame: pl.DataFrame, source: str) -> pl.Expr:
    """A row's key (its source's key columns, joined by "|"), as far as ``frame`` has them."""
    key = [c for c in SOURCE_SPECS[source].key if c in frame.columns]
    if not key:
        return pl.lit(None, dtype=pl.String).alias(ROW_KEY)
    return pl.concat_str([pl.col(c).cast(pl.String) for c in key], separator="|").alias(ROW_KEY)


def _with_row_keys(bad: pl.DataFrame, typed: pl.DataFrame, source: str) -> pl.DataFrame:
    """The quarantine's rows with their row's key, as far as the file gives it."""
    if not bad.height:
        return _NO_BAD_ROWS
    if ROW not in typed.columns:
        return bad.with_columns(pl.lit(None, dtype=pl.String).alias(ROW_KEY))
    keys = typed.select(
        pl.col(ROW).cast(pl.Int64).alias("row_number"), row_key(typed, source)
    ).unique("row_number", keep="first")
    return bad.join(keys, on="row_number", how="left")


def _with_file_columns(bad: pl.DataFrame, origin: Mapping[str, str]) -> pl.DataFrame:
    """The quarantine's rows with the file's name of each column, where it has another."""
    if not bad.height:
        return _NO_BAD_ROWS.drop(ROW_KEY)
    names = {ours: theirs for ours, theirs in origin.items() if ours != theirs}
    return bad.with_columns(
        pl.col("column")
        .replace_strict(names, default=None, return_dtype=pl.String)
        .alias(FILE_COLUMN)
    )
