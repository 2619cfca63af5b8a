"""The Great Expectations runner on its own: a verdict that names the failing rows, the data
docs built once per unit (GX's pages, their templates compiled once a process), and the
results store kept to the newest runs."""

import datetime as dt
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import great_expectations as gx
import jinja2
import pandas as pd
import pytest

import expectations.runner as runner
from expectations.suites import Gate
from expectations.verdict import verdict_path
from kpi_tree.units import SHARED_UNIT

DAY = dt.date(2025, 3, 4)


def _gate() -> Gate:
    frame = pd.DataFrame(
        {
            "grain": ["day"] * 3,
            "period_start": [dt.date(2025, 3, d) for d in (2, 3, 4)],
            "dimension": ["total"] * 3,
            "member": ["(all)"] * 3,
            "orders": [10, 12, -1],
            "sessions": [400, 380, 390],
        }
    )
    return Gate(
        unit="toy",
        frames={"mart": frame, "unchecked": frame},
        expectations={
            "mart": [
                gx.expectations.ExpectColumnValuesToBeBetween(column="orders", min_value=0),
                gx.expectations.ExpectColumnValuesToNotBeNull(column="sessions"),
            ]
        },
    )


def _runs(root, store: str) -> list[str]:
    base = root / "quality" / "gx" / "gx" / "uncommitted"
    if store == "results":
        base, suffix = base / "validations", ".json"
    else:
        base, suffix = base / "data_docs" / "local_site" / "validations", ".html"
    return sorted(p.parent.name for p in (base / "toy" / "mart").rglob(f"*{suffix}"))


def test_verdict_names_the_failing_row_and_docs_link_it(tmp_path):
    verdict = runner.run_gate(_gate(), tmp_path, "run-1", DAY, DAY)
    assert not verdict.success
    assert verdict.evaluated == 2  # the frame without expectations is not validated
    [failure] = verdict.failures
    assert (failure.frame, failure.column, failure.unexpected_count) == ("mart", "orders", 1)
    assert failure.examples == ["2025-03-04 day: orders=-1"]
    # the verdict the publish step reads is this one
    saved = json.loads(verdict_path(tmp_path, "toy").read_text(encoding="utf-8"))
    assert saved["run_id"] == "run-1" and saved["success"] is False
    # one data-docs page for the run: the verdict links it, and (a failure) the index lists it
    [page] = (tmp_path / "quality" / "gx").rglob("local_site/validations/toy/mart/**/*.html")
    # relative to the data directory (the warehouse's parent): right wherever the data moves
    assert not Path(verdict.report).is_absolute()
    assert tmp_path.parent / verdict.report == page
    assert page.parent.name in _index(tmp_path).read_text(encoding="utf-8")


#: GX's own views, as a site names them when it does not name ours
GX_PAGE_VIEW = {
    "module_name": "great_expectations.render.view",
    "class_name": "DefaultJinjaPageView",
}
GX_INDEX_VIEW = {
    "module_name": "great_expectations.render.view",
    "class_name": "DefaultJinjaIndexPageView",
}


def _drawn(page: Path) -> str:
    """A page without what differs from one drawing to the next: element ids, times."""
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)
    text = re.sub(r"\d{8}T\d{6}\.\d+Z", "<stamp>", text)
    return re.sub(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z)?", "<time>", text)


def test_the_pages_are_gx_own_and_their_templates_compile_once_a_process(tmp_path, monkeypatch):
    """The gates' site draws its pages with expectations.pages' views: the page GX's own view
    draws, to the byte but for its element ids and times (with the site's custom styles), and
    a later build in the process, in another data dir too, compiles none of GX's templates
    (only that data dir's own style sheet); GX's own views compile them at every build."""
    runner.run_gate(_gate(), tmp_path / "first", "run-1", DAY, DAY)
    spy = mock.patch.object(
        jinja2.Environment, "compile", autospec=True, side_effect=jinja2.Environment.compile
    )
    with spy as compiling:
        ours = runner.run_gate(_gate(), tmp_path / "ours", "run-1", DAY, DAY)
        by_ours = [
            c.args[3] if len(c.args) > 3 else c.kwargs["filename"] for c in compiling.mock_calls
        ]
        monkeypatch.setattr(runner, "PAGE_VIEW", GX_PAGE_VIEW)
        monkeypatch.setattr(runner, "INDEX_VIEW", GX_INDEX_VIEW)
        own = runner.run_gate(_gate(), tmp_path / "own", "run-1", DAY, DAY)
        by_own = len(compiling.mock_calls) - len(by_ours)
    assert by_ours and all(Path(f).is_relative_to(tmp_path / "ours") for f in by_ours)
    assert by_own > 10  # GX's page templates, from its package
    assert _drawn(tmp_path / ours.report) == _drawn(tmp_path / own.report)
    assert "ge-index-page-site-name-title" in (tmp_path / ours.report).read_text(encoding="utf-8")


