"""Run a unit's suites with Great Expectations and keep the verdict where publishing reads it.

The GX file context lives beside the warehouse (``<data dir>/warehouse/quality/gx``), so its
validation results and data docs (HTML) accumulate run after run next to the data they judge;
the suites themselves are code (:mod:`expectations.suites`), validated on each frame's batch
as they are and not saved in the context (no checkpoint: a unit's frames are one run). GX
is handed pandas frames (it cannot read polars or DuckDB reliably). The pages load nothing
from the network (:mod:`expectations.offline`), and a verdict names its report by its path
relative to the data directory.

The verdict of each unit is written as JSON (:mod:`expectations.verdict`): the publish step
reads it itself and publishes only a passing verdict of its own run.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import urllib.parse
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from expectations import gx as import_gx
from expectations.offline import localise
from expectations.suites import Gate
from expectations.verdict import Failure, Verdict, quality_dir, write_verdict
from kpi_tree.units import SHARED_UNIT

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


#: one GX file context per project folder and process: opening one reads and validates its
#: YAML and stores, and a night's six gates share the same folder
_CONTEXTS: dict[Path, Any] = {}

SITE = "local_site"
#: results the data-docs index lists, newest first: about ten nights of a night's 30 validated
#: frames. The index is rendered from every result it lists, read back from the store, so its
#: cost grows with the results kept; the older pages stay on disk, linked from their verdicts
#: and the publication log, until pruned.
INDEX_RESULTS = 300


#: the views that draw the pages: GX's, compiling its templates once a process
#: (:mod:`expectations.pages`; named, not imported: importing it imports GX)
PAGE_VIEW = {"module_name": "expectations.pages", "class_name": "PageView"}
INDEX_VIEW = {"module_name": "expectations.pages", "class_name": "IndexPageView"}


def _site_config(site: dict) -> dict:
    """The data-docs site as the gates want it: the index limited to :data:`INDEX_RESULTS`,
    no profiling section (nothing is profiled; each build listed the results store once more
    for it), no how-to buttons on pages meant for the teams, and the pages drawn by
    :mod:`expectations.pages`' views."""
    return {
        **site,
        "show_how_to_buttons": False,
        "site_index_builder": {
            "class_name": "DefaultSiteIndexBuilder",
            "validation_results_limit": INDEX_RESULTS,
            "view": INDEX_VIEW,
        },
        "site_section_builders": {"profiling": "None", "validations": {"view": PAGE_VIEW}},
    }


def _drop_empty_config_variables(gx_dir: Path) -> None:
    """Delete GX's scaffolded ``uncommitted/config_variables.yml`` when it defines nothing.

    GX reads and parses that file every time it reads one of the context's settings: over a
    thousand times in a night's gates. The gates use no config variables;
    the scaffold holds only comments and GX's ``instance_id`` (an id for its usage analytics,
    which are off; without the file GX makes one up per process). A file that defines anything
    else is left alone.
    """
    path = gx_dir / "uncommitted" / "config_variables.yml"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    defined = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if all(line.startswith("instance_id:") for line in defined):
        path.unlink(missing_ok=True)


def _context(root: Path):
    gx = import_gx()

    root = root.resolve()
    if root in _CONTEXTS and (root / "gx" / "great_expectations.yml").exists():
        return _CONTEXTS[root]
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    _drop_empty_config_variables(root / "gx")
    try:
        if (context.variables.progress_bars or {}).get("globally") is not False:
            # saved once: rewriting the context's YAML on every run costs a second
            context.variables.progress_bars = {"globally": False}
            context.variables.save()
    except Exception:  # pragma: no cover - progress bars are cosmetic
        pass
    site = dict((context.variables.data_docs_sites or {}).get(SITE) or {})
    if site and site != _site_config(site):  # saved once, like the progress bars
        context.update_data_docs_site(SITE, _site_config(site))
    _CONTEXTS[root] = context
    return context


INDEX_COLUMNS = ("grain", "period_start", "dimension", "member")

#: validation results (and their data-docs pages) kept per suite: the newest runs only, so the
#: store and the docs index GX rebuilds every night do not grow with the years
KEEP_RUNS = 90


