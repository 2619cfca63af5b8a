"""Read one landed file, type it, validate it, and split it into good rows and quarantine.

Pure functions of a file and its source's settings: no warehouse, no Dagster. The order:

1. polars reads the file (CSV and JSON Lines as text, Parquet as written);
2. the shop's column mapping renames its columns to ours; a missing column is a
   :class:`SchemaMismatch` naming the file and column;
3. each column is parsed into its contract dtype; a value that does not parse quarantines its
   row, and a column where no value parses is a retyped column (``SchemaMismatch``);
4. timestamps are converted to UTC from the source's declared time zone (a text column is
   parsed in its first value's form, then its other values by the general parser);
5. the pandera model validates the typed rows (``lazy=True``) and its failure cases are joined
   back by row index, so exactly the bad rows are quarantined, each with every reason found.
   Its checks are first evaluated all at once (:func:`failing_rules`): a file whose rows all
   pass skips pandera's one query per check.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pandera.polars as pa
import polars as pl
from pandera.api.checks import Check
from pandera.api.polars.types import PolarsData
from pandera.backends.polars.checks import PolarsCheckBackend
from pandera.config import CONFIG, get_config_context
from pandera.constants import CHECK_OUTPUT_KEY
from pandera.errors import SchemaErrors

from pipelines.ingest.contracts import RULE_COLUMNS, SOURCE_SPECS, Timestamp
from pipelines.settings import SourceConfig

ROW = "_row"
QUARANTINE_SCHEMA = {
    "row_number": pl.Int64,
    "column": pl.String,
    "check": pl.String,
    "value": pl.String,
}
READERS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DATE_IN_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
JSONL_KEYS_FROM_LINES = 1000


class SchemaMismatch(ValueError):
    """The file's columns do not fit the contract: nothing of it can be loaded."""

    def __init__(self, file: str, column: str, problem: str):
        self.file, self.column, self.problem = file, column, problem
        super().__init__(f"{file}: column '{column}' {problem}")


@dataclass
class Validated:
    good: pl.DataFrame  # contract columns (typed) + business_date + _row
    bad: pl.DataFrame  # one row per (row, column, check): QUARANTINE_SCHEMA
    rows_in: int
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
        return pl.read_csv(path, infer_schema=False, raise_if_empty=False)
    if kind == "parquet":
        return pl.read_parquet(path)
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
    date_tz: str | None = None,
) -> pl.Expr:
    """The expression parsing column ``name`` (of dtype ``source``) into its contract dtype;
    unparseable values become null. ``form``: parse text timestamps in this form only;
    ``date_tz``: the zone of a date without a time (the business zone)."""
    col = pl.col(name)
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


def _blank_to_null(col: pl.Expr) -> pl.Expr:
    """Text with a value of only white space as no value."""
    return pl.when(col.str.strip_chars() != "").then(col)


def _as_given(values: pl.Series) -> pl.Series:
    """A column's values as the file gives them: a blank text is no value."""
    if values.dtype != pl.String:
        return values
    return values.to_frame().select(_blank_to_null(pl.col(values.name))).to_series()


