"""The Great Expectations runner on its own: a verdict that names the failing rows, the data
docs built once per unit, and the results store kept to the newest runs."""

import datetime as dt
import json
from pathlib import Path

import great_expectations as gx
import pandas as pd

import expectations.runner as runner
from expectations.suites import Gate

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
    saved = json.loads(runner.verdict_path(tmp_path, "toy").read_text(encoding="utf-8"))
    assert saved["run_id"] == "run-1" and saved["success"] is False
    # one data-docs page for the run, linked from the index the verdict points to
    [page] = (tmp_path / "quality" / "gx").rglob("local_site/validations/toy/mart/**/*.html")
    index = verdict.report.removeprefix("file://")
    assert index.endswith("index.html")
    assert page.parent.name in Path(index).read_text(encoding="utf-8")


def test_results_and_pages_keep_only_the_newest_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "KEEP_RUNS", 2)
    for i in range(4):
        runner.run_gate(_gate(), tmp_path, f"run-{i}", DAY, DAY)
        kept = _runs(tmp_path, "results")
        assert len(kept) == min(i + 1, 2)
    assert _runs(tmp_path, "pages") == kept