def index_rebuilt(unit: str, success: bool) -> bool:
    """Whether a gate rebuilds the data-docs index (the list of every kept run).

    The index is re-rendered from every stored result, a cost that grows with the nights
    kept: too much for every gate of every night. It is rebuilt by the shared
    unit's gate, which runs after the team gates (it checks the pace tables, built last), so
    once a night with the night's results in it, and by any failing gate, so a held-back unit's
    report is listed at once. Each verdict links its own page whatever the index holds.
    """
    return unit == SHARED_UNIT or not success


def _prune(gx_root: Path, suite: str, keep: int) -> int:
    """Delete all but the newest ``keep`` runs of ``suite`` (results and pages); how many."""
    uncommitted = gx_root / "gx" / "uncommitted"
    stores = [uncommitted / "validations", uncommitted / "data_docs" / SITE / "validations"]
    suite_dir = Path(*suite.split("."))
    # <store>/<suite as folders>/<run name>/<run time>/<batch>.(json|html); run times sort
    runs = sorted(
        (p.name, p.relative_to(stores[0] / suite_dir))
        for p in (stores[0] / suite_dir).glob("*/*")
        if p.is_dir()
    )
    old = runs[: max(0, len(runs) - keep)]
    for _, rel in old:
        for store in stores:
            shutil.rmtree(store / suite_dir / rel, ignore_errors=True)
    return len(old)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):  # dates, datetimes, pandas timestamps
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and value != value:
        return None  # NaN
    return value


def _example(row: dict) -> str:
    """One failing row, located by its key: '2025-10-23 total: sessions=None'."""
    row = _jsonable(row)
    where = " ".join(
        str(row.pop(c)) for c in ("period_start", "grain") if c in row and row[c] is not None
    )
    dim, member = row.pop("dimension", None), row.pop("member", None)
    if dim and dim != "total":
        where += f" {dim}={member}"
    values = ", ".join(f"{k}={v}" for k, v in row.items())
    return f"{where}: {values}" if where else values


def _page(context: Any, resource: Any) -> Path | None:
    """The data-docs page of a validation result (None: the site's index) on disk."""
    sites = (
        context.get_docs_sites_urls(resource_identifier=resource)
        if resource is not None
        else context.get_docs_sites_urls()
    )
    url = sites[0].get("site_url") if sites else None
    if not url or not url.startswith("file://"):
        return None
    return Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))


def _relative(page: Path, data_dir: Path) -> str:
    """A report as the verdict and the publication log keep it: relative to the data
    directory, so it stays right when the data moves (pipelines/links.py makes it a link)."""
    try:
        return page.resolve().relative_to(data_dir.resolve()).as_posix()
    except ValueError:
        return page.resolve().as_uri()


def _batch_name(frame: str) -> str:
    return f"{frame}_whole"


def _unit_source(context: Any, unit: str, frames: Sequence[str]) -> Any:
    """The unit's pandas data source, with a data frame asset and a whole-frame batch
    definition for each of ``frames``.

    GX writes the context's YAML (every data source in it) whenever an asset or a batch
    definition is added one at a time: a new data dir's first gates added some 35 of each,
    70 rewrites of a growing file, more than the validations took. Whatever is missing is
    added in one write, the assets already there kept by name; a data source that has
    them all is used as it is, without a write.
    """
    name = f"unit_{unit}"
    try:
        source = context.data_sources.get(name)
    except KeyError:
        source = None
    have: dict[str, set[str]] = {}
    for asset in getattr(source, "assets", None) or []:
        have[asset.name] = {b.name for b in asset.batch_definitions}
    if all(_batch_name(f) in have.get(f, ()) for f in frames) and (source or not frames):
        return source
    wanted = list(have) + [f for f in frames if f not in have]
    return context.data_sources.add_or_update_pandas(
        name=name,
        assets=[
            {
                "name": frame,
                "type": "dataframe",
                "batch_definitions": [
                    {"name": batch, "partitioner": None}
                    for batch in sorted(have.get(frame, set()) | {_batch_name(frame)})
                ],
            }
            for frame in wanted
        ],
    )


