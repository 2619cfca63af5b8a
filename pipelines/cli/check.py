"""`kpi check SOURCE FILE`: would this file load, and if not, everything that is wrong with it.

It runs the source's mapping (kpi.yaml, or ``--preset``) and contract over the file as a run
would, and reports every problem at once (:mod:`pipelines.ingest.examine`): the encoding,
missing columns, dates in another format (with the formats that would parse them), values
outside their lists (with a value map to start from), the share of bad rows and the top
reasons. It writes nothing: no warehouse, no ledger. Exit status 1 when the file would not
load.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from pipelines.cli.console import console, fail
from pipelines.i18n import N_, _, ngettext
from pipelines.settings import ConfigError, SourceConfig, load_settings, source_config

OK, NOT_OK = "[green]✓[/green]", "[red]✗[/red]"
# marked here: Babel's extractor does not see a call inside an f-string (Python 3.11)
WOULD_NOT_LOAD = N_("The file would not load.")


def source_with_preset(source: str, preset: str, base: SourceConfig) -> SourceConfig:
    """``source`` as ``preset`` describes it in this shop: its time zone as kpi.yaml declares
    it, unless the preset declares one (neither: the business zone), and the shop's
    members."""
    from pipelines.ingest.mapping import presets

    section: dict = {"preset": preset}
    declared = presets().get(preset)
    own_zone = declared is not None and "timezone" in declared.sources.get(source, {})
    if base.timezone_declared and base.timezone is not None and not own_zone:
        section["timezone"] = base.timezone
    try:
        conf = source_config(source, section, base.business_timezone)
    except ConfigError as err:
        raise ConfigError(f"--preset {preset}: {err}") from None
    return replace(conf, members=base.members)


def check(
    source: Annotated[str, typer.Argument(help="The source the file is for: orders, ad_spend, …")],
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="The export file to check.")
    ],
    preset: Annotated[
        str | None,
        typer.Option(help="Check it as this preset describes it, not as kpi.yaml maps it."),
    ] = None,
) -> None:
    """Check one file against its source's mapping and contract: every problem at once,
    writing nothing. Exit status 1 when it would not load."""
    # pandera and polars: imported by this command, not by every `kpi` command
    from pipelines.ingest.contracts import SOURCES
    from pipelines.ingest.examine import examine_file
    from pipelines.ingest.validate import SchemaMismatch

    if source not in SOURCES:
        raise fail(
            _("Unknown source {source!r}: one of {sources}.").format(
                source=source, sources=", ".join(SOURCES)
            )
        )
    settings = load_settings()
    conf = settings.source(source)
    if preset is not None:
        conf = source_with_preset(source, preset, conf)
    _say(f"[bold]kpi check {source} {escape(str(file))}[/bold]", hang=4)
    _say(
        escape(_("Mapping: {mapping}").format(mapping=_described(source, conf, settings, preset))),
        hang=4,
    )
    try:
        found = examine_file(
            file, source, conf, settings.business_timezone, settings.bad_row_threshold
        )
    except SchemaMismatch as err:
        _say(f"{NOT_OK} {escape(str(err))}", hang=2)
        _say(f"{NOT_OK} [bold]{escape(_(WOULD_NOT_LOAD))}[/bold]")
        raise typer.Exit(1) from None
    _report(found)
    if not found.would_load:
        raise typer.Exit(1)


def _described(source: str, conf: SourceConfig, settings, preset: str | None) -> str:
    mapping = conf.mapping
    named = mapping.preset if mapping is not None else None
    if preset is not None:
        return _("the preset {preset} (--preset)").format(preset=preset)
    where = str(settings.config_file) if settings.config_file else _("no kpi.yaml")
    if named:
        return _("sources.{source} in {where}, preset {preset}").format(
            source=source, where=where, preset=named
        )
    if mapping is not None and (mapping.needs_mapping or mapping.columns):
        return _("sources.{source} in {where}").format(source=source, where=where)
    return _("none ({where} maps {source}): the contract's own column names").format(
        where=where, source=source
    )


def _label(found, column: str) -> str:
    theirs = found.origin.get(column)
    return column if not theirs or theirs == column else f"{column} ({theirs})"


#: the width the report wraps at: readable in an 80-column terminal and in a log
WIDTH = 80


def _say(text: str, level: int = 0, hang: int = 0) -> None:
    """A paragraph wrapped at :data:`WIDTH` (or the terminal's, if narrower), indented by
    ``level``, its later lines by ``level + hang``; ``text`` is rich markup."""
    width = min(WIDTH, console.width)
    for paragraph in Text.from_markup(text).split("\n", allow_blank=True):
        wrapped = paragraph.wrap(console, width - level - hang) if paragraph.plain else [paragraph]
        for i, line in enumerate(wrapped):
            line.rstrip()
            out = Text(" " * (level if i == 0 else level + hang))
            out.append_text(line)
            console.print(out, highlight=False, soft_wrap=True)


def _report(found) -> None:
    from pipelines.ingest.validate import zone_notice

    extra = []
    if found.rows_skipped:
        extra.append(_("{n} left out by skip").format(n=f"{found.rows_skipped:,}"))
    if found.rows_repeated:
        extra.append(
            _("{n} further rows of a key (first_row_per)").format(n=f"{found.rows_repeated:,}")
        )
    tail = f"; {_(', ').join(extra)}" if extra else ""
    _say(
        escape(
            _("Read {n} rows in {seconds} s{more}.").format(
                n=f"{found.rows_read:,}", seconds=f"{found.seconds:.1f}", more=tail
            )
        )
    )
    if found.problems:
        _problems(found)
    if found.outside:
        _say("\n" + escape(_("Values outside their lists (map them with `values:`):")))
        for outside in found.outside:
            counted = ", ".join(f"{v!r} ×{n:,}" for v, n, _ in outside.values)
            more = " " + _("and {n} more").format(n=outside.more) if outside.more else ""
            _say(f"{escape(_label(found, outside.column))}: {escape(counted)}{more}", 2, hang=2)
            _say(escape(outside.value_map(found.source)), 4)
    above = found.share > found.threshold
    rows = (
        _("Rows: {bad} of {checked} bad ({share}, above the {threshold} threshold)")
        if above
        else _("Rows: {bad} of {checked} bad ({share}, within the {threshold} threshold)")
    ).format(
        bad=f"{found.rows_bad:,}",
        checked=f"{found.rows_checked:,}",
        share=f"{found.share:.1%}",
        threshold=f"{found.threshold:.1%}",
    )
    if found.problems:
        rows += " " + _("besides the problems above")
    _say(f"\n{NOT_OK if above else OK} {escape(rows)}")
    for reason, n in found.reasons:
        _say(f"{escape(reason)}: {n:,}", 2)
    if found.absent_optional:
        _say(
            escape(
                _("Optional columns the file does not have (null in every row): {columns}").format(
                    columns=_(", ").join(found.absent_optional)
                )
            )
        )
    if found.zone_assumed:
        _say(
            escape(
                _("{notice}.").format(
                    notice=zone_notice(found.source, found.zone_assumed, found.zone)
                )
            )
        )
    if found.would_load:
        _say(
            f"\n{OK} "
            + escape(
                _("The file would load: {rows} rows, {bad} quarantined.").format(
                    rows=f"{found.rows_loaded:,}", bad=f"{found.rows_bad:,}"
                )
            )
        )
    else:
        _say(f"\n{NOT_OK} [bold]{escape(_(WOULD_NOT_LOAD))}[/bold]")


def _problems(found) -> None:
    """The problems that keep the file from loading: the missing columns together, the
    others one by one."""
    missing = [p for p in found.problems if p.kind == "missing"]
    items = []
    for problem in found.problems:
        if problem.kind == "missing":
            continue
        if problem.column == "*":
            where = _("the file")
        elif problem.file_column:
            where = f"{problem.column} ({problem.file_column})"
        else:
            where = _label(found, problem.column)
        items.append(
            _("{where}: {problem}").format(
                where=f"[bold]{escape(where)}[/bold]", problem=escape(problem.problem)
            )
        )
    if missing:
        source = found.source
        names = [p.column for p in missing]
        from pipelines.ingest.contracts import SOURCE_SPECS

        keys = [c for c in names if c in SOURCE_SPECS[source].key]
        ids = (
            _(", or make an id (sources.{source}.ids.{key})").format(source=source, key=keys[0])
            if keys
            else ""
        )
        has = _(", ").join(repr(c) for c in found.file_columns)
        items.append(
            escape(
                _(
                    "missing columns: {columns}. The file has {has}: map one of them to each "
                    "(sources.{source}.columns), give every row a value "
                    "(sources.{source}.constants){ids}."
                ).format(columns=_(", ").join(names), has=has, source=source, ids=ids)
            )
        )
    n = len(items)
    heading = ngettext(
        "{n} problem keeps the file from loading:", "{n} problems keep the file from loading:", n
    ).format(n=n)
    _say(f"\n{NOT_OK} [bold]{escape(heading)}[/bold]")
    for i, item in enumerate(items, start=1):
        _say(f"{i}. {item}", 2, hang=3)
