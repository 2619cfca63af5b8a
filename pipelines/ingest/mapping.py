"""How a shop's own export becomes a source's rows: the ``sources.<source>`` mapping of
``kpi.yaml`` (and the presets in ``presets/``), checked when the config is read and applied
as polars expressions before the contract types and validates the rows.

A file is read as text (in its declared ``encoding``, ``delimiter``, after ``skip_lines``) and
then, in this order (:func:`prepare`):

1. its headers are stripped of surrounding spaces, its columns renamed (``columns``; a name
   may hold ``*``, e.g. ``Amount spent (*)``), its rows numbered as they are in the file, and
   the columns used cleaned of Excel's text guards (``="0123"``, ``'0123``);
2. rows numbered within a group (``ids: {line_no: {number_within: order_id}}``), then
   ``first_row_per`` keeps one row per key where the export repeats it (a line-item export
   read as orders) and ``skip`` leaves out rows that are not facts of the source (an unpaid
   order);
3. ids are made from columns or from the row's content (``ids``), then ``unpivot`` turns a
   wide report (one spend column per channel) into long rows and ``constants`` give the
   columns the shop does not have; an optional column of the contract the file lacks is
   null, a required one is named as missing;
4. values are mapped (``values``: the platform's words to ours) and blanks filled where the
   export means a value by them (``blanks``);
5. the contract types each column, with a declared format for dates (``dates``) and the
   declared decimal mark for amounts (``decimal``); ``computed`` columns are then derived
   from the typed ones (``pipelines/ingest/validate.py``);
6. after validation, a ``grain: week | month`` report's rows are spread over their days
   (:func:`spread`).

Columns are named by ours once renamed, or by the file's own names.

A mapping that only renames (or nothing at all) is not applied here: the file is read and
typed exactly as before (:func:`SourceMapping.needs_mapping`), so it costs what it did.
"""

from __future__ import annotations

import calendar
import codecs
import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
import yaml
from pydantic import AfterValidator, BeforeValidator, Field, create_model, model_validator

from kpi_tree.config import ConfigModel, Integer, Text, blank, problem
from kpi_tree.targets.split import split_exact, to_cents
from pipelines.i18n import _
from pipelines.ingest.contracts import SOURCE_SPECS, SourceSpec, Timestamp

PRESETS_DIR = Path(__file__).with_name("presets")
#: the row number in the file, kept through every step (validate.ROW)
ROW = "_row"
#: the keys of a source's mapping that merge entry by entry with a preset's
MERGED_KEYS = ("columns", "constants", "ids", "dates", "values", "blanks", "computed", "skip")
#: the keys that provide one of our columns, by where the column's name is
PROVIDERS = {"columns": "value", "constants": "key", "ids": "key", "computed": "key"}
#: a value map's key for "any other value"
OTHERWISE = "*"
#: encodings a shop's exports come in, for messages (any name Python knows is accepted)
COMMON_ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb18030", "big5", "utf-16", "cp1252")


# ---- presets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """A named description of a platform's export (``presets/<name>.yaml``): a title and the
    mapping of each source it feeds."""

    name: str
    title: str
    sources: dict[str, dict[str, Any]]


@cache
def presets() -> dict[str, Preset]:
    """The presets shipped with the project, by name."""
    out = {}
    for path in sorted(PRESETS_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        out[path.stem] = Preset(path.stem, data["title"], data["sources"])
    return out


def merge_preset(preset: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """A preset's section with a source's own keys over it, key by key: the mapping keys
    (:data:`MERGED_KEYS`) merge entry by entry, any other key replaces the preset's. A column
    of ours that the source's own keys provide (by ``columns``, ``constants``, ``ids`` or
    ``computed``) is no longer provided by the preset, and an entry set to null removes the
    preset's."""
    out = deepcopy(dict(preset))
    provided: set[str] = set()
    for key, where in PROVIDERS.items():
        mine = own.get(key)
        if isinstance(mine, Mapping):
            provided |= {
                str(v if where == "value" else k) for k, v in mine.items() if v is not None
            }
    for key, where in PROVIDERS.items():
        theirs = out.get(key)
        if isinstance(theirs, dict):
            out[key] = {
                k: v for k, v in theirs.items() if (v if where == "value" else k) not in provided
            }
    for key, value in own.items():
        if key == "preset":
            continue
        if key in MERGED_KEYS and isinstance(value, Mapping) and isinstance(out.get(key), dict):
            merged = dict(out[key])
            for k, v in value.items():
                if v is None:
                    merged.pop(k, None)
                else:
                    merged[k] = v
            out[key] = merged
        else:
            out[key] = value
    return out


