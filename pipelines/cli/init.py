"""`kpi init [FILES]`: a first, commented kpi.yaml from the shop's own exports.

It looks at the newest file of each landing folder (or at the files given), guesses which
platform's export each one is (the preset whose columns it has, :mod:`pipelines.ingest.guess`)
or else which source it is and which of its columns are ours, says what it guessed and why,
and writes a kpi.yaml to edit. An existing file is replaced only with ``--force``; the file
written is checked as `kpi` reads it.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from pipelines.alerts.words import joined
from pipelines.cli.console import console, err_console, fail
from pipelines.i18n import N_, _
from pipelines.settings import (
    DEFAULT_CONFIG_FILE,
    ConfigError,
    load_settings,
    read_config,
    source_config,
)

#: a source's grain other than a day, as a guess says it ("its rows start a week apart")
GRAIN = {"week": N_("week"), "month": N_("month")}


@dataclass
class SourceGuess:
    """What one source's section of the kpi.yaml written will say, and why."""

    source: str
    file: Path
    preset: str | None = None
    why: str = ""
    #: without a preset: the file's columns by ours, and the file's other names
    columns: dict[str, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    folder: str | None = None  # read from another source's folder
    grain: str = "day"
    dates: dict[str, str] = field(default_factory=dict)  # our column -> its format


def _newest(folder: Path) -> Path | None:
    from pipelines.ingest.validate import READERS

    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in READERS]
    return max(files, key=lambda p: (p.stat().st_mtime_ns, p.name)) if files else None


def _preset_grain(path: Path, source: str, preset: str) -> str:
    """The grain of a report read by ``preset``: from the dates its rows start on."""
    from pipelines.ingest.contracts import SOURCE_SPECS
    from pipelines.ingest.guess import guess_grain
    from pipelines.ingest.mapping import spreadable
    from pipelines.ingest.validate import SchemaMismatch, validate_file

    spec = SOURCE_SPECS[source]
    if not spreadable(spec) or spec.business_date is None:
        return "day"
    try:
        conf = source_config(source, {"preset": preset}, "UTC")  # only its dates are read
        checked = validate_file(path, source, conf, "UTC")
    except (SchemaMismatch, ConfigError, OSError):
        return "day"
    return guess_grain(checked.good[spec.business_date])


def _date_formats(path: Path, guess: SourceGuess) -> dict[str, str]:
    """Formats for the guessed date columns the contract's parser does not read."""
    from pipelines.ingest.contracts import SOURCE_SPECS, Timestamp
    from pipelines.ingest.guess import guess_formats
    from pipelines.ingest.mapping import read_csv_text
    from pipelines.ingest.validate import parse_frame

    if path.suffix.lower() != ".csv":
        return {}
    dtypes = SOURCE_SPECS[guess.source].dtypes
    dated = {t: o for t, o in guess.columns.items() if dtypes[o] in (Timestamp, pl.Date)}
    if not dated:
        return {}
    frame = read_csv_text(path, guess.encoding, ragged=True)
    frame = frame.rename({c: c.strip() for c in frame.columns})
    out = {}
    for theirs, ours in dated.items():
        values = frame[theirs].rename(ours)
        probe = pl.DataFrame({c: pl.Series([None] * len(values), dtype=pl.String) for c in dtypes})
        probe = probe.with_columns(values)
        typed, _bad = parse_frame(
            probe.select(list(dtypes)), guess.source, "UTC", path.name, problems=[]
        )
        if typed[ours].null_count() > values.null_count():  # ISO 8601 does not read them
            fmt = guess_formats(values, dtypes[ours])
            if fmt:
                out[ours] = fmt
    return out