FREEZE_PROBE = textwrap.dedent(
    """
    import gc, sys
    from expectations import gx
    if sys.argv[1] == "frozen":
        gc.freeze()
    before = gc.get_freeze_count()
    gx("great_expectations.expectations")
    gx()  # imported already: nothing more
    print(before, gc.get_freeze_count())
    """
)


@pytest.mark.parametrize("state", ["frozen", "not frozen"])
def test_a_run_that_froze_what_it_loaded_freezes_great_expectations_too(state):
    """`kpi run` takes what it loaded out of CPython's cyclic collector while it runs
    (pipelines/cli/run.py); the first gate's import of Great Expectations adds its modules
    (some 200,000 objects). A process that froze nothing is left as it is."""
    done = subprocess.run(
        [sys.executable, "-c", FREEZE_PROBE, state],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = map(int, done.stdout.split())
    if state == "frozen":
        assert before > 0 and after - before > 100_000
    else:
        assert before == after == 0


def _index(root: Path) -> Path:
    return (
        root / "quality" / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    )


def _passing(unit: str) -> Gate:
    gate = _gate()
    gate.frames["mart"] = gate.frames["mart"].assign(orders=[10, 12, 11])
    return Gate(unit=unit, frames=gate.frames, expectations=gate.expectations)


def _pages(root: Path, unit: str) -> set[Path]:
    return set((root / "quality" / "gx").rglob(f"local_site/validations/{unit}/mart/**/*.html"))


def test_a_passing_team_gate_links_its_page_and_the_shared_gate_rebuilds_the_index(tmp_path):
    runner.run_gate(_gate(), tmp_path, "run-0", DAY, DAY)  # fails: the index is built
    listed = _index(tmp_path).read_text(encoding="utf-8")
    before = _pages(tmp_path, "toy")
    team = runner.run_gate(_passing("toy"), tmp_path, "run-1", DAY, DAY)
    assert team.success
    [page] = _pages(tmp_path, "toy") - before  # this run's page, linked by its verdict
    assert tmp_path.parent / team.report == page
    # a passing team gate leaves the index alone (rebuilding it costs more as runs pile up)
    assert _index(tmp_path).read_text(encoding="utf-8") == listed
    assert page.parent.name not in listed
    shared = runner.run_gate(_passing(SHARED_UNIT), tmp_path, "run-2", DAY, DAY)
    assert shared.success
    [shared_page] = _pages(tmp_path, SHARED_UNIT)
    index = _index(tmp_path).read_text(encoding="utf-8")
    # the shared gate's index lists its own run and the team's earlier one
    assert page.parent.name in index and shared_page.parent.name in index


def test_results_and_pages_keep_only_the_newest_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "KEEP_RUNS", 2)
    for i in range(4):
        runner.run_gate(_gate(), tmp_path, f"run-{i}", DAY, DAY)
        kept = _runs(tmp_path, "results")
        assert len(kept) == min(i + 1, 2)
    assert _runs(tmp_path, "pages") == kept


def test_the_index_lists_the_newest_results_and_older_pages_stay_linked(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "INDEX_RESULTS", 2)
    monkeypatch.setattr(runner, "_CONTEXTS", {})  # the site is configured when a context opens
    verdicts = [
        runner.run_gate(_passing(SHARED_UNIT), tmp_path, f"r{i}", DAY, DAY) for i in range(3)
    ]
    pages = {tmp_path.parent / v.report for v in verdicts}
    assert pages == _pages(tmp_path, SHARED_UNIT) and len(pages) == 3  # every page kept
    index = _index(tmp_path).read_text(encoding="utf-8")
    listed = [p for p in sorted(pages) if p.parent.name in index]
    assert listed == sorted(pages)[1:]  # the newest two runs (run times sort)
    # GX's scaffolded config-variables file (comments and its analytics id) is gone: GX
    # parsed it on every read of a setting
    scaffold = tmp_path / "quality" / "gx" / "gx" / "uncommitted" / "config_variables.yml"
    assert not scaffold.exists()


