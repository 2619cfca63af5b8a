"""A held-back notice in business words: which file, which day, what to do.

A unit's gate (``expectations/``) records its failed expectations in its verdict: the frame
and column checked, the expectation, the failing rows' keys (``2025-02-05 day:
sessions=None``). A team lead reads "no sessions data for 2025-02-05: the sessions file of
that day is missing or empty (landing folder sessions/); deliver it, then `kpi run --date
2025-02-05`", not ``expect_column_values_to_not_be_null on days.sessions``. This module
words each failure so, from the tree (which sources a KPI reads), the vocabulary (a member's
label) and the settings (a source's landing folder); a failure it has no words for is said
as the check and the column, with the report to read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from expectations.completeness import COUNTS, read_problem
from expectations.verdict import Failure
from kpi_tree.formats import Formats
from kpi_tree.model import Node, Tree
from kpi_tree.vocabulary import Vocabulary
from pipelines.alerts.words import DIMENSION, joined, kpi_name, member_label, source_name, word
from pipelines.i18n import _, ngettext

#: the gate's completeness frames (expectations/completeness.py): one sentence per problem
COMPLETENESS_FRAMES = ("incomplete", "orphans")
_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})")
_VALUE = re.compile(r"=(-?[0-9.eE+-]+)\b")
#: an unaccepted missing source day, as expectations.suites.source_gaps words it
_GAP = re.compile(
    r"^(?P<source>\w+) missing on (?P<day>\d{4}-\d{2}-\d{2}) \((?P<kpis>.*) unknown\)"
)
#: a file the run refused at ingest, as expectations.completeness.refused_files words it
_REFUSED = re.compile(
    r"^refused: (?P<file>.+?) \((?P<source>\w+), (?P<day>\d{4}-\d{2}-\d{2})\), "
    r"rule (?P<rule>\w+): (?P<message>.*?) Fix the file"
)
_MEMBER = re.compile(r"^(?P<kpi>\w+) by (?P<dimension>\w+) = (?P<member>.+)$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the held-back data, for a reader: what, and what to do."""

    what: str
    todo: str
    #: the days this problem finds without any data: a problem that says no more than that a
    #: day has nothing (or lacks some of its members) is said once, by the widest of them
    absent: tuple[str, ...] = field(default=(), compare=False)
    #: whether it says the whole of those days is missing (not only some of their rows)
    whole: bool = field(default=False, compare=False)
    #: the (source, day)s it says are missing (a gap) or were refused (a refused file): a
    #: gap of a refused file is said by the refusal, which says what to do about it
    gaps: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    refused: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        return f"{self.what} {self.todo}"


def _number(example: str) -> float | None:
    """The failing value of an example row (``2025-02-05 day: orders=-3``), if it has one."""
    for match in _VALUE.finditer(example):
        try:
            return float(match.group(1))
        except ValueError:  # a date or an id after "=", not the value
            continue
    return None


def _days(examples: Sequence[object]) -> list[str]:
    return sorted({m.group(1) for e in examples for m in [_DAY.search(str(e))] if m})


def _span(days: Sequence[str]) -> str:
    if not days:
        return "?"
    return days[0] if len(days) == 1 else joined(list(days))


def _rerun(days: Sequence[str]) -> str:
    if len(days) == 1:
        return f"`kpi run --date {days[0]}`"
    if days:
        return f"`kpi run --start {days[0]} --end {days[-1]}`"
    return "`kpi run`"


def _column_node(tree: Tree, column: str | None) -> tuple[Node | None, str | None]:
    """The KPI a mart column is (``sessions``) or belongs to (``conversion_rate__denominator``)
    and which part of it."""
    if not column:
        return None, None
    name, _sep, part = column.partition("__")
    return tree.nodes.get(name), part or None


def _sources(tree: Tree, node: Node, part: str | None) -> tuple[str, ...]:
    """The sources a KPI's column reads: its denominator's or numerator's alone when the
    column is that part, else all of the KPI's."""
    measure = {"denominator": node.denominator, "numerator": node.numerator}.get(part or "")
    if measure:
        return tree.measure_sources(measure)
    return tree.node_sources(node)