# ---- the config's models ---------------------------------------------------------------


class NumberWithin(ConfigModel):
    """An id that numbers the rows of each group 1, 2, 3… in file order (an order's lines)."""

    number_within: Text = Field(description="the column whose equal values form a group")


class Unpivot(ConfigModel):
    """A wide report made long: each member's columns become a row of their own."""

    name: Text = Field(description="our column that takes the member (e.g. channel)")
    value: Text | None = Field(
        None, description="our column a member's one file column goes to (e.g. spend)"
    )
    columns: Annotated[
        dict[Text, Text | dict[Text, Text]], blank({}, dict[str, str | dict[str, str]])
    ] = Field(
        {},
        description="member -> the file's column (into `value`), or {our column: the file's "
        "column}",
    )


def _encoding(value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(
            f"unknown encoding {value!r}: use one such as {', '.join(COMMON_ENCODINGS)}"
        ) from None
    return value


def _one_char(value: str) -> str:
    if value in ("\\t", "tab"):
        return "\t"
    if len(value) != 1:
        raise ValueError(f"must be one character such as ',' ';' or tab, not {value!r}")
    return value


#: a value written in the config: text or a number
Scalar = Annotated[str | int | float, Field(union_mode="left_to_right")]


def _id_rule(value: Any) -> Any:
    """One message for an id rule of the wrong shape, not one per shape it could have had."""
    fits = (
        value == "row"
        or (isinstance(value, list) and value and all(isinstance(v, str) and v for v in value))
        or (isinstance(value, Mapping) and set(value) == {"number_within"})
    )
    if not fits:
        raise ValueError(
            "must be row (made from the row's content), a list of the columns it is made of, "
            "or {number_within: column} (rows numbered 1, 2, 3 within each value)"
        )
    return value


#: an id rule: the columns it is made of, "row" (the row's content), or a number within a group
IdRule = Annotated[
    list[Text] | Literal["row"] | NumberWithin,
    BeforeValidator(_id_rule, json_schema_input_type=list[str] | Literal["row"] | NumberWithin),
]


class SourceMapping(ConfigModel):
    """How a shop's files of one source differ from its contract. One model per source is
    made from this (:func:`source_model`), with our column names as the allowed targets and
    the fields only some sources have (``timezone``, ``grain``)."""

    preset: str | None = None
    folder: str | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    skip_lines: int = 0
    decimal: str = "."
    columns: dict[str, str] = {}
    constants: dict[str, Scalar] = {}
    ids: dict[str, IdRule] = {}
    dates: dict[str, str] = {}
    values: dict[str, dict[str, Scalar | None]] = {}
    blanks: dict[str, Scalar] = {}
    computed: dict[str, str] = {}
    skip: dict[str, list[Scalar | None]] = {}
    first_row_per: str | None = None
    unpivot: Unpivot | None = None

    @cached_property
    def needs_mapping(self) -> bool:
        """Whether the file needs more than renames: then it is read and prepared by this
        module; otherwise exactly as a file without a mapping is."""
        plain = {"preset", "folder", "columns", "timezone"}
        for name, info in type(self).model_fields.items():
            if name not in plain and getattr(self, name) != info.get_default():
                return True
        return any("*" in theirs for theirs in self.columns)

    @model_validator(mode="after")
    def _one_each(self) -> SourceMapping:
        givers: dict[str, str] = {}

        def give(ours: str, place: tuple[str, ...]) -> None:
            if ours in givers:
                raise problem(
                    place,
                    f"gives '{ours}', as {givers[ours]} does: give each of our columns once",
                )
            givers[ours] = ".".join(place)

        for theirs, ours in self.columns.items():
            give(ours, ("columns", theirs))
        for key in ("constants", "ids", "computed"):
            for ours in getattr(self, key):
                give(ours, (key, ours))
        if self.unpivot is not None:
            give(self.unpivot.name, ("unpivot", "name"))
            for member, cells in self.unpivot.columns.items():
                if isinstance(cells, str) and self.unpivot.value is None:
                    raise problem(
                        ("unpivot", "value"),
                        f"is required: member '{member}' names one column, so say which of "
                        "our columns it goes to",
                    )
            for ours in _unpivot_targets(self.unpivot):
                give(ours, ("unpivot", "columns"))
        return self


def _fits(spec: SourceSpec):
    """The ``after`` validator of a source's section: what it names fits the contract."""

    def check(self: SourceMapping) -> SourceMapping:
        ours = spec.dtypes
        for column, expr in self.computed.items():
            try:
                names = pl.sql_expr(expr).meta.root_names()
            except Exception:  # noqa: BLE001 - polars' SQL parser raises several kinds
                raise problem(
                    ("computed", column),
                    f"is not an expression polars can read: {expr!r} (e.g. 'quantity * "
                    "unit_price')",
                ) from None
            unknown = [n for n in names if n not in ours]
            if unknown:
                raise problem(
                    ("computed", column),
                    f"uses {unknown}, which are not columns of {spec.name}: use ours "
                    f"({', '.join(ours)})",
                )
        if self.unpivot is not None:
            named = [self.unpivot.name, self.unpivot.value, *_unpivot_targets(self.unpivot)]
            for target in named:
                if target is not None and target not in ours:
                    raise problem(
                        ("unpivot",),
                        f"'{target}' is not a column of {spec.name}: use ours ({', '.join(ours)})",
                    )
        return self

    return check


def spreadable(spec: SourceSpec) -> bool:
    """Whether a source's rows may come weekly or monthly: those dated by a date (a report's
    day), not by a moment."""
    return spec.business_date is not None and spec.dtypes[spec.business_date] == pl.Date


def _no_dates(source: str):
    def refuse(value: dict[str, str]) -> dict[str, str]:
        if value:
            raise ValueError(f"{source} has no date or timestamp columns to give a format")
        return value

    return refuse


def grain_of(mapping: SourceMapping | None) -> str:
    """The period of a source's rows: day, unless it declares a week or a month."""
    return getattr(mapping, "grain", "day")


def _unpivot_targets(unpivot: Unpivot) -> list[str]:
    out: list[str] = []
    for cells in unpivot.columns.values():
        targets = [unpivot.value] if isinstance(cells, str) else list(cells)
        out += [t for t in targets if t is not None and t not in out]
    return out


def _presets_for(source: str) -> list[str]:
    return [name for name, p in presets().items() if source in p.sources]


def _with_preset(source: str):
    """The ``before`` validator of a source's section: a preset named in it is merged under
    the section's own keys (:func:`merge_preset`)."""

    def merge(data: Any) -> Any:
        if not isinstance(data, Mapping) or data.get("preset") is None:
            return data
        name = data["preset"]
        found = presets().get(name) if isinstance(name, str) else None
        if found is None or source not in found.sources:
            fitting = ", ".join(_presets_for(source)) or "none yet"
            if found is not None:
                raise problem(
                    "preset",
                    f"{name} describes {', '.join(found.sources)}, not {source}: the "
                    f"presets for {source} are {fitting}",
                )
            raise problem("preset", f"unknown preset: the presets for {source} are {fitting}")
        merged = merge_preset(found.sources[source], data)
        merged["preset"] = name
        return merged

    return merge


def source_model(spec: SourceSpec, extra: Mapping[str, Any] | None = None) -> type[SourceMapping]:
    """The ``sources.<name>`` section of one source: its mapping, with our column names as
    the allowed targets, the presets that describe the source, ``grain`` where its rows are
    dated by a date (a report that may be weekly), and ``extra`` fields (its time zone)."""
    ours = Literal[tuple(spec.dtypes)]  # type: ignore[valid-type]
    dated_columns = tuple(n for n, t in spec.dtypes.items() if t in (Timestamp, pl.Date))
    dated = Literal[dated_columns] if dated_columns else str  # type: ignore[valid-type]
    fitting = _presets_for(spec.name)
    fields: dict[str, Any] = {
        "preset": (
            Literal[tuple(fitting)] | None if fitting else None,  # type: ignore[valid-type]
            Field(None, description="the platform export these files are (presets/<name>.yaml)"),
        ),
        "folder": (
            Literal[tuple(SOURCE_SPECS)] | None,  # type: ignore[valid-type]
            Field(
                None,
                description="read the files of landing/<folder>/: one export that feeds two "
                "sources",
            ),
        ),
        "encoding": (
            Annotated[Text, AfterValidator(_encoding)],
            Field("utf-8", description="the files' text encoding (utf-8, utf-8-sig, gbk, …)"),
        ),
        "delimiter": (
            Annotated[Text, AfterValidator(_one_char)],
            Field(",", description="the CSV field separator (',', ';', tab)"),
        ),
        "skip_lines": (
            Annotated[Integer, Field(ge=0)],
            Field(0, description="lines before the CSV header (a report's title)"),
        ),
        "decimal": (
            Literal[".", ","],
            Field(".", description="the decimal mark of amounts (1.234,50 needs ',')"),
        ),
        "columns": (
            Annotated[dict[Text, ours], blank({}, dict[str, ours])],  # type: ignore[valid-type]
            Field(
                {},
                description=f"the shop's column name (may hold *) -> the {spec.name} contract's",
            ),
        ),
        "constants": (
            Annotated[dict[ours, Scalar], blank({}, dict[str, Scalar])],  # type: ignore[valid-type]
            Field({}, description="our column the files lack -> the value of every row"),
        ),
        "ids": (
            Annotated[dict[ours, IdRule], blank({}, dict[str, IdRule])],  # type: ignore[valid-type]
            Field(
                {},
                description="our id column -> the columns it is made of, row (the row's "
                "content), or {number_within: column}",
            ),
        ),
        "dates": (
            Annotated[dict[dated, Text], blank({}, dict[str, str])],  # type: ignore[valid-type]
            Field({}, description="our date or timestamp column -> its format (%Y%m%d, …)"),
        )
        if dated_columns
        else (
            Annotated[dict[Text, Text], AfterValidator(_no_dates(spec.name))],
            Field({}, description=f"{spec.name} has no date or timestamp columns"),
        ),
        "values": (
            Annotated[
                dict[ours, dict[str, Scalar | None]],  # type: ignore[valid-type]
                blank({}, dict[str, dict[str, Scalar | None]]),
            ],
            Field({}, description="our column -> {the file's value: ours}; '*': any other"),
        ),
        "blanks": (
            Annotated[dict[ours, Scalar], blank({}, dict[str, Scalar])],  # type: ignore[valid-type]
            Field({}, description="our column -> the value a blank cell means"),
        ),
        "computed": (
            Annotated[dict[ours, Text], blank({}, dict[str, str])],  # type: ignore[valid-type]
            Field({}, description="our column -> an expression of our typed columns"),
        ),
        "skip": (
            Annotated[dict[Text, list[Scalar | None]], blank({}, dict[str, list[Scalar | None]])],
            Field({}, description="a column -> the values (null: blank) whose rows are left out"),
        ),
        "first_row_per": (
            ours | None,  # type: ignore[valid-type]
            Field(None, description="keep the first row of each value of this column"),
        ),
        "unpivot": (Unpivot | None, Field(None, description="a wide report made long")),
    }
    if spreadable(spec):
        fields["grain"] = (
            Literal["day", "week", "month"],
            Field(
                "day",
                description="a row's period: a week (7 days from its date) or a month (its "
                "date's) is spread evenly over its days",
            ),
        )
    fields.update(extra or {})
    return create_model(
        f"{spec.name.title().replace('_', '')}Source",
        __base__=SourceMapping,
        __doc__=f"The {spec.name} files as the shop's exports give them.",
        __validators__={
            "_preset": model_validator(mode="before")(_with_preset(spec.name)),
            "_fits": model_validator(mode="after")(_fits(spec)),
        },
        **fields,
    )


# ---- reading ---------------------------------------------------------------------------


class EncodingMismatch(ValueError):
    """A CSV file does not decode in its declared encoding; ``detected`` is the likely one,
    ``offset`` and ``line`` where the first byte that does not decode is (None: unknown),
    ``source`` the source whose ``encoding`` setting to change."""

    def __init__(
        self,
        declared: str,
        detected: str | None,
        error: str,
        source: str | None = None,
        offset: int | None = None,
        line: int | None = None,
    ):
        self.declared, self.detected, self.error = declared, detected, error
        self.source, self.offset, self.line = source, offset, line
        # in the active language: `kpi check` says it in the shop's, a run's log in English
        where = (
            _("under sources.{source}").format(source=source) if source else _("for this source")
        )
        hint = (
            _("it reads as {detected}: set `encoding: {detected}` {where} in kpi.yaml")
            if detected
            else _("set `encoding:` {where} in kpi.yaml ({encodings})")
        ).format(detected=detected, where=where, encodings=", ".join(COMMON_ENCODINGS))
        if offset is None:
            super().__init__(
                _("is not {declared} text ({error}); {hint}").format(
                    declared=declared, error=error, hint=hint
                )
            )
            return
        at = (
            _("byte {offset}, on line {line},").format(offset=offset, line=line)
            if line is not None
            else _("byte {offset}").format(offset=offset)
        )
        super().__init__(
            _("is not {declared} text: {at} does not decode ({error}); {hint}").format(
                declared=declared, at=at, error=error, hint=hint
            )
        )

    def located(self, data: bytes, source: str) -> EncodingMismatch:
        """The same mismatch, for ``source``, with where in ``data`` (the file's bytes) the
        first byte that does not decode is."""
        try:
            data.decode(codecs.lookup(self.declared).name)
        except (UnicodeDecodeError, LookupError) as err:
            if isinstance(err, UnicodeDecodeError):
                line = data.count(b"\n", 0, err.start) + 1
                return EncodingMismatch(
                    self.declared, self.detected, err.reason, source, err.start, line
                )
        return EncodingMismatch(self.declared, self.detected, self.error, source)


#: encodings a shop's exports are likely in, first: where the detector finds several about
#: as likely (a short file of Chinese text reads as Korean or Japanese too), these win
LIKELY_FIRST = ("utf_8", "gb18030", "gbk", "gb2312", "big5", "utf_16")


def detect_encoding(data: bytes) -> str | None:
    """The likely encoding of ``data`` (charset-normalizer), as a name Python knows."""
    from charset_normalizer import from_bytes  # only when a file did not decode

    found = list(from_bytes(data[: 1 << 20]))
    if not found:
        return None
    best = min(m.chaos for m in found)
    close = [m.encoding for m in found if m.chaos <= best + 0.05]
    name = next((e for e in LIKELY_FIRST if e in close), close[0])
    name = codecs.lookup(name).name
    # GBK is a subset of GB18030: the larger one reads every file the smaller one does
    return "gb18030" if name in ("gbk", "gb2312", "hz") else name


def read_csv_text(
    path: Path,
    encoding: str = "utf-8",
    delimiter: str = ",",
    skip_lines: int = 0,
    ragged: bool = False,
) -> pl.DataFrame:
    """A CSV file as text columns, decoded from ``encoding``; :class:`EncodingMismatch`
    (with the likely encoding) when it does not decode."""
    options: dict[str, Any] = {
        "infer_schema": False,
        "raise_if_empty": False,
        "separator": delimiter,
        "skip_rows": skip_lines,
        "truncate_ragged_lines": ragged,
    }
    name = codecs.lookup(encoding).name
    if name in ("utf-8", "utf-8-sig"):  # polars reads UTF-8 itself, a BOM included
        try:
            # glob=False: a file's name is its name ("report[1].csv" is no pattern)
            return pl.read_csv(path, glob=False, **options)
        except pl.exceptions.ComputeError as err:
            if "utf-8" not in str(err).lower():
                raise
            detected = detect_encoding(path.read_bytes())
            raise EncodingMismatch(encoding, detected, "an invalid utf-8 sequence") from None
    data = path.read_bytes()
    try:
        text = data.decode(name)
    except UnicodeDecodeError as err:
        detected = detect_encoding(data)
        raise EncodingMismatch(encoding, detected, err.reason, offset=err.start) from None
    if not data.isascii() and name not in ("utf-16", "utf-32") and _is_utf8(data):
        # GB18030 decodes nearly any bytes, into nonsense where they were UTF-8: a file saved
        # again as UTF-8 would lose its headers without a word
        raise EncodingMismatch(encoding, "utf-8", "it is UTF-8 text")
    return pl.read_csv(text.encode("utf-8"), **options)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# ---- preparing -------------------------------------------------------------------------


class MappingProblem(ValueError):
    """A file does not fit its source's mapping or contract; ``column`` is ours (``*`` for the
    file as a whole), ``file_column`` the file's name for it where there is one."""

    def __init__(self, column: str, problem: str, file_column: str | None = None):
        self.column, self.problem, self.file_column = column, problem, file_column
        super().__init__(problem)


@dataclass
class Prepared:
    """A file made into the contract's columns, as text (or as a Parquet file typed them),
    not yet typed: ``frame`` has :data:`ROW` (the row's number in the file) and every column
    of the contract (computed ones null) but the required ones the file does not give
    (:attr:`missing`)."""

    frame: pl.DataFrame
    #: our column -> the file's name for it (for messages and the quarantine)
    origin: dict[str, str] = field(default_factory=dict)
    #: rows left out on purpose: skipped (``skip``) and further rows of a key
    #: (``first_row_per``)
    rows_skipped: int = 0
    rows_repeated: int = 0
    #: the contract's optional columns the file does not give (null in every row)
    absent_optional: list[str] = field(default_factory=list)
    #: the contract's required columns the file and the mapping do not give
    missing: list[str] = field(default_factory=list)
    #: the file's own column names, as read
    file_columns: list[str] = field(default_factory=list)


def match_column(pattern: str, names: Iterable[str]) -> str | None:
    """The first of ``names`` that ``pattern`` names (a ``*`` in it matches any text)."""
    if "*" not in pattern:
        return pattern if pattern in names else None
    rx = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")
    return next((n for n in names if rx.match(n)), None)


def renames(columns: Mapping[str, str], names: list[str]) -> dict[str, str]:
    """The file's column -> ours, for the mapping's ``columns`` that the file has (a name
    with ``*`` matches the file's first column it fits)."""
    out = {}
    for theirs, ours in columns.items():
        found = match_column(theirs, names)
        if found is not None and found not in out:
            out[found] = ours
    return out


#: Excel's ways of keeping text as text: ="0123" (a formula) and a leading apostrophe
_EXCEL_FORMULA = r'^="(.*)"$'
_EXCEL_APOSTROPHE = r"^'(\d[\d\s-]*)$"


def _unguarded(col: pl.Expr) -> pl.Expr:
    return col.str.replace(_EXCEL_FORMULA, "$1").str.replace(_EXCEL_APOSTROPHE, "$1")


def _text(value: Any) -> str:
    return str(value)


def _row_ids(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """An id for each row from its content: a hash of its values and of how many equal rows
    came before it in the file, so the same row of the same export gets the same id on
    every run, and in a later export that repeats it."""
    text = frame.select(
        pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in columns], separator="\x1f")
    ).to_series()
    nth = text.to_frame("t").select(pl.col("t").cum_count().over("t")).to_series()
    return pl.Series(
        [
            hashlib.blake2b(f"{t}\x1e{n}".encode(), digest_size=8).hexdigest()
            for t, n in zip(text, nth, strict=True)
        ],
        dtype=pl.String,
    )


