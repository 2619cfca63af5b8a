"""Quality gates: one Great Expectations check per publication unit, which only judges.

The night's flow, one unit at a time (``kpi_tree/units.py`` names the units)::

    dbt build (models, and dbt's tests of the model's invariants)
      -> gx_gate on the unit's gated table (here): validate, write the verdict, report it
      -> publish/<unit> (pipelines/publish): publish a passing verdict of its own run, or
         record the unit as held back; refuse any other verdict
      -> alerts/<unit> (pipelines/alerts): metric alerts on what was published, or the
         "data held back" notice to the team

The gate validates the unit's tables for the run's window, and every earlier day on which a
source of the unit's KPIs is missing and no operator accepted the gap (``expectations/gaps.py``;
the suites are in ``expectations/``: they judge only the KPIs the shop can compute, and a unit
with none is skipped, which passes the check without judging anything), writes the verdict
where the publish step reads it (``expectations/verdict.py``) and returns it as the check's
result. It writes nothing else: the publication log, the held-back notice and the serving file
belong to the steps after it.

How Dagster runs it: the check is ``blocking``, so every asset downstream of the gated table
(the unit's publish step) waits for the verdict. A failed verdict is reported with severity
``WARN``: Dagster skips the downstream assets of a blocking check only on ``ERROR``, and the
publish step must run to record the unit as held back. What a failure stops is decided by the
publish step, from the verdict file, not by Dagster.

The model's invariants are dbt's tests, not the gate's. A failed one fails the dbt step, and
nothing downstream of it runs in that run. A later run without the dbt step (the checks and
the publication re-run from the UI) would not see it, so the gate also reads dbt's latest
result of each of them (Dagster's record of those checks) and fails while one stands failed.
"""

import dagster as dg

from expectations.completeness import Band
from expectations.gaps import accepted_days
from expectations.runner import run_gate
from expectations.suites import build_gate
from expectations.verdict import Failure
from kpi_tree.model import default_tree
from kpi_tree.units import SHARED_UNIT, gated_table, publication_units
from pipelines.fastpaths import defer_unused_imports
from pipelines.links import report_url
from pipelines.partitions import run_window
from pipelines.quality import GATE_CHECK
from pipelines.resources import WAREHOUSE_POOL, Warehouse
from pipelines.settings import Settings
from pipelines.transform.assets import model_test_keys


def failed_model_tests(instance: dg.DagsterInstance) -> list[Failure]:
    """dbt's tests whose latest result is a failure: as in the night, where a failed one stops
    every publication, each unit is held back while one stands."""
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        list(model_test_keys())
    )
    failures = []
    for key, record in sorted(latest.items(), key=lambda item: item[0].to_user_string()):
        # (a check only planned so far has no evaluation yet)
        evaluation = record.event.asset_check_evaluation if record.event else None
        if evaluation is None or evaluation.passed:
            continue
        rows = evaluation.metadata.get("dagster_dbt/failed_row_count")
        failures.append(
            Failure(
                frame=key.asset_key.to_user_string(),
                expectation=f"dbt test {key.name}",
                column=None,
                unexpected_count=rows.value if rows is not None else None,
                examples=[f"failed in run {record.run_id} and not run since"],
            )
        )
    return failures


def completeness_band(settings: Settings) -> Band:
    """kpi.yaml's ``completeness:`` as the gate's suites take it."""
    c = settings.completeness
    return Band(
        band=c.band,
        weeks=c.weeks,
        min_usual_rows=c.min_usual_rows,
        accept={source: frozenset(days) for source, days in c.accept.items()},
    )


def build_gate_check(unit: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(list(gated_table(unit))),
        name=GATE_CHECK,
        blocking=True,  # for the order: publication waits for the verdict (module docstring)
        pool=WAREHOUSE_POOL,
        description=(
            f"Great Expectations suites of the '{unit}' publication (expectations/suites.py): "
            + (
                "the published tree is tree.yaml's, every KPI present on the refreshed day, "
                "the targets' splits and identities"
                if unit == SHARED_UNIT
                else "ranges, completeness of the window, freshness, volume, members present"
            )
            + f". Its verdict decides the unit's publication (publish/{unit})."
        ),
    )
    def gate(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
        # before the suites import Great Expectations: without what no suite uses
        defer_unused_imports()
        settings = warehouse.settings()
        window = run_window(context, warehouse)
        if window is None:
            raise dg.Failure("the quality gate runs inside a partitioned run (a day or a range)")
        start, end = window.start, window.end
        with warehouse.connect(read_only=True) as con:
            gate_def = build_gate(
                con,
                default_tree(),
                unit,
                start,
                end,
                vocabulary=settings.vocabulary,
                band=completeness_band(settings),
                accepted=accepted_days(settings.warehouse_dir),
                run_id=context.run.run_id,
            )
        verdict = run_gate(
            gate_def,
            settings.warehouse_dir,
            context.run.run_id,
            start,
            end,
            known_failures=failed_model_tests(context.instance),
        )
        failed = verdict.describe_failures()
        metadata = {
            "expectations_evaluated": verdict.evaluated,
            "expectations_failed": len(failed),
            "window": f"{start} .. {end}",
            "failed_expectations": dg.MetadataValue.md(
                "\n".join(f"- {f}" for f in failed) or "none"
            ),
            "rows_checked": sum(len(f) for f in gate_def.frames.values()),
            "skipped": verdict.skipped,
            "not_available": dg.MetadataValue.md(
                "\n".join(f"- {k}" for k in verdict.describe_not_available()) or "none"
            ),
        }
        if verdict.skipped:
            context.log.info(
                f"{unit}: nothing to judge, none of its KPIs can be computed "
                f"({'; '.join(verdict.describe_not_available())})"
            )
        if verdict.report:
            # through `kpi serve` when serve.base_url is set, so the UI's link opens
            metadata["validation_report"] = dg.MetadataValue.url(
                report_url(settings, verdict.report) or ""
            )
        return dg.AssetCheckResult(
            passed=verdict.success,
            # WARN, not ERROR: the publish step acts on a failure (module docstring)
            severity=dg.AssetCheckSeverity.WARN,
            metadata=metadata,
        )

    return gate


def build_defs() -> dg.Definitions:
    """One gate per publication unit."""
    return dg.Definitions(
        asset_checks=[build_gate_check(unit) for unit in publication_units(default_tree())]
    )