def test_a_unit_with_nothing_computable_is_skipped_not_passed_or_held_back(tmp_path):
    """The suites of a unit none of whose KPIs the shop can compute: no expectation at all; the
    verdict says skipped (neither a failure nor something to publish) and why."""
    from expectations.suites import team_gate
    from expectations.verdict import Failure, read_verdict
    from kpi_tree.availability import Availability
    from kpi_tree.model import default_tree

    tree = default_tree()
    logistics = [n.id for n in tree.nodes.values() if n.team == "logistics"]
    missing = {
        k: Availability(
            k, ("orders", "shipments"), ("shipments",), "needs shipments", "需要物流数据"
        )
        for k in logistics
    }
    # reads nothing: none to judge
    gate = team_gate(None, tree, "logistics", DAY, DAY, availability=missing)
    assert gate.skipped and gate.frames == {} and set(gate.not_available) == set(logistics)
    verdict = runner.run_gate(gate, tmp_path, "run-1", DAY, DAY)
    assert verdict.success and verdict.skipped and verdict.evaluated == 0
    assert verdict.not_available == dict.fromkeys(logistics, "needs shipments")
    assert read_verdict(tmp_path, "logistics").skipped
    # a standing dbt test failure still holds it back: the model it would publish is wrong
    failure = Failure("kpi/fct_kpi_values", "dbt test x", None, 1)
    held = runner.run_gate(gate, tmp_path, "run-2", DAY, DAY, known_failures=[failure])
    assert not held.success and not held.skipped


def _config(root: Path) -> Path:
    return root / "quality" / "gx" / "gx" / "great_expectations.yml"


def _assets(root: Path, unit: str) -> dict[str, list[str]]:
    """The unit's data source as a fresh GX context reads it back from disk."""
    source = gx.get_context(mode="file", project_root_dir=str(root / "quality" / "gx"))
    return {
        a.name: [b.name for b in a.batch_definitions]
        for a in source.data_sources.get(f"unit_{unit}").assets
    }


def _two_frames(refused: bool = False) -> Gate:
    """Two judged frames (and a refused file's, when ``refused``), each run's own
    expectations (GX binds an expectation to the suite it first ran in)."""
    gate = _gate()
    gate.frames["days"] = gate.frames["mart"]
    gate.expectations["days"] = [gx.expectations.ExpectColumnValuesToNotBeNull(column="orders")]
    if refused:
        gate.frames["refused"] = pd.DataFrame({"problem": ["orders/2025-03-04.csv: bad rows"]})
        gate.expectations["refused"] = [
            gx.expectations.ExpectColumnValuesToBeNull(column="problem")
        ]
    return gate


def test_a_units_frames_are_registered_kept_and_not_written_again(tmp_path):
    first = runner.run_gate(_two_frames(), tmp_path, "run-1", DAY, DAY)
    # every judged frame is an asset with its whole-frame batch, read back from disk
    assert _assets(tmp_path, "toy") == {"mart": ["mart_whole"], "days": ["days_whole"]}

    # the same frames again: GX's settings are not written again, and the verdict is the same
    before = (_config(tmp_path).read_bytes(), _config(tmp_path).stat().st_mtime_ns)
    again = runner.run_gate(_two_frames(), tmp_path, "run-2", DAY, DAY)
    assert (_config(tmp_path).read_bytes(), _config(tmp_path).stat().st_mtime_ns) == before
    assert [(f.frame, f.column) for f in again.failures] == [
        (f.frame, f.column) for f in first.failures
    ]

    # a frame judged for the first time (a refused file) joins the ones already there
    third = runner.run_gate(_two_frames(refused=True), tmp_path, "run-3", DAY, DAY)
    assert _assets(tmp_path, "toy") == {
        "mart": ["mart_whole"],
        "days": ["days_whole"],
        "refused": ["refused_whole"],
    }
    assert {f.frame for f in third.failures} == {"mart", "refused"}
    # each run stores its results (and pages), one run folder for all the unit's frames; the
    # suites are code, so no suite, validation definition or checkpoint is saved to be read
    # back and rewritten every night
    gx_dir = tmp_path / "quality" / "gx" / "gx"
    results = gx_dir / "uncommitted" / "validations" / "toy"
    assert len({p.parent.name for p in results.rglob("*.json")}) == 3
    assert {p.parent.parent.parent.name for p in results.rglob("*.json")} == {
        "mart",
        "days",
        "refused",
    }
    for store in ("expectations", "validation_definitions", "checkpoints"):
        assert not [p for p in (gx_dir / store).rglob("*.json")]
