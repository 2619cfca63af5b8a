"""What `kpi check` finds in one file: every problem at once, and what to write about each.

:func:`examine_file` runs the source's mapping and contract over the file exactly as a run
would (:func:`~pipelines.ingest.validate.validate_file`), but collects the problems that would
stop the file (the encoding, a missing column, a column that does not parse) instead of
stopping at the first, and sums up the rows: how many would load, which values are not
members of their lists (with a value map to start from), the share of bad rows against the
threshold, the top reasons. It reads the file and writes nothing.
"""

from __future__ import annotations

import difflib
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from pandera.api.checks import Check

from pipelines.i18n import N_, _
from pipelines.ingest.contracts import SOURCE_SPECS
from pipelines.ingest.mapping import detect_encoding, read_csv_text
from pipelines.ingest.validate import (
    FileProblem,
    _check_name,
    _kind,
    file_columns,
    optional_columns,
    read_raw,
    validate_file,
)
from pipelines.settings import SourceConfig

#: unknown values shown per column, reasons shown, and members named in a reason
SHOWN_VALUES = 8
SHOWN_REASONS = 5
SHOWN_MEMBERS = 5

#: the shop's vocabulary lists (SourceSpec.members) as a reason names them
LISTS = {
    "channels": N_("the shop's channels"),
    "paid_channels": N_("the shop's paid channels"),
    "payment_methods": N_("the shop's payment methods"),
    "carriers": N_("the shop's carriers"),
    "topics": N_("the shop's conversation topics"),
}


@dataclass(frozen=True)
class Outside:
    """A column's values that are not members of its list, with a value map to start from."""

    column: str
    file_column: str | None
    members: list[str]
    #: (the value, rows with it, the closest member or None), most rows first
    values: list[tuple[str, int, str | None]]
    more: int = 0  # values not shown

    def value_map(self, source: str) -> str:
        """The ``values:`` entry of kpi.yaml that would map them, to edit."""
        lines = [f"sources.{source}.values.{self.column}:"]
        for value, _rows, guess in self.values:
            target = guess or "TODO"
            lines.append(f"  {_yaml_key(value)}: {target}")
        lines.append(f"  # members: {', '.join(self.members)}")
        return "\n".join(lines)


def _yaml_key(value: str) -> str:
    plain = value and value.strip() == value and not any(c in value for c in ":#'\"{}[],&*!|>%@`")
    return value if plain else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Examination:
    """What `kpi check` reports of one file."""

    file: Path
    source: str
    seconds: float
    threshold: float
    #: problems that keep the file from loading (the encoding, columns)
    problems: list[FileProblem] = field(default_factory=list)
    rows_read: int = 0  # the file's data rows
    rows_skipped: int = 0  # left out by `skip`
    rows_repeated: int = 0  # further rows of a key (`first_row_per`)
    rows_checked: int = 0
    rows_bad: int = 0
    rows_loaded: int = 0  # rows (days, for a weekly report) that would reach the raw table
    reasons: list[tuple[str, int]] = field(default_factory=list)
    outside: list[Outside] = field(default_factory=list)
    absent_optional: list[str] = field(default_factory=list)
    #: the file's own name of each of our columns, where it has another
    origin: dict[str, str] = field(default_factory=dict)
    #: the file's columns, as read
    file_columns: list[str] = field(default_factory=list)
    #: the timestamp columns read in the business zone (``zone``) for want of a declared one
    zone_assumed: tuple[str, ...] = ()
    zone: str | None = None

    @property
    def share(self) -> float:
        return self.rows_bad / self.rows_checked if self.rows_checked else 0.0

    @property
    def would_load(self) -> bool:
        return not self.problems and self.share <= self.threshold


def allowed_values(source: str, column: str) -> list[str] | None:
    """The members a column of ``source``'s contract takes (its ``isin`` rule), if any."""
    schema = SOURCE_SPECS[source].contract.to_schema()
    for check in schema.columns[column].checks:
        allowed = (check.statistics or {}).get("allowed_values")
        if check.name == "isin" and allowed is not None:
            return [str(v) for v in allowed]
    return None


def rule_words(source: str, conf: SourceConfig, column: str, check: str) -> str:
    """The rule ``check`` of ``column`` (as the quarantine names it: pandera's check, or our
    own wording of a type or a row rule) in the active language, from the contract's check of
    that name and its parameters; the name itself for a rule not worded here."""
    if check == "not_nullable":
        return _("empty")
    if check.startswith("dtype("):
        target = SOURCE_SPECS[source].dtypes.get(column)
        if target is not None:
            _dtype, _sep, fmt = check.partition(" in format ")
            kind = _kind(target)
            return (
                _("not {kind} in the format {format}").format(kind=kind, format=fmt)
                if fmt
                else _("not {kind}").format(kind=kind)
            )
    schema = SOURCE_SPECS[source].contract_for(conf.members).to_schema()
    found = schema.columns.get(column)
    for rule in found.checks if found is not None else []:
        if _check_name(rule) == check:
            lists = {m.column: m.vocabulary for m in conf.members} or SOURCE_SPECS[source].members
            return _check_words(rule, lists.get(column))
    return _(check)  # a row rule: worded in the contract (and translated there)