def prepare(
    raw: pl.DataFrame,
    source: str,
    mapping: SourceMapping,
    problems: list[MappingProblem] | None = None,
) -> Prepared:
    """The file ``raw`` (as read) made into ``source``'s columns by ``mapping`` (steps 1 to 4
    of the module's doc). A column the mapping names and the file does not have is a
    :class:`MappingProblem`: raised, or with ``problems`` added to it and its step left out.
    A required column neither the file nor the mapping gives is left out of the frame and
    named in :attr:`Prepared.missing` (the caller decides: an error, or a problem of many)."""
    spec = SOURCE_SPECS[source]
    dtypes = spec.dtypes
    raw = raw.rename({c: c.strip() for c in raw.columns if c != c.strip()})
    file_columns = list(raw.columns)
    renamed_from = renames(mapping.columns, file_columns)
    # a column of the file named like one of ours that another column is mapped to is not ours
    taken = set(renamed_from.values())
    clashes = {c: f"{c} (file)" for c in file_columns if c in taken and c not in renamed_from}
    current = {c: renamed_from.get(c, clashes.get(c, c)) for c in file_columns}
    df = raw.rename(current).with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    origin = {ours: theirs for theirs, ours in renamed_from.items()}
    origin.update({c: c for c in dtypes if c in df.columns and c not in origin})
    content = list(current.values())  # the row as the file has it, for ids made from it

    def named(column: str) -> str:
        """A column by our name, or by the file's when it was renamed to one of ours."""
        return column if column in df.columns else current.get(column, column)

    def need(column: str, sentence: str, **more: str) -> bool:
        """Whether the file has ``column``; else the problem ``sentence`` (in the active
        language, with ``{column}`` and the file's ``{columns}``)."""
        if named(column) in df.columns:
            return True
        found = MappingProblem(
            column, sentence.format(column=column, columns=_names(file_columns), **more)
        )
        if problems is None:
            raise found
        problems.append(found)
        return False

    # only the columns used are cleaned of Excel's text guards
    used = {c for c in dtypes if c in df.columns} | {named(c) for c in mapping.skip}
    for rule in mapping.ids.values():
        used |= {named(c) for c in rule} if isinstance(rule, list) else set()
    if mapping.unpivot is not None:
        for cells in mapping.unpivot.columns.values():
            used |= {cells} if isinstance(cells, str) else set(cells.values())
    guarded = [c for c in used if c in df.columns and df.schema[c] == pl.String]
    if guarded:
        df = df.with_columns(_unguarded(pl.col(c)).alias(c) for c in guarded)

    numbered = {}  # numbered before rows are left out: a line's number is its place in the file
    for ours, rule in mapping.ids.items():
        if isinstance(rule, NumberWithin) and need(
            rule.number_within,
            _(
                "ids.{id} numbers rows within '{column}', which the file does not have; "
                "it has {columns}"
            ),
            id=ours,
        ):
            within = pl.int_range(1, pl.len() + 1).over(named(rule.number_within))
            numbered[ours] = within.cast(pl.String)
            origin[ours] = f"number within {rule.number_within}"
    if numbered:
        df = df.with_columns(**numbered)
    repeated = 0
    if mapping.first_row_per is not None and need(
        mapping.first_row_per,
        _("first_row_per names '{column}', which the file does not have; it has {columns}"),
    ):
        before = df.height
        df = df.filter(pl.col(named(mapping.first_row_per)).is_first_distinct())
        repeated = before - df.height
    skipped = 0
    if mapping.skip:
        keep = pl.lit(True)
        for column, values in mapping.skip.items():
            if not need(
                column, _("skip names '{column}', which the file does not have; it has {columns}")
            ):
                continue
            value = pl.col(named(column)).cast(pl.String).str.strip_chars()
            hit = value.is_in([_text(v) for v in values if v is not None])
            if any(v is None for v in values):
                hit = hit | value.is_null() | (value == "")
            keep = keep & ~hit.fill_null(False)
        before = df.height
        df = df.filter(keep)
        skipped = before - df.height

    made: dict[str, pl.Expr] = {}
    for ours, rule in mapping.ids.items():
        made_of = _(
            "ids.{id} is made of '{column}', which the file does not have; it has {columns}"
        )
        if isinstance(rule, list) and all([need(c, made_of, id=ours) for c in rule]):
            parts = [pl.col(named(c)).cast(pl.String) for c in rule]
            made[ours] = pl.concat_str(parts, separator="|")
            origin[ours] = "+".join(rule)
    if made:
        df = df.with_columns(**made)
    for ours, rule in mapping.ids.items():
        if rule == "row":
            df = df.with_columns(_row_ids(df, content).alias(ours))
            origin[ours] = "the row's content"

    if mapping.unpivot is not None:
        try:
            df, cells_origin = _unpivoted(df, mapping.unpivot, file_columns)
            origin.update(cells_origin)
        except MappingProblem as found:
            if problems is None:
                raise
            problems.append(found)
    constants = {ours: pl.lit(_text(v), dtype=pl.String) for ours, v in mapping.constants.items()}
    if constants:
        df = df.with_columns(**constants)
        origin.update({ours: f"constant {v!r}" for ours, v in mapping.constants.items()})

    nullable = {name: col.nullable for name, col in spec.contract.to_schema().columns.items()}
    lacking = [c for c in dtypes if c not in df.columns and c not in mapping.computed]
    absent = [c for c in lacking if nullable[c]]
    missing = [c for c in lacking if not nullable[c]]
    fill = {c: pl.lit(None, dtype=pl.String) for c in (*absent, *mapping.computed)}
    if fill:
        df = df.with_columns(**fill)

    cleaned: list[pl.Expr] = []
    for ours, table in mapping.values.items():
        if ours in missing:
            continue
        col = pl.col(ours).cast(pl.String).str.strip_chars()
        pairs = {k: None if v is None else _text(v) for k, v in table.items() if k != OTHERWISE}
        if OTHERWISE in table:
            other = table[OTHERWISE]
            default = pl.lit(None if other is None else _text(other), dtype=pl.String)
        else:
            default = col
        mapped = col.replace_strict(pairs, default=default, return_dtype=pl.String)
        cleaned.append(pl.when(col.is_null()).then(None).otherwise(mapped).alias(ours))
    if cleaned:
        df = df.with_columns(cleaned)
    blanks = []
    for ours, value in mapping.blanks.items():
        if ours in missing:
            continue
        col = pl.col(ours).cast(pl.String)
        blank_cell = col.is_null() | (col.str.strip_chars() == "")
        blanks.append(pl.when(blank_cell).then(pl.lit(_text(value))).otherwise(col).alias(ours))
    if blanks:
        df = df.with_columns(blanks)
    frame = df.select(ROW, *(c for c in dtypes if c not in missing))
    return Prepared(frame, origin, skipped, repeated, absent, missing, file_columns)


