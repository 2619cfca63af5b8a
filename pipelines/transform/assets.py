"""The KPI tree, built by dbt: every model an asset, every dbt test an asset check."""

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import chdir, nullcontext
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from pipelines.fastpaths import DbtFastPaths
from pipelines.ingest.contracts import SOURCES
from pipelines.partitions import RunWindow, run_window
from pipelines.resources import WAREHOUSE_POOL, Warehouse
from pipelines.transform.in_process import environment_set
from pipelines.transform.project import (
    dbt_executable,
    dbt_project,
    dbt_vars,
    kept_partial_parse,
    profile_env,
)
from pipelines.transform.spark_read_back import read_back


class KpiTranslator(DagsterDbtTranslator):
    """Groups by dbt layer (staging, intermediate, marts) so the graph reads top-down."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props.get("resource_type") == "source":
            return None
        fqn = dbt_resource_props.get("fqn") or []
        return fqn[1] if len(fqn) > 2 else "dbt"


class KpiDbtCliResource(DbtFastPaths, DbtCliResource):
    """dagster-dbt's resource, with the fast paths of :mod:`pipelines.fastpaths` (on unless
    ``KPI_FASTPATHS`` turns them off): the dbt installed beside this interpreter runs in this
    process, without being started to ask its version, and without an adapter handle."""

    def runs_in_this_process(self) -> bool:
        """Whether its invocations run dbt in this process (else as a `dbt` subprocess)."""
        return self._fast()


def window_env(window: RunWindow, raw_rows: int | None = None) -> dict[str, str]:
    """The run's business window (:func:`~pipelines.partitions.run_window`, inclusive dates)
    and its as-of date (``KPI_AS_OF``: what is still maturing is judged from it) for dbt, as
    environment variables read by macros/kpi/window.sql when each node runs (not `--vars`:
    those force a full re-parse), with how dbt runs over it
    (:func:`dbt_window_env`; ``raw_rows``: the rows of the warehouse's raw tables)."""
    return {
        "KPI_WINDOW_START": window.start.isoformat(),
        "KPI_WINDOW_END": window.end.isoformat(),
        **({"KPI_AS_OF": window.as_of.isoformat()} if window.as_of else {}),
        **dbt_window_env(window.start, window.end, raw_rows),
    }


#: over a window of at most this many days (a night, or a catch-up of up to a month) dbt
#: runs two nodes at a time and keeps one DuckDB connection for its whole invocation
#: (dbt-duckdb's `keep_open`); closed whenever no node holds it, the warehouse is
#: checkpointed and opened again between every two nodes, for nothing in a night's small nodes.
#: Over a longer window (a first build, a backfill) dbt runs one node at a time and closes
#: the warehouse between nodes: there the big models' queries each need the whole memory
#: limit, and two of them side by side spill (slower than one after the other), or run out of
#: memory with the connection kept open.
SHORT_WINDOW_DAYS = 31
#: a longer window over a warehouse whose raw tables hold at most this many rows (a small
#: shop's first build: two years at 200 orders a day are about 2.2 million) runs as a short
#: one: there even the big models' queries over all of its history fit in the memory limit
#: side by side (the first build's key ranges start at 5 million rows, macros/kpi/
#: build_ranges.sql), and closing and checkpointing the warehouse between every two of its
#: many small nodes is what the build would spend its time on
SMALL_WAREHOUSE_ROWS = 5_000_000


def dbt_window_env(start: dt.date, end: dt.date, raw_rows: int | None = None) -> dict[str, str]:
    """`KPI_DBT_THREADS` and `KPI_DBT_KEEP_OPEN` (read by profiles.yml) for the window
    start..end (inclusive) over a warehouse of ``raw_rows`` raw rows (None: not known, the
    window decides alone)."""
    short = (end - start).days + 1 <= SHORT_WINDOW_DAYS or (
        raw_rows is not None and raw_rows <= SMALL_WAREHOUSE_ROWS
    )
    return {
        "KPI_DBT_THREADS": "2" if short else "1",
        "KPI_DBT_KEEP_OPEN": "true" if short else "false",
    }


#: the targets-in-force and pace models (dbt tag `targets`) read the plan versions the
#: targets asset loads after the KPI tree is built, so they are a second dbt step
TARGET_MODELS = "tag:targets"


def _keep_partial_parse(target_path: Path) -> None:
    """Leave this run's parse where the next run's dbt will look for it.

    dagster-dbt gives every invocation its own target folder, seeded with
    `dbt_project/target/partial_parse.msgpack`: the parse `dbt parse` saved when the project
    was prepared (:func:`~pipelines.transform.project.prepare`), or the last run's. A run
    whose dbt parsed again (a changed project, other vars) leaves its own for the next, in
    any data dir. The file is replaced atomically.
    """
    kept = kept_partial_parse()
    produced = target_path / kept.name
    if not produced.exists():
        return
    tmp = kept.with_name(f".{kept.name}.{os.getpid()}.tmp")
    shutil.copyfile(produced, tmp)
    os.replace(tmp, kept)


#: dagster-dbt gives each dbt invocation a target folder of its own, `<step>-<run>-<id>` in
#: dbt_project/target (the compiled SQL; the manifest and run_results.json with
#: DBT_WRITE_JSON), and never removes it: two a night, without end. The newest of each step
#: are kept to look into.
KEPT_INVOCATIONS = 14


def _prune_invocations(target_path: Path, keep: int = KEPT_INVOCATIONS) -> None:
    """Remove all but the `keep` newest target folders of `target_path`'s step, never its own
    (the newest, unless the clock says otherwise)."""
    step = target_path.name.split("-", 1)[0]
    folders = sorted(
        (p for p in target_path.parent.glob(f"{step}-*") if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in folders[keep:]:
        if old != target_path:
            shutil.rmtree(old, ignore_errors=True)


def raw_rows(warehouse: Warehouse) -> int | None:
    """The rows of the build warehouse's raw tables (None: no warehouse yet). DuckDB counts a
    table's rows from its row groups' headers, without reading them."""
    if not warehouse.settings().build_db.exists():
        return None
    with warehouse.connect(read_only=True) as con:
        have = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        }
        return sum(
            con.execute(f"select count(*) from raw.{source}").fetchone()[0]
            for source in SOURCES
            if source in have
        )


def steps_read(manifest: Mapping[str, Any], models: set[str]) -> list[str]:
    """The steps (``kpi_step()``, macros/kpi/step.sql: ephemeral in DuckDB's manifest, whose
    graph Dagster's is) that the models ``models`` (unique ids) read, directly or through
    another step, by name. On Spark they are tables, which dbt builds only when selected."""
    nodes = manifest["nodes"]
    found: set[str] = set()
    todo = list(models)
    while todo:
        for parent in nodes[todo.pop()]["depends_on"]["nodes"]:
            node = nodes.get(parent)
            if node is None or parent in found or node["resource_type"] != "model":
                continue
            if node["config"]["materialized"] == "ephemeral":
                found.add(parent)
                todo.append(parent)
    return sorted(nodes[uid]["name"] for uid in found)


def _steps_of_subset(context: dg.AssetExecutionContext) -> list[str]:
    """The steps the models a subset of a dbt step selects read (:func:`steps_read`); none
    when the whole step runs (its selection includes them)."""
    if not context.is_subset:
        return []
    manifest = _manifest()
    translator = KpiTranslator()
    selected = set(context.selected_asset_keys)
    models = {
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and translator.get_asset_key(node) in selected
    }
    return steps_read(manifest, models)


def _assets_only(context: dg.AssetExecutionContext, events: Iterator) -> Iterator:
    """dbt's events but the outputs of models that are no asset: the steps, tables on Spark
    that Dagster's graph (DuckDB's manifest) does not hold."""
    outputs = context.selected_output_names
    for event in events:
        if isinstance(event, dg.Output) and event.output_name not in outputs:
            context.log.debug(f"built on Spark, no asset: {event.output_name}")
            continue
        yield event


@cache
def _manifest() -> Mapping[str, Any]:
    return json.loads(Path(dbt_project().manifest_path).read_text(encoding="utf-8"))


def _build(
    context: dg.AssetExecutionContext, dbt: KpiDbtCliResource, warehouse: Warehouse, what: str
) -> Iterator:
    settings = warehouse.settings()
    covered = run_window(context, warehouse)
    if covered is None:
        raise dg.Failure("dbt runs inside a partitioned run (a day or a range)")
    window = window_env(covered, raw_rows(warehouse))
    delivered = (
        f" (files delivered {covered.delivered[0]} .. {covered.delivered[1]})"
        if covered.widened
        else ""
    )
    context.log.info(f"dbt build ({what}) over {covered.start} .. {covered.end}{delivered}")
    in_warehouse_dir = settings.engine == "duckdb" and dbt.runs_in_this_process()
    # the profile reads the build warehouse's path (and Spark's folder) from the environment
    environment = {**profile_env(settings, in_warehouse_dir=in_warehouse_dir), **window}
    if in_warehouse_dir:
        settings.build_db.parent.mkdir(parents=True, exist_ok=True)
    args = ["build", "--target", settings.dbt_target, "--vars", json.dumps(dbt_vars(settings))]
    if "DBT_LOG_LEVEL_FILE" not in os.environ:
        # dbt's own debug file (every statement it runs, some 2 MB an invocation) costs a
        # second of a first build's CPU to format; what it prints at info goes to the run's
        # log, and its compiled SQL stays in the invocation's target folder. Set
        # DBT_LOG_LEVEL_FILE (debug) to have the file (docs/orchestration.md).
        args += ["--log-level-file", "none"]
    if settings.engine == "duckdb" and "DBT_WRITE_JSON" not in os.environ:
        # nor its JSON artifacts: the manifest (2 MB, written twice an invocation, which
        # dagster-dbt does not read back: its assets come from the prepared project's),
        # run_results.json and the graph. Spark's read-back reads them; DBT_WRITE_JSON=true
        # writes them (docs/orchestration.md).
        args += ["--no-write-json"]
    steps = _steps_of_subset(context) if settings.engine == "spark" else []
    if steps:
        # a subset's models read the steps as tables on Spark: build them first, so that a
        # model run alone does not read what the last run left (dagster-dbt unites this
        # selection with the subset's)
        context.log.info(f"on Spark, the steps the selection reads too: {', '.join(steps)}")
        args += ["--select", " ".join(steps)]
    # dbt reads its environment when it starts; in this process it starts in a thread while
    # the stream is read, so the environment (and the working directory) stays set until
    # dbt is done
    with (
        environment_set(environment),
        chdir(settings.build_db.parent) if in_warehouse_dir else nullcontext(),
    ):
        invocation = dbt.cli(args, context=context)
        events = invocation.stream()
        yield from _assets_only(context, events) if settings.engine == "spark" else events
    if settings.engine == "spark":
        # the rest of the night reads the build DuckDB (docs/spark.md)
        read_back(
            warehouse,
            invocation.target_path,
            environment,
            json.dumps(dbt_vars(settings)),
            log=context.log.info,
        )
    _keep_partial_parse(invocation.target_path)
    _prune_invocations(invocation.target_path)


#: the two dbt steps, by their names
DBT_STEPS = ("kpi_tree_dbt", "kpi_targets_dbt")


@cache
def build_dbt_assets(
    partitions: dg.PartitionsDefinition | None,
) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    """The two dbt steps (:data:`DBT_STEPS`) as assets on ``partitions``, from the prepared
    project's manifest: the KPI tree, then the targets in force and the pace."""
    project = dbt_project()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=KpiTranslator(),
        exclude=TARGET_MODELS,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )
    def kpi_tree_dbt(
        context: dg.AssetExecutionContext, dbt: KpiDbtCliResource, warehouse: Warehouse
    ) -> Iterator:
        yield from _build(context, dbt, warehouse, "the KPI tree")

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=KpiTranslator(),
        select=TARGET_MODELS,
        name="kpi_targets_dbt",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )
    def kpi_targets_dbt(
        context: dg.AssetExecutionContext, dbt: KpiDbtCliResource, warehouse: Warehouse
    ) -> Iterator:
        yield from _build(context, dbt, warehouse, "targets in force and pace")

    return kpi_tree_dbt, kpi_targets_dbt


def build_defs(partitions: dg.PartitionsDefinition) -> dg.Definitions:
    """The two dbt steps as assets on ``partitions``, and the dbt resource they run."""
    project = dbt_project()
    return dg.Definitions(
        assets=list(build_dbt_assets(partitions)),
        resources={"dbt": KpiDbtCliResource(project_dir=project, dbt_executable=dbt_executable())},
    )


@cache
def model_test_keys() -> tuple[dg.AssetCheckKey, ...]:
    """dbt's tests that fail their step (severity error: blocking checks in Dagster)."""
    return tuple(
        spec.key for step in build_dbt_assets(None) for spec in step.check_specs if spec.blocking
    )
