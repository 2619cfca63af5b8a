"""Ingestion assets: one per source, on daily partitions, run as one run over a range."""

import datetime as dt
from collections import Counter

import dagster as dg

from pipelines.ingest.contracts import SOURCE_SPECS, SOURCES
from pipelines.ingest.landing import empty_notice, source_folders, stray_files, stray_notice
from pipelines.ingest.load import (
    QUARANTINE,
    READ_AHEAD_DAYS,
    REFUSED,
    BadBatch,
    BeforePartitionsStart,
    DayLoader,
    DayResult,
    ReadAhead,
    ensure_tables,
    tune_for_loading,
)
from pipelines.ingest.spark_raw import export_days
from pipelines.ingest.validate import SchemaMismatch, zone_notice
from pipelines.resources import WAREHOUSE_POOL, Warehouse

#: a source's progress line every this many days, or every tenth of a longer range's days
#: (each line is a Dagster event the run stores: a two years' first run had 25 a source)
PROGRESS_EVERY_DAYS = 30

#: the rules a refused file breaks, as ``raw._refused.rule`` records them
SCHEMA, ENCODING, CUT, BAD_ROWS = "schema", "encoding", "cut", "bad_rows"


def refusal(err: SchemaMismatch | BadBatch) -> tuple[str, str]:
    """The refused file and the rule it breaks."""
    if isinstance(err, BadBatch):
        return err.file, BAD_ROWS
    return err.file, err.kind if err.kind in (ENCODING, CUT) else SCHEMA


def record_refusal(
    con, run_id: str, source: str, day: dt.date, err: Exception, file: str, rule: str
) -> None:
    """A refused file on record for the run's gates (expectations/completeness.py: refused)."""
    con.execute(
        f"insert into {REFUSED} values (?, ?, ?, ?, ?, ?, now()::timestamp)",
        [run_id, source, day, file, rule, str(err)],
    )


def landing_spec(source: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=["landing", source],
        group_name="landing",
        description=f"Files delivered to <data dir>/landing/{source}/ (see docs/sources.md).",
        kinds={"file"},
    )


def business_date_range(results: list[DayResult]) -> tuple[dt.date, dt.date] | None:
    """The first and last business date the loaded files' rows fall on."""
    firsts = [f.first_business_date for d in results for f in d.files if f.first_business_date]
    lasts = [f.last_business_date for d in results for f in d.files if f.last_business_date]
    return (min(firsts), max(lasts)) if firsts else None


def summarize(results: list[DayResult]) -> dict[str, int]:
    files = Counter(f.status for day in results for f in day.files)
    return {
        "days": len(results),
        "rows_loaded": sum(d.rows_loaded for d in results),
        "rows_quarantined": sum(d.rows_quarantined for d in results),
        "files_loaded": files["loaded"],
        "files_duplicate": files["duplicate"],
        "files_rejected": files["rejected"],
        "files_empty": files["empty"],
    }