def _unpivoted(
    df: pl.DataFrame, unpivot: Unpivot, file_columns: list[str]
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Each member's cells as a row of their own; the other columns repeat on each."""
    cells = {
        member: ({unpivot.value: spec} if isinstance(spec, str) else dict(spec))
        for member, spec in unpivot.columns.items()
    }
    wide = {theirs for spec in cells.values() for theirs in spec.values()}
    absent = sorted(t for t in wide if t not in df.columns)
    if absent:
        raise MappingProblem(
            unpivot.name,
            _("unpivot reads {absent}, which the file does not have; it has {columns}").format(
                absent=_names(absent), columns=_names(file_columns)
            ),
        )
    keep = [c for c in df.columns if c not in wide]
    targets = _unpivot_targets(unpivot)
    parts = []
    for member, spec in cells.items():
        parts.append(
            df.select(
                *keep,
                pl.lit(member, dtype=pl.String).alias(unpivot.name),
                *(
                    (
                        pl.col(spec[t]).cast(pl.String) if t in spec else pl.lit(None, pl.String)
                    ).alias(t)
                    for t in targets
                ),
            )
        )
    out = pl.concat(parts).sort(ROW, maintain_order=True)
    origin = {unpivot.name: "the columns' member", **{t: "unpivoted cells" for t in targets}}
    return out, origin


def _names(columns: Iterable[str], limit: int = 12) -> str:
    shown = list(columns)
    text = ", ".join(f"'{c}'" for c in shown[:limit])
    return f"[{text}{', …' if len(shown) > limit else ''}]"


def computed_columns(typed: pl.DataFrame, source: str, mapping: SourceMapping) -> pl.DataFrame:
    """The ``computed`` columns, from the typed ones, in their contract dtypes."""
    if not mapping.computed:
        return typed
    dtypes = SOURCE_SPECS[source].dtypes
    return typed.with_columns(
        pl.sql_expr(expr).cast(dtypes[ours], strict=False).alias(ours)
        for ours, expr in mapping.computed.items()
    )


# ---- a report's grain --------------------------------------------------------------------

#: the raw table's column that flags a row as a day's share of a weekly or monthly row
SPREAD_FROM = "spread_from"


def period_days(start: dt.date, grain: str) -> list[dt.date]:
    """The days a row of ``grain`` dated ``start`` covers: a week is the 7 days from its
    date, a month the days of its date's month."""
    if grain == "week":
        return [start + dt.timedelta(days=i) for i in range(7)]
    if grain == "month":
        n = calendar.monthrange(start.year, start.month)[1]
        return [dt.date(start.year, start.month, d) for d in range(1, n + 1)]
    return [start]


def spread(good: pl.DataFrame, source: str, grain: str) -> pl.DataFrame:
    """Each row of a ``grain`` report as one row per day of its period, its counts and
    amounts split evenly and exactly: whole numbers (amounts in cents) by largest remainder,
    so the days add up to the row to the cent (:func:`kpi_tree.targets.split.split_exact`).
    Each day's row keeps the file's row number and is flagged in :data:`SPREAD_FROM`."""
    spec = SOURCE_SPECS[source]
    date = spec.business_date
    assert date is not None
    counts = [n for n, t in spec.dtypes.items() if t.is_integer()]
    amounts = [n for n, t in spec.dtypes.items() if t.is_float()]
    out: dict[str, list[Any]] = {name: [] for name in good.columns}
    for row in good.iter_rows(named=True):
        days = period_days(row[date], grain)
        parts = {
            n: split_exact(row[n], [1] * len(days)) if row[n] is not None else [None] * len(days)
            for n in counts
        }
        for n in amounts:
            cents = None if row[n] is None else split_exact(to_cents(row[n]), [1] * len(days))
            parts[n] = [None] * len(days) if cents is None else [c / 100 for c in cents]
        for i, day in enumerate(days):
            for name in good.columns:
                if name == date:
                    out[name].append(day)
                elif name in parts:
                    out[name].append(parts[name][i])
                else:
                    out[name].append(row[name])
    spread_rows = pl.DataFrame(out, schema=good.schema)
    return spread_rows.with_columns(pl.lit(grain, dtype=pl.String).alias(SPREAD_FROM))
