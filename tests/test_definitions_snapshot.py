"""The Dagster definitions as text: every change to the graph (an asset, a dependency, a
check and whether it blocks, a job, a schedule, a sensor) shows in review as a change of
tests/snapshots/definitions.txt. No run: the definitions are only loaded."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import dagster as dg

from pipelines.definitions import build_defs

SNAPSHOT = Path(__file__).with_name("snapshots") / "definitions.txt"
#: set to 1 to write the snapshot from the definitions instead of comparing them
UPDATE = "KPI_UPDATE_SNAPSHOTS"
HEADER = f"""\
# The Dagster definitions of pipelines/definitions.py, rendered by
# tests/test_definitions_snapshot.py. After an intended change to the graph, regenerate:
#   {UPDATE}=1 make test-fast
"""


def _partitions(partitions_def: dg.PartitionsDefinition) -> str:
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return (
            f"time windows '{partitions_def.cron_schedule}' from "
            f"{partitions_def.start.strftime(partitions_def.fmt)} ({partitions_def.timezone}), "
            f"end offset {partitions_def.end_offset}"
        )
    return repr(partitions_def)


def _list(items) -> str:
    return ", ".join(sorted(str(i) for i in items)) or "-"


def render(definitions: dg.Definitions) -> str:
    """The definitions as stable text: sorted, one asset, check, job, schedule or sensor a
    line, with what each is wired to."""
    graph = definitions.resolve_asset_graph()
    lines = [HEADER]

    # the partitions definitions, numbered once: the assets name theirs by number
    partitions: dict[str, int] = {}
    for key in sorted(graph.get_all_asset_keys()):
        partitions_def = graph.get(key).partitions_def
        if partitions_def is not None:
            partitions.setdefault(_partitions(partitions_def), len(partitions) + 1)
    lines.append("## partitions")
    lines += [f"[{number}] {text}" for text, number in partitions.items()]

    lines.append("")
    lines.append("## assets")
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        policy = node.backfill_policy
        numbered = node.partitions_def and f"[{partitions[_partitions(node.partitions_def)]}]"
        lines.append(
            f"{key.to_user_string()} | group {node.group_name} | kinds {_list(node.kinds)}"
            f" | {node.execution_type.value.lower()}"
            f" | partitions {numbered or '-'}"
            f" | pools {_list(node.pools or ())}"
            f" | backfill {policy.policy_type.value.lower() if policy else '-'}"
        )
        deps = []
        for parent in sorted(node.parent_keys):
            mapping = node.partition_mappings.get(parent)
            deps.append(parent.to_user_string() + (f" [{mapping!r}]" if mapping else ""))
        lines.append(f"  deps {_list(deps)}")

    lines.append("")
    lines.append("## asset checks")
    for check in sorted(graph.asset_check_keys):
        spec = graph.get_check_spec(check)
        extra = [d.asset_key.to_user_string() for d in spec.additional_deps]
        lines.append(
            f"{check.asset_key.to_user_string()}: {check.name}"
            f" | {'blocking' if spec.blocking else 'not blocking'}"
            + (f" | also reads {_list(extra)}" if extra else "")
        )

    lines.append("")
    lines.append("## jobs")
    materializable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    for job in sorted(definitions.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):  # Dagster's implicit job of all assets
            continue
        keys = set(job.asset_layer.executable_asset_keys)
        assets = (
            "every materializable asset"
            if keys == materializable
            else _list(k.to_user_string() for k in keys)
        )
        tags = _list(f"{k}={v}" for k, v in job.tags.items())
        lines.append(f"{job.name} | assets {assets} | tags {tags}")

    lines.append("")
    lines.append("## schedules")
    for schedule in sorted(definitions.schedules or (), key=lambda s: s.name):
        lines.append(
            f"{schedule.name} | cron '{schedule.cron_schedule}' {schedule.execution_timezone}"
            f" | job {schedule.job_name} | {schedule.default_status.value.lower()}"
        )

    lines.append("")
    lines.append("## sensors")
    for sensor in sorted(definitions.sensors or (), key=lambda s: s.name):
        jobs = _list(j.name for j in sensor.jobs) if sensor.has_jobs else "-"
        lines.append(
            f"{sensor.name} | jobs {jobs} | every {sensor.minimum_interval_seconds} s"
            f" | {sensor.default_status.value.lower()}"
        )

    lines.append("")
    lines.append("## resources")
    lines.append(_list(definitions.resources or {}))
    return "\n".join(lines) + "\n"


def test_the_definitions_match_their_snapshot(tmp_path, monkeypatch):
    # the default settings (no kpi.yaml): the partitions' start and zone come from them
    monkeypatch.delenv("KPI_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    rendered = render(build_defs(tmp_path / "data"))
    if os.environ.get(UPDATE) == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(rendered, encoding="utf-8")
        return
    assert SNAPSHOT.exists(), f"{SNAPSHOT} is missing: write it with `{UPDATE}=1 make test-fast`"
    saved = SNAPSHOT.read_text(encoding="utf-8")
    if rendered != saved:
        diff = "".join(
            difflib.unified_diff(
                saved.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                "tests/snapshots/definitions.txt",
                "the definitions now",
            )
        )
        raise AssertionError(
            "The Dagster definitions differ from tests/snapshots/definitions.txt. If the change "
            f"is intended, regenerate the snapshot with `{UPDATE}=1 make test-fast` and commit "
            f"it with the change.\n{diff}"
        )


def test_loading_the_definitions_says_no_beta_notes(tmp_path, monkeypatch):
    """`dagster dev` and the daemon load the code location outside `kpi`: Dagster's note that
    `backfill_policy` is in beta (once an asset) is not shown to whoever loads it."""
    import warnings

    monkeypatch.delenv("KPI_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_defs(tmp_path / "data")
    assert not [w for w in caught if issubclass(w.category, dg.BetaWarning)], [
        str(w.message) for w in caught
    ]