def run_gate(
    gate: Gate,
    warehouse_dir: Path,
    run_id: str,
    start: dt.date,
    end: dt.date,
    known_failures: Sequence[Failure] = (),
) -> Verdict:
    """Validate every frame of ``gate``, write data docs and the verdict, return it.

    ``known_failures`` are failures found before the suites ran (dbt's tests of the tables the
    unit is built from): the verdict lists them first and fails with them."""
    gx = import_gx()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = _context(quality_dir(warehouse_dir) / "gx")
    judged = [name for name in gate.frames if gate.expectations.get(name)]
    source = _unit_source(context, gate.unit, judged)
    failures: list[Failure] = list(known_failures)
    evaluated = 0
    # one run for the unit: its frames' results share a run time (one folder per run)
    run = RunIdentifier(run_time=dt.datetime.now(dt.UTC))
    results = context.validation_results_store
    suites: list[str] = []
    report = None
    validated: dict = {}  # each result's identifier -> its frame
    for frame_name in judged:
        frame = gate.frames[frame_name]
        # the suite is code, rebuilt every run: validated on the batch and its result stored
        # for the data docs, with no suite, validation definition or checkpoint saved (each
        # save rewrote the context's files and each run read them back)
        suite = gx.ExpectationSuite(
            name=f"{gate.unit}.{frame_name}", expectations=gate.expectations[frame_name]
        )
        suites.append(suite.name)
        batch = (
            source.get_asset(frame_name)
            .get_batch_definition(_batch_name(frame_name))
            .get_batch(batch_parameters={"dataframe": frame})
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = batch.validate(
                suite,
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": [
                        c for c in INDEX_COLUMNS if c in frame.columns
                    ],
                    "partial_unexpected_count": 5,
                },
            )
        result.meta.update(run_id=run, validation_time=run.run_time)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
            run_id=run,
            batch_identifier=result.batch_id,
        )
        results.set(key, result)
        validated[key] = frame_name
        for r in result.results:
            evaluated += 1
            if r.success:
                continue
            config = r.expectation_config
            kwargs = config.kwargs
            if kwargs.get("column_A"):
                op = "<=" if kwargs.get("or_equal") else "<"
                column = f"{kwargs['column_B']} {op} {kwargs['column_A']}"
            elif kwargs.get("column_list"):
                column = ",".join(kwargs["column_list"])
            else:
                column = kwargs.get("column")
            res = r.result or {}
            located = res.get("partial_unexpected_index_list") or []
            if located and isinstance(located[0], dict):
                examples = [_example(dict(row)) for row in located[:5]]
            else:
                examples = res.get("partial_unexpected_list") or []
            if not examples and res.get("observed_value") is not None:
                # none observed (an empty frame) is no example: never "e.g. None"
                examples = [res["observed_value"]]
            failures.append(
                Failure(
                    frame=frame_name,
                    expectation=config.type,
                    column=column,
                    unexpected_count=res.get("unexpected_count"),
                    examples=[e if isinstance(e, str) else _jsonable(e) for e in examples[:5]],
                )
            )
    for name in suites:
        _prune(quality_dir(warehouse_dir) / "gx", name, KEEP_RUNS)
    if validated:
        # this run's pages, built once for the unit (per frame it cost a second each); the
        # index only when it is worth its cost (see `index_rebuilt`)
        with_index = index_rebuilt(gate.unit, success=not failures)
        context.build_data_docs(resource_identifiers=list(validated), build_index=with_index)
        pages = {key: _page(context, key) for key in validated}
        site = _page(context, None)
        if site is not None:
            # nothing fetched from a CDN: the pages open offline (expectations/offline.py)
            built = [p for p in pages.values() if p is not None]
            localise(site.parent, built + ([site] if with_index else []))
        # the report is the unit's page for this run: its first failing frame, else its first
        failing = {f.frame for f in failures}
        first = next(iter(validated))
        shown = next((key for key, frame in validated.items() if frame in failing), first)
        if pages.get(shown) is not None:
            report = _relative(pages[shown], warehouse_dir.parent)
    verdict = Verdict(
        unit=gate.unit,
        run_id=run_id,
        start=start.isoformat(),
        end=end.isoformat(),
        success=not failures,
        evaluated=evaluated,
        failures=failures,
        report=report,
        checked_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        not_available={k: a.reason() or "" for k, a in gate.not_available.items()},
        # a known failure (a dbt test) holds the unit back even when it has nothing to judge
        skipped=gate.skipped and not failures,
    )
    write_verdict(warehouse_dir, verdict)
    return verdict