def build_ingest_asset(source: str, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    spec = SOURCE_SPECS[source]
    contract = spec.contract
    # rows dated by another source's (order lines by their orders) load after it, so that
    # their business dates can be looked up (pipelines/ingest/load.py: business_dates)
    dated_by = [dg.AssetKey(["raw", spec.dated_by[0]])] if spec.dated_by else []

    @dg.asset(
        key=["raw", source],
        deps=[landing_spec(source).key, *dated_by],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        group_name="ingest",
        kinds={"polars", "pandera", "duckdb"},
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL),
        description=(
            f"raw.{source} in the build warehouse: the day's landed {source} files, validated "
            f"by the pandera contract `{contract.__name__}`; bad rows go to {QUARANTINE}."
        ),
    )
    def ingest(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        settings = warehouse.settings()
        days = [dt.date.fromisoformat(k) for k in context.partition_keys]
        every = max(PROGRESS_EVERY_DAYS, -(-len(days) // 10))
        results: list[DayResult] = []
        missing: list[str] = []
        refused: list[str] = []
        with (
            warehouse.connect() as con,
            ReadAhead(settings, source, days, depth=READ_AHEAD_DAYS) as ahead,
        ):
            ensure_tables(con, SOURCES)
            tune_for_loading(con)
            # a retried step records its refusals again
            con.execute(
                f"delete from {REFUSED} where run_id = ? and source = ?", [context.run_id, source]
            )
            with DayLoader(con, settings, source, run_id=context.run_id, ahead=ahead) as loader:
                for i, day in enumerate(days, start=1):
                    try:
                        result = loader.load(day)
                    except BeforePartitionsStart as err:
                        # the setting is to change, not the file: the night stops
                        raise dg.Failure(
                            description=f"{source} {day}: {err}",
                            metadata={"source": source, "day": day.isoformat(), "error": str(err)},
                            allow_retries=False,
                        ) from err
                    except (SchemaMismatch, BadBatch) as err:
                        # the file is refused, not the night: the loader committed the days
                        # before it, the other days and sources load, and the gates hold back
                        # only the units that read this source (docs/sources.md)
                        file, rule = refusal(err)
                        record_refusal(con, context.run_id, source, day, err, file, rule)
                        refused.append(file)
                        context.log.error(f"{source} {day}: refused ({rule}): {err}")
                        continue
                    results.append(result)
                    if not result.delivered:
                        missing.append(day.isoformat())
                    for f in result.files:
                        if f.status == "empty":
                            context.log.warning(empty_notice(f.file, source, day))
                        elif f.status == "duplicate":
                            context.log.warning(
                                f"{f.file}: skipped, same content as {f.duplicate_of} "
                                "already loaded"
                            )
                        elif f.rows_quarantined:
                            context.log.info(
                                f"{f.file}: {f.rows_loaded} rows loaded, "
                                f"{f.rows_quarantined} quarantined ({f.top_reasons})"
                            )
                    if i % every == 0 or i == len(days):
                        so_far = summarize(results)
                        context.log.info(
                            f"{source}: {i}/{len(days)} days, {so_far['rows_loaded']} rows "
                            f"loaded, {so_far['rows_quarantined']} quarantined"
                        )
            if settings.engine == "spark":
                # Spark reads the validated rows as Parquet (DuckDB's build is unchanged)
                export_days(con, settings.spark_raw_dir, source, days)
        touched = business_date_range(results)
        if touched:
            # a day without a delivery of its own is not missing when a file delivered on
            # another day holds it (a whole-history export)
            held = (touched[0].isoformat(), touched[1].isoformat())
            missing = [d for d in missing if not held[0] <= d <= held[1]]
            if days and (touched[0] < days[0] or touched[1] > days[-1]):
                context.log.info(
                    f"{source}: the files delivered {days[0]} .. {days[-1]} hold business "
                    f"dates {touched[0]} .. {touched[1]}: the run covers them"
                )
        if missing:
            context.log.warning(f"{source}: no files for {len(missing)} day(s): {missing[:10]}")
        folder = settings.source(source).folder
        # what this source's folder holds, or is likely meant for, that it does not read
        found = stray_files(settings.landing_dir, source_folders(settings))
        # what is likely no source's is said once a run, by the first source's step
        strays = [
            s for s in found if s.folder == folder or (s.folder is None and source == SOURCES[0])
        ]
        for stray in strays:
            context.log.warning(stray_notice(stray))
        assumed = {c for d in results for f in d.files for c in f.zone_assumed}
        if assumed:
            context.log.warning(zone_notice(source, assumed, settings.business_timezone))
        totals = summarize(results)
        return dg.MaterializeResult(
            metadata={
                **{k: dg.MetadataValue.int(v) for k, v in totals.items()},
                "missing_days": dg.MetadataValue.json(missing),
                "first_day": days[0].isoformat() if days else None,
                "last_day": days[-1].isoformat() if days else None,
                "first_business_date": touched[0].isoformat() if touched else None,
                "last_business_date": touched[1].isoformat() if touched else None,
                "zone_assumed": settings.business_timezone if assumed else None,
                "not_loaded": dg.MetadataValue.json([s.path for s in strays]),
                "refused": dg.MetadataValue.json(refused),
            }
        )

    return ingest


def build_defs(partitions: dg.PartitionsDefinition) -> dg.Definitions:
    """Each source's landing files and its ingestion asset on ``partitions``."""
    return dg.Definitions(
        assets=[
            *(landing_spec(source) for source in SOURCES),
            *(build_ingest_asset(source, partitions) for source in SOURCES),
        ]
    )