def _check_words(check: Check, vocabulary: str | None) -> str:
    stats = check.statistics or {}
    if check.name == "isin":
        allowed = [str(v) for v in stats.get("allowed_values", [])]
        shown = allowed[:SHOWN_MEMBERS] + (["…"] if len(allowed) > SHOWN_MEMBERS else [])
        named = _(", ").join(shown)
        what = _(LISTS[vocabulary]) if vocabulary in LISTS else _("its values")
        return _("not one of {what} ({members})").format(what=what, members=named)
    low, high = stats.get("min_value"), stats.get("max_value")
    if check.name == "greater_than_or_equal_to":
        return _("below {value}").format(value=low)
    if check.name == "greater_than":
        return _("{value} or below").format(value=low)
    if check.name == "less_than_or_equal_to":
        return _("above {value}").format(value=high)
    if check.name == "less_than":
        return _("{value} or above").format(value=high)
    if check.name == "in_range":
        return _("outside {low} to {high}").format(low=low, high=high)
    if check.name == "str_length":
        exact = stats.get("exact_value")
        if exact is not None:
            return _("not {n} characters long").format(n=exact)
        if low == 1 and high is None:
            return _("empty")
        if high is None:
            return _("shorter than {n} characters").format(n=low)
        if low is None:
            return _("longer than {n} characters").format(n=high)
        return _("not {low} to {high} characters long").format(low=low, high=high)
    return _check_name(check)


def closest_member(value: str, members: list[str]) -> str | None:
    """The member ``value`` most likely means, by spelling (``Paid Search`` -> paid_search)."""
    key = value.strip().lower().replace(" ", "_").replace("-", "_")
    if key in members:
        return key
    close = difflib.get_close_matches(key, members, n=1, cutoff=0.6)
    return close[0] if close else None


def examine_file(
    path: Path, source: str, conf: SourceConfig, business_tz: str, threshold: float
) -> Examination:
    """Every problem of ``path`` as a file of ``source`` (see the module's doc); raises
    :class:`~pipelines.ingest.validate.SchemaMismatch` only for a file that cannot be read."""
    started = time.perf_counter()
    problems: list[FileProblem] = []
    checked = validate_file(path, source, conf, business_tz, str(path), problems=problems)
    out = Examination(path, source, 0.0, threshold, problems=problems)
    prepared = checked.prepared
    if prepared is not None:
        out.rows_skipped, out.rows_repeated = prepared.rows_skipped, prepared.rows_repeated
        out.absent_optional = list(prepared.absent_optional)
        out.origin = {k: v for k, v in prepared.origin.items() if k != v}
        out.file_columns = list(prepared.file_columns)
    else:
        out.origin = {ours: theirs for theirs, ours in conf.columns.items()}
        out.file_columns = _file_columns(path, source, conf, problems)
        named = {theirs: ours for theirs, ours in conf.columns.items()}
        have = {named.get(n, n) for n in out.file_columns}
        optional = optional_columns(source)
        out.absent_optional = [
            c for c in SOURCE_SPECS[source].dtypes if c in optional and c not in have
        ]
    out.zone_assumed, out.zone = checked.zone_assumed, conf.timezone
    out.rows_checked = checked.rows_in
    out.rows_read = checked.rows_in + out.rows_skipped + out.rows_repeated
    out.rows_bad = checked.bad_rows
    out.rows_loaded = checked.good.height
    bad = checked.bad
    rules = Counter(
        bad.unique(["row_number", "column", "check"]).select("column", "check").iter_rows()
    )
    counts: Counter[str] = Counter()
    for (column, check), n in rules.items():
        counts[f"{column}: {rule_words(source, conf, column, check)}"] += n
    out.reasons = counts.most_common(SHOWN_REASONS)
    outside = bad.filter(pl.col("check").str.starts_with("isin("))
    for column in outside["column"].unique(maintain_order=True).to_list():
        members = allowed_values(source, column) or []
        rows = outside.filter(pl.col("column") == column)
        by_value = rows.group_by("value").agg(pl.col("row_number").n_unique().alias("n"))
        ranked = by_value.sort(["n", "value"], descending=[True, False]).rows()
        shown = [
            (str(value), int(n), closest_member(str(value), members))
            for value, n in ranked[:SHOWN_VALUES]
        ]
        out.outside.append(
            Outside(
                column,
                out.origin.get(column),
                members,
                shown,
                more=max(0, len(ranked) - SHOWN_VALUES),
            )
        )
    out.seconds = time.perf_counter() - started
    return out


def _file_columns(
    path: Path, source: str, conf: SourceConfig, problems: list[FileProblem]
) -> list[str]:
    """The columns of a file read without a mapping (in the encoding it was found to be in)."""
    try:
        if path.suffix.lower() == ".csv" and any(p.kind == "encoding" for p in problems):
            detected = detect_encoding(path.read_bytes()) or "utf-8"
            return list(read_csv_text(path, detected).columns)
        return list(read_raw(path, file_columns(source, conf)).columns)
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return []