def guess_file(path: Path, sources: list[str] | None = None) -> list[SourceGuess]:
    """The sources ``path`` gives, by preset, or else the one source it looks like."""
    from pipelines.ingest.guess import file_headers, guess_source, preset_fits
    from pipelines.ingest.mapping import presets

    headers = file_headers(path)
    fits = preset_fits(headers.names, sources)
    if fits:
        best = fits[0]
        # one export may feed several sources: every source of the best preset it fits
        chosen = [f for f in fits if f.preset == best.preset and f.share == best.share]
        out = []
        for fit in chosen:
            title = presets()[fit.preset].title
            shown = joined(fit.found[:4]) + (_(", ") + "…" if len(fit.found) > 4 else "")
            why = _(
                "{title}: it has {found} of the {wanted} columns the preset reads ({shown})"
            ).format(title=title, found=len(fit.found), wanted=len(fit.wanted), shown=shown)
            if fit.missing:
                why += _("; not {columns}").format(columns=joined(fit.missing))
            guess = SourceGuess(fit.source, path, fit.preset, why, folder=fit.folder)
            guess.grain = _preset_grain(path, fit.source, fit.preset)
            if guess.grain != "day":
                guess.why += _("; its rows start a {grain} apart").format(
                    grain=_(GRAIN.get(guess.grain, guess.grain))
                )
            out.append(guess)
        return out
    guess = guess_source(headers.names, sources)
    if guess is None:
        return []
    matched = joined([f"{t} -> {o}" for t, o in list(guess.columns.items())[:4]])
    found = SourceGuess(
        guess.source,
        path,
        why=_("no preset fits; its columns look like the {source} source's ({matched})").format(
            source=guess.source, matched=matched
        ),
        columns=guess.columns,
        unmatched=guess.unmatched,
        missing=guess.missing,
        encoding=headers.encoding,
    )
    found.dates = _date_formats(path, found)
    return [found]


def _yaml_text(value: str) -> str:
    plain = value and value.strip() == value and not any(c in value for c in ":#'\"{}[],&*!|>%@`")
    return value if plain and not value[0].isdigit() else '"' + value.replace('"', '\\"') + '"'


def _comment(text: str, indent: int) -> list[str]:
    pad = " " * indent
    return textwrap.wrap(text, width=88, initial_indent=f"{pad}# ", subsequent_indent=f"{pad}#   ")


def config_text(guesses: list[SourceGuess], landing: Path | None) -> str:
    """The kpi.yaml written: the sources guessed, each with a comment saying why."""
    from pipelines.ingest.contracts import SOURCE_SPECS, SOURCES
    from pipelines.ingest.mapping import presets

    # the comments in the shop's language (the CLI's): the person who edits the file reads them
    lines = [
        *_comment(
            _(
                "kpi.yaml written by `kpi init` on {day}: edit it, then check each source's "
                "files with `kpi check SOURCE FILE` (docs/bring-your-own-data.md)."
            ).format(day=dt.date.today().isoformat()),
            0,
        ),
        "# business_timezone: Asia/Shanghai  # "
        + _("the shop's time zone: days are business days in it"),
        "sources:",
    ]
    by_source = {g.source: g for g in guesses}
    for source in SOURCES:
        guess = by_source.get(source)
        if guess is None:
            continue
        where = guess.file.name
        if landing is not None and guess.file.is_relative_to(landing):
            where = "landing/" + guess.file.relative_to(landing).as_posix()
        lines.append(f"  {source}:")
        lines += _comment(f"{where}: {guess.why}", 4)
        if guess.preset is not None:
            lines.append(f"    preset: {guess.preset}  # {presets()[guess.preset].title}")
            if guess.folder:
                lines.append(
                    "    # "
                    + _("its files are read from landing/{folder}/ (the preset)").format(
                        folder=guess.folder
                    )
                )
            if guess.grain != "day":
                lines.append(
                    f"    grain: {guess.grain}  # "
                    + _("each row is a {grain} from its date").format(
                        grain=_(GRAIN.get(guess.grain, guess.grain))
                    )
                )
            elif source in _spreadable():
                lines.append(
                    "    # grain: week  # "
                    + _("when each row is a {grain} from its date").format(grain=_(GRAIN["week"]))
                )
            continue
        if guess.encoding not in ("utf-8", "utf_8", "ascii"):
            lines.append(f"    encoding: {guess.encoding}  # " + _("what the file's bytes read as"))
        lines.append("    columns:  # " + _("the file's name: ours (guessed by name: check them)"))
        for theirs, ours in guess.columns.items():
            lines.append(f"      {_yaml_text(theirs)}: {ours}")
        for theirs in guess.unmatched:
            lines.append(f"      # {_yaml_text(theirs)}:  " + _("(not one of ours)"))
        if guess.dates:
            lines.append("    dates:  # " + _("formats the dates are written in"))
            lines += [f"      {ours}: '{fmt}'" for ours, fmt in guess.dates.items()]
        if SOURCE_SPECS[source].timestamp_columns:
            lines.append(
                "    # timezone: UTC  # "
                + _("of times written without an offset (default: business_timezone)")
            )
        if guess.missing:
            key = SOURCE_SPECS[source].key
            lines += _comment(
                _(
                    "still needed: {columns}. Give each a value every row has (constants), or "
                    "map a column to it (columns)"
                ).format(columns=joined(guess.missing))
                + (
                    _("; an id may be made (ids: {{{key}: row}})").format(key=key[0])
                    if key[0] in guess.missing
                    else ""
                ),
                4,
            )
            dtypes = SOURCE_SPECS[source].dtypes
            for column in guess.missing:
                if column == key[0]:
                    lines.append(f"    # ids: {{{column}: row}}  # " + _("from each row's content"))
                elif dtypes[column] == pl.String:  # a member every row has, e.g. one channel
                    lines.append(f"    # constants: {{{column}: ...}}")
    return "\n".join(lines) + "\n"