def _folders(sources: Sequence[str], folders: dict[str, str]) -> str:
    return joined([f"{folders.get(s, s)}/" for s in sources])


def describe(
    failure: Failure,
    tree: Tree,
    vocabulary: Vocabulary,
    formats: Formats,
    folders: dict[str, str],
    start: dt.date,
    end: dt.date,
) -> Problem:
    """One failed expectation in business words (the active language). ``folders``: each
    source's landing folder (``sources.<name>`` may point it elsewhere)."""
    node, part = _column_node(tree, failure.column)
    days = _days(failure.examples)
    kind = failure.expectation
    if _is_missing_value(failure) and node:
        return _missing(tree, [node], _sources(tree, node, part), days, folders)
    if failure.frame == "days" and kind == "expect_column_distinct_values_to_contain_set":
        # the examples are the days seen (strings, or rows of them; None for an empty frame)
        seen = set(_days([str(e) for e in failure.examples]))
        window = [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
        missing = [d for d in window if d not in seen] or days
        return Problem(
            _("No data at all for {days}.").format(days=_span(missing)),
            _("The files of those days have not arrived: deliver them, then run {command}.").format(
                command=_rerun(missing)
            ),
            absent=tuple(missing),
            whole=True,
        )
    if failure.frame == "kpis_present" and kind == "expect_column_distinct_values_to_contain_set":
        # the shared tree's gate: the KPIs with a value on the newest day (None: not one)
        day = end.isoformat()
        if not any(e is not None for e in failure.examples):
            return Problem(
                _("No data at all for {days}.").format(days=day),
                _(
                    "The files of those days have not arrived: deliver them, then run {command}."
                ).format(command=_rerun([day])),
                absent=(day,),
                whole=True,
            )
        return Problem(
            _("Some KPIs of the tree have no value on {day}.").format(day=day),
            _(
                "A file of that day is missing or empty: the quality report names the KPIs; "
                "deliver it, then run {command}."
            ).format(command=_rerun([day])),
            absent=(day,),
        )
    if failure.frame == "days" and kind == "expect_column_max_to_be_between":
        return Problem(
            _("The newest data is for {seen}, not {day}.").format(
                seen=_span(days), day=end.isoformat()
            )
            if days
            else _("Nothing for {day}.").format(day=end.isoformat()),
            _("The files of {day} have not arrived: deliver them, then run {command}.").format(
                day=end.isoformat(), command=_rerun([end.isoformat()])
            ),
            absent=(end.isoformat(),),
        )
    if failure.frame == "newest" and kind == "expect_table_row_count_to_equal":
        return Problem(
            _("Nothing for {day}.").format(day=end.isoformat()),
            _("The files of {day} have not arrived: deliver them, then run {command}.").format(
                day=end.isoformat(), command=_rerun([end.isoformat()])
            ),
            absent=(end.isoformat(),),
        )
    if failure.frame == "newest" and kind == "expect_column_values_to_be_between" and node:
        values = [v for e in failure.examples if (v := _number(str(e))) is not None]
        shown = formats.value(values[0], node.unit) if values else "?"
        sources = _sources(tree, node, part)
        return Problem(
            _(
                "{kpi} on {day} is {value}, far outside its usual range of the last four weeks."
            ).format(kpi=kpi_name(node), day=end.isoformat(), value=shown),
            _(
                "A file of that day may be partial: check the {source} file of {day} (landing "
                "folder {folder}) and deliver it again if it is, then run {command}."
            ).format(
                source=joined([source_name(tree, s) for s in sources]),
                day=end.isoformat(),
                folder=_folders(sources, folders),
                command=_rerun([end.isoformat()]),
            ),
        )
    if failure.frame == "gaps" and kind == "expect_column_values_to_be_null":
        return _gaps(tree, failure, folders)
    if failure.frame == "refused" and kind == "expect_column_values_to_be_null":
        return _refused(tree, failure, folders)
    if failure.frame == "coverage" and kind == "expect_column_values_to_be_null":
        found = [m for e in failure.examples for m in [_MEMBER.match(str(e))] if m]
        members = sorted(
            {
                _("{member} ({dimension})").format(
                    member=member_label(vocabulary, m["dimension"], m["member"]),
                    dimension=word(DIMENSION, m["dimension"]),
                )
                for m in found
            }
        )
        kpis = [tree.nodes[m["kpi"]] for m in found if m["kpi"] in tree.nodes]
        sources = sorted({s for n in kpis for s in tree.node_sources(n)})
        return Problem(
            _("On {day} there are no rows for {members}, which are there nearly every day.").format(
                day=end.isoformat(), members=joined(members) if members else "?"
            ),
            _(
                "The {source} file of {day} may be partial (landing folder {folder}): check it, "
                "deliver it again, then run {command}."
            ).format(
                source=joined([source_name(tree, s) for s in sources]) or "?",
                day=end.isoformat(),
                folder=_folders(sources, folders) or "?",
                command=_rerun([end.isoformat()]),
            ),
            absent=(end.isoformat(),),
        )
    if failure.frame in ("mart", "totals") and node:
        sources = _sources(tree, node, part)
        return Problem(
            _("{kpi} is outside what it can be on {days} ({count} rows).").format(
                kpi=kpi_name(node), days=_span(days), count=failure.unexpected_count or "?"
            ),
            _(
                "The {source} files of those days hold wrong values (landing folder {folder}): "
                "correct them, then run {command}."
            ).format(
                source=joined([source_name(tree, s) for s in sources]),
                folder=_folders(sources, folders),
                command=_rerun(days),
            ),
        )
    if failure.frame in COMPLETENESS_FRAMES and kind == "expect_column_values_to_be_null":
        # the gate words each problem itself: the day, the counts, what to do
        shown = [_gate_sentence(str(e), tree) for e in failure.examples[:3]]
        more = (failure.unexpected_count or len(shown)) - len(shown)
        return Problem(
            " ".join(shown),
            _("And {count} more: see the quality report.").format(count=more) if more > 0 else "",
        )
    if kind.startswith("dbt test "):
        return Problem(
            _("A consistency test of the build failed ({test}): the numbers do not add up.").format(
                test=kind.removeprefix("dbt test ")
            ),
            _("Read the quality report, repair the data it names, then run the days again."),
        )
    return _as_checked(failure)


def _gate_sentence(sentence: str, tree: Tree) -> str:
    """A completeness problem as the gate wrote it (English, the record), in the reader's
    language by the same template, the source by its name; a sentence of no known template as
    it is."""
    found = read_problem(sentence)
    if found is None:
        return sentence
    template, fields = found
    if "source" in fields:
        fields["source"] = source_name(tree, fields["source"])
    for name, (singular, plural) in COUNTS.items():
        number = re.match(r"\d+", fields.get(name, ""))
        if number is not None:
            n = int(number.group())
            fields[name] = ngettext(singular, plural, n).format(n=n)
    return _(template).format(**fields)


def _rule_words(rule: str) -> str:
    return {
        "schema": _("its columns do not fit what the source must hold"),
        "encoding": _("it is not text in the source's encoding"),
        "cut": _("it ends mid-row, so the delivery was cut short"),
        "bad_rows": _("more of its rows are bad than the bad-row threshold allows"),
    }.get(rule, rule)


def _refused(tree: Tree, failure: Failure, folders: dict[str, str]) -> Problem:
    """Files refused at ingest: which file, which day, which rule, and what to do."""
    found = [m for e in failure.examples for m in [_REFUSED.match(str(e))] if m]
    if not found:
        return _as_checked(failure)
    what = " ".join(
        _("The {source} file {file} of {day} was refused: {rule} ({message}).").format(
            source=source_name(tree, m["source"]),
            file=m["file"],
            day=m["day"],
            rule=_rule_words(m["rule"]),
            message=m["message"].removeprefix(f"{m['file']}: ").rstrip("."),
        )
        for m in found
    )
    days = sorted({m["day"] for m in found})
    sources = sorted({m["source"] for m in found})
    return Problem(
        what,
        _(
            "Fix the file and deliver it again (landing folder {folder}), then run {command}."
        ).format(folder=_folders(sources, folders), command=_rerun(days)),
        # said first, and instead of what the missing file leaves empty on its days
        absent=tuple(days),
        whole=True,
        refused=tuple((m["source"], m["day"]) for m in found),
    )


def _as_checked(failure: Failure) -> Problem:
    """A failure there are no business words for: the check and where it failed."""
    where = f"{failure.frame}.{failure.column}" if failure.column else failure.frame
    return Problem(
        _("The check {check} failed on {where}.").format(check=failure.expectation, where=where),
        _("Read the quality report, repair the data it names, then run the days again."),
    )


def _gaps(tree: Tree, failure: Failure, folders: dict[str, str]) -> Problem:
    """Missing source days not yet repaired nor accepted (they hold the unit back on every
    night, whatever its window): which source, which days, which KPIs are unknown."""
    found = [m for e in failure.examples for m in [_GAP.match(str(e))] if m]
    if not found:
        return _as_checked(failure)
    sources = sorted({m["source"] for m in found})
    days = sorted({m["day"] for m in found})
    kpis = sorted({k for m in found for k in m["kpis"].split(", ")})
    names = joined([source_name(tree, s) for s in sources])
    accept = joined([f"`kpi gaps accept {m['source']} {m['day']} --reason ...`" for m in found])
    return Problem(
        _("No {source} data for {days}: {kpis} are unknown on that day.").format(
            source=names,
            days=_span(days),
            kpis=joined([kpi_name(tree.nodes[k]) if k in tree.nodes else k for k in kpis]),
        ),
        _(
            "The {source} file of that day is missing (landing folder {folder}): deliver it, "
            "then run {command}; if it will never come, accept the gap: {accept}."
        ).format(
            source=names, folder=_folders(sources, folders), command=_rerun(days), accept=accept
        ),
        gaps=tuple((m["source"], m["day"]) for m in found),
    )


def _is_missing_value(failure: Failure) -> bool:
    return failure.frame == "days" and failure.expectation == "expect_column_values_to_not_be_null"


def _missing(
    tree: Tree,
    nodes: Sequence[Node],
    sources: Sequence[str],
    days: Sequence[str],
    folders: dict[str, str],
) -> Problem:
    names = joined([source_name(tree, s) for s in sources])
    return Problem(
        _("No {source} data for {days}: {kpis} have no value on that day.").format(
            source=names, days=_span(days), kpis=joined([kpi_name(n) for n in nodes])
        ),
        _(
            "The {source} file of that day is missing or empty (landing folder {folder}): "
            "deliver it, then run {command}."
        ).format(source=names, folder=_folders(sources, folders), command=_rerun(days)),
        absent=tuple(days),
    )


def problems(
    failures: Sequence[Failure],
    tree: Tree,
    vocabulary: Vocabulary,
    formats: Formats,
    folders: dict[str, str],
    start: dt.date,
    end: dt.date,
) -> list[Problem]:
    """Every failure in words, the same words said once; KPIs without a value because one
    source is missing on the same days are one problem (the missing file), not one each."""
    out: list[Problem] = []
    missing: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Node]] = {}
    for failure in failures:
        node, part = _column_node(tree, failure.column)
        if _is_missing_value(failure) and node:
            key = (_sources(tree, node, part), tuple(_days(failure.examples)))
            if node not in missing.setdefault(key, []):
                missing[key].append(node)
            continue
        try:
            problem = describe(failure, tree, vocabulary, formats, folders, start, end)
        except Exception:  # noqa: BLE001 - a notice must go out even when its words fail
            problem = _as_checked(failure)
        if problem not in out:
            out.append(problem)
    grouped = [_missing(tree, nodes, s, d, folders) for (s, d), nodes in missing.items()]
    refused = {key for p in out for key in p.refused}
    out = [p for p in out if not p.gaps or not set(p.gaps) <= refused]
    return _said_once(grouped + out)


def _said_once(found: list[Problem]) -> list[Problem]:
    """``found`` without what another problem already says: on a day with no data at all (a
    night nothing was delivered for), the gate also finds the newest day empty and every
    regular member absent, and each would be one more bullet saying the same day is missing.
    The days without any data come first."""
    empty = {day for p in found if p.whole for day in p.absent}
    kept = [p for p in found if p.whole or not p.absent or not set(p.absent) <= empty]
    return sorted(kept, key=lambda p: not p.whole)