def type_frame(
    raw: pl.DataFrame, source: str, conf: SourceConfig, file: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rename and parse ``raw`` into contract dtypes. Returns (typed, parse failures)."""
    dtypes = contract_dtypes(source)
    if raw.width == 0 and raw.height == 0:  # an empty file (e.g. JSON Lines with no lines)
        raw = pl.DataFrame(schema={name: pl.String for name in dtypes})
    renamed = raw.rename({k: v for k, v in conf.columns.items() if k in raw.columns})
    for name in dtypes:
        if name not in renamed.columns:
            mapped_from = [k for k, v in conf.columns.items() if v == name]
            hint = f" (mapped from '{mapped_from[0]}')" if mapped_from else ""
            raise SchemaMismatch(file, name, f"is missing{hint}; the file has {raw.columns}")
    # a few queries a file, whatever its columns: each eager polars operation is a query of
    # its own, and on a small file their fixed cost was most of the typing
    df = renamed.select(list(dtypes))
    forms = _forms_of(
        df,
        [n for n, t in dtypes.items() if t == Timestamp and df.schema[n] == pl.String],
    )
    # every column parsed in one pass (one collect, not one per column); a blank value parses
    # as no value
    typed = (
        df.lazy()
        .with_row_index(ROW, offset=1)
        .select(
            pl.col(ROW).cast(pl.Int64),
            *(
                _parse(
                    name,
                    df.schema[name],
                    target,
                    conf.timezone,
                    forms.get(name),
                    conf.business_timezone,
                ).alias(name)
                for name, target in dtypes.items()
            ),
        )
        .collect(engine="in-memory")
    )
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
            .select(
                _parse_text_timestamp(pl.col(name), conf.timezone or "UTC", conf.business_timezone)
            )
        )
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
            raise SchemaMismatch(
                file,
                name,
                f"has type {original.dtype} and none of its {n_present} values parse as "
                f"{target} (e.g. {original.drop_nulls()[0]!r}): was the column retyped?",
            )
        failures.append(
            pl.DataFrame(
                {
                    "row_number": typed[ROW].filter(broken),
                    "column": name,
                    "check": f"dtype({target})",
                    "value": original.filter(broken).cast(pl.String),
                }
            )
        )
    bad = pl.concat(failures) if failures else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return typed, bad


def _screen_parts(
    schema: pa.DataFrameSchema, frame: pl.DataFrame
) -> tuple[list[str], list[tuple[str, Check]]] | None:
    """What :func:`failing_rules` evaluates: the columns that may not hold a null, and each
    check by the column it is on (``"*"`` for the frame's). None where the schema uses
    something it does not evaluate."""
    if (
        schema.strict
        or schema.coerce
        or schema.dtype is not None  # a model-wide dtype replaces each column's
        or schema.unique
        or schema.ordered
        or schema.add_missing_columns
        or schema.drop_invalid_rows
        or schema.parsers
        or len(schema.columns) != frame.width
    ):
        return None
    not_null: list[str] = []
    checks: list[tuple[str, Check]] = []
    for name, column in schema.columns.items():
        if (
            column.regex
            or column.unique
            or column.coerce
            or not column.required
            or column.default is not None
            or column.parsers
            or column.dtype is None
            or frame.schema.get(name) != column.dtype.type
        ):
            return None
        if not column.nullable:
            not_null.append(name)
        checks += [(name, check) for check in column.checks]
    checks += [("*", check) for check in schema.checks]
    if any(c.groupby is not None or c.raise_warning for _, c in checks):
        return None
    return not_null, checks


def _check_name(check: Check) -> str:
    """A check as pandera's failure cases name it."""
    return check.error if check.error is not None else check.name


def failing_rules(
    frame: pl.DataFrame, model: type[pa.DataFrameModel]
) -> set[tuple[str, str]] | None:
    """The rules of ``model`` that some row of ``frame`` breaks, evaluated in one polars query:
    ``(column, check)`` pairs as pandera names them (``"*"`` for a rule on the whole row,
    ``"not_nullable"`` for a null in a column that may not have one). None where it cannot
    tell: the model uses something not evaluated here, or evaluating failed.

    pandera runs each check of a model as a query of its own (50-80 per file), a fixed cost
    that dominates a small file's ingestion. This evaluates the same checks (pandera's own
    check functions, through its polars check backend, with its handling of nulls) and the
    columns' nullability at once. It decides only whether pandera needs to run: the failures
    that are quarantined are always pandera's.
    """
    try:
        narwhals = getattr(CONFIG, "use_narwhals_backend", False)  # pandera >= 0.32
        if narwhals or not get_config_context().validation_enabled:
            return None
        schema = model.to_schema()
        schema.get_backend(frame)  # registers pandera's polars checks, as validate() does
        parts = _screen_parts(schema, frame)
        if parts is None:
            return None
        not_null, checks = parts
        lf = frame.lazy()
        labels = [(name, "not_nullable") for name in not_null]
        present = [  # as pandera decides it: NaN is null in a float column
            (pl.col(n).is_not_null() & pl.col(n).is_not_nan())
            if frame.schema[n].is_float()
            else pl.col(n).is_not_null()
            for n in not_null
        ]
        outputs = (
            [lf.select(e.all().alias(f"{i}") for i, e in enumerate(present))] if present else []
        )
        failed: set[tuple[str, str]] = set()
        for key, check in checks:
            name = getattr(check._check_fn, "__name__", None)
            if name is not None and check.is_builtin_check(name):
                # the check's function as registered now, as Check.__call__ reloads it
                check._check_fn = check.get_builtin_check_fn(name)
            backend = check.get_backend(lf)(check)
            if not isinstance(backend, PolarsCheckBackend):
                return None
            out = backend.apply(PolarsData(lf, key))
            if isinstance(out, bool):
                if not out:
                    failed.add((key, _check_name(check)))
                continue
            passed = pl.col(CHECK_OUTPUT_KEY).fill_null(bool(check.ignore_na)).all()
            outputs.append(out.select(passed.alias(f"{len(labels)}")))
            labels.append((key, _check_name(check)))
        if labels:
            row = pl.concat(outputs, how="horizontal").collect(engine="in-memory").row(0)
            failed |= {label for label, ok in zip(labels, row, strict=True) if not ok}
        return failed
    except Exception:  # noqa: BLE001 - then pandera validates, and says what is wrong
        return None


def _pandera_failures(typed: pl.DataFrame, source: str) -> pl.DataFrame:
    model = SOURCE_SPECS[source].contract
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


def written_without_offset(raw: pl.DataFrame, source: str, conf: SourceConfig) -> list[str]:
    """The contract's timestamp columns whose values ``raw`` (the file as read) writes without
    a UTC offset, judged by the column's first written value: they are read in
    ``conf.timezone``. A date without a time is a business day, not a timestamp: not one."""
    spec = SOURCE_SPECS[source]
    theirs = dict(zip(contract_dtypes(source), file_columns(source, conf), strict=True))
    naive = []
    for name in spec.timestamp_columns:
        dtype = raw.schema.get(theirs[name])
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                naive.append(name)
        elif dtype == pl.String:
            written = raw[theirs[name]].drop_nulls().head(FORM_SAMPLE).str.strip_chars()
            first = next((v for v in written if v), None)
            if first and not _DATE_ONLY.match(first) and not _WITH_OFFSET.search(first):
                naive.append(name)
    return naive


def validate_file(
    path: Path, source: str, conf: SourceConfig, business_tz: str, display_name: str | None = None
) -> Validated:
    """Read, type and validate one file. Raises :class:`SchemaMismatch` for column problems."""
    name = display_name or str(path)
    try:
        raw = read_raw(path, file_columns(source, conf))
    except (pl.exceptions.PolarsError, OSError) as err:
        raise SchemaMismatch(name, "*", f"cannot be read: {err}") from err
    typed, parse_bad = type_frame(raw, source, conf, name)
    try:
        rule_bad = _pandera_failures(typed, source)
    except SchemaMismatch as err:
        raise SchemaMismatch(name, err.column, err.problem) from err
    # a value that did not parse is null now: its "not nullable" failure says nothing new
    rule_bad = rule_bad.join(parse_bad, on=["row_number", "column"], how="anti")
    bad = pl.concat([parse_bad, rule_bad]).sort("row_number", "column")
    good = typed.filter(~pl.col(ROW).is_in(bad["row_number"].unique().implode()))
    good = add_business_date(good, source, business_tz)
    assumed = () if conf.timezone_declared else tuple(written_without_offset(raw, source, conf))
    return Validated(good=good, bad=bad, rows_in=typed.height, zone_assumed=assumed)