def _spreadable() -> set[str]:
    from pipelines.ingest.contracts import SOURCE_SPECS
    from pipelines.ingest.mapping import spreadable

    return {s for s, spec in SOURCE_SPECS.items() if spreadable(spec)}


def init(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="Export files to look at (default: the newest file of each landing folder).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the config.")] = Path(
        DEFAULT_CONFIG_FILE
    ),
    force: Annotated[bool, typer.Option(help="Replace the file if it exists.")] = False,
) -> None:
    """Write a first, commented kpi.yaml from the shop's exports: the preset each file looks
    like, or its columns guessed by name. Says what it guessed and why."""
    from pipelines.ingest.contracts import SOURCES

    if out.exists() and not force:
        raise fail(
            _("{file} exists: edit it, or run again with --force to replace it.").format(file=out),
            1,
        )
    settings = load_settings()
    landing: Path | None = None
    looked: list[Path] = []
    if files:
        looked = list(files)
    else:
        landing = settings.landing_dir
        for source in SOURCES:
            folder = landing / source
            newest = _newest(folder) if folder.is_dir() else None
            if newest is not None:
                looked.append(newest)
        if not looked:
            raise fail(
                _(
                    "No export files under {folder}: put each source's files in "
                    "landing/<source>/, or name the files: kpi init FILE…"
                ).format(folder=landing)
            )
    guesses: list[SourceGuess] = []
    table = Table(
        _("file"), _("source"), _("guess"), title=_("What kpi init guessed"), show_lines=True
    )
    for path in looked:
        try:
            found = guess_file(path, None)
        except (ValueError, OSError) as err:
            table.add_row(escape(path.name), "-", escape(_("not read: {error}").format(error=err)))
            continue
        if not found:
            table.add_row(
                escape(path.name), "-", escape(_("no preset and no source fits its columns"))
            )
        for guess in found:
            first = next((g for g in guesses if g.source == guess.source), None)
            if first is not None:  # the first file of a source wins
                table.add_row(
                    escape(path.name),
                    guess.source,
                    escape(_("left out: {file} is first").format(file=first.file.name)),
                )
                continue
            guesses.append(guess)
            table.add_row(escape(path.name), guess.source, escape(guess.why))
    console.print(table)
    if not guesses:
        raise fail(_("Nothing guessed: nothing written."), 1)
    text = config_text(guesses, landing)
    out.write_text(text, encoding="utf-8")
    try:
        read_config(out)
    except ConfigError as err:  # a guess the config does not take: say so, keep the file
        err_console.print(
            "[red]" + escape(_("{file} needs editing before use:").format(file=out)) + "[/red]",
            highlight=False,
        )
        err_console.print(escape(str(err)), highlight=False)
        raise typer.Exit(1) from None
    console.print(
        escape(
            _(
                "Wrote {file}: edit it, then run `kpi check SOURCE FILE` on each source's files."
            ).format(file=out)
        ),
        highlight=False,
    )
