"""Completeness before publication (issue 45): a delivery day far below its own history holds
back the units that read its source as incomplete, and order lines or shipments without their
order are a gate failure with their counts and day; the units that read none of them publish.

One real shop of five weeks, run for real: its last day's sessions file cut to a fifth of
its rows, ten orders taken out of an earlier day's orders file (their lines stay), one
late order quarantined (its shipments stay), and a shipment of an order never delivered on
the last day."""

from __future__ import annotations

import csv
import datetime as dt
import json

import dagster as dg
import polars as pl
import pytest
from conftest import make_shop

from expectations.verdict import read_verdict
from pipelines.alerts.store import read_alerts
from pipelines.definitions import build_defs
from pipelines.publish.serving import HELD_BACK, PUBLISHED, read_log
from pipelines.runner import run_nightly

# a real 36-day shop through the nightly job: minutes, so not in `make test-fast`
pytestmark = pytest.mark.slow

START = dt.date(2025, 3, 3)
DAYS = 36  # five weeks of history before the last day
ORPHAN_DAY = START + dt.timedelta(days=20)


def night(shop, start, end):
    with dg.instance_for_test() as instance:
        return run_nightly(build_defs(shop.data_dir), start, end, instance, log_level="CRITICAL")


def statuses(shop, run_id: str) -> dict[str, str]:
    return {e["unit"]: e["status"] for e in read_log(shop.settings) if e["run_id"] == run_id}


def test_an_incomplete_day_and_orphan_lines_hold_back_only_the_units_that_read_them(
    tmp_path, monkeypatch
):
    shop = make_shop(tmp_path, start=START, days=DAYS, orders_per_day=120, faults={})
    config = tmp_path / "kpi.yaml"
    config.write_text(json.dumps({"locale": "en_US", "alerts": {"digest": False}}))
    monkeypatch.setenv("KPI_CONFIG", str(config))
    landing = shop.data_dir / "landing"

    # the last day's sessions: a fifth of the rows of a complete file
    last = shop.end
    sessions = landing / "sessions" / f"sessions_{last}.parquet"
    whole = pl.read_parquet(sessions)
    kept = whole.head(len(whole) // 5)
    kept.write_parquet(sessions)
    usual = sorted(
        len(pl.read_parquet(sessions.with_name(f"sessions_{last - dt.timedelta(weeks=w)}.parquet")))
        for w in range(1, 5)
    )
    assert len(kept) < 0.5 * (usual[1] + usual[2]) / 2  # independently: below half the median

    # ten orders taken out of an earlier day's file; their lines are still delivered
    orders = landing / "orders" / f"orders_{ORPHAN_DAY}.csv"
    text = orders.read_text(encoding="utf-8").splitlines(keepends=True)
    removed = {row["order_id"] for row in csv.DictReader(text[:1] + text[1:11])}
    orders.write_text("".join(text[:1] + text[11:]), encoding="utf-8")
    with (landing / "order_items" / f"order_items_{ORPHAN_DAY}.csv").open(encoding="utf-8") as f:
        orphan_lines = sum(1 for row in csv.DictReader(f) if row["order_id"] in removed)
    assert len(removed) == 10 and orphan_lines >= 10
    # (their shipments go with them: orphan shipments are another check's)
    for path in (landing / "shipments").glob("*.csv"):
        text = path.read_text(encoding="utf-8").splitlines(keepends=True)
        keep = [line for line in text[1:] if line.split(",", 2)[1] not in removed]
        path.write_text("".join(text[:1] + keep), encoding="utf-8")
    # one order of a late day quarantined (an unknown channel), its shipments still delivered:
    # not orphans, the quarantine told it (matched by its id, not by a count of quarantined
    # rows, which over a long backfill explains the wrong shipments)
    late = landing / "orders" / f"orders_{START + dt.timedelta(days=32)}.csv"
    with late.open(encoding="utf-8", newline="") as f:
        late_rows = list(csv.DictReader(f))
    shipped = {
        line.split(",", 2)[1]
        for path in (landing / "shipments").glob("*.csv")
        for line in path.read_text(encoding="utf-8").splitlines()[1:]
    }
    victim = next(r for r in late_rows if r["order_id"] in shipped)
    victim["channel"] = "tv"
    with late.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, list(late_rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(late_rows)
    # and one shipment of an order never delivered, on the last day (more than the
    # maturity window after the first order: it cannot belong to an order before the history)
    with (landing / "shipments" / f"shipments_{last}.csv").open("a", encoding="utf-8") as f:
        f.write(
            f"s20250301-009999,o20250301-009999,zto,prepaid,shipped,{last}T01:00:00Z,,,0.00,"
            f"{last}T01:00:00Z\n"
        )

    outcome = night(shop, shop.start, shop.end)
    assert outcome.exit_code == 1
    status = statuses(shop, outcome.run_id)
    # sessions: marketing, operations and the shared tree; order lines: operations;
    # shipments: logistics and management. Service reads none of them and publishes.
    held = {"marketing", "operations", "kpi_tree", "logistics", "management"}
    assert {u for u, s in status.items() if s == HELD_BACK} == held
    assert {u for u, s in status.items() if s == PUBLISHED} == {"service"}
    logistics = read_verdict(shop.settings.warehouse_dir, "logistics")
    (ships,) = [f for f in logistics.failures if f.frame == "orphans"]
    assert ships.unexpected_count == 1  # the never-delivered order's, not the quarantined one's
    assert (
        f"shipments without an order, delivered {last}: 1 update of 1 order not in"
        in (ships.examples[0])
    )
    marketing = read_verdict(shop.settings.warehouse_dir, "marketing")
    failed = {f.frame: f for f in marketing.failures}
    assert "incomplete" in failed and "orphans" not in failed
    said = " ".join(failed["incomplete"].examples)
    assert f"sessions {last} incomplete: {len(kept)} rows" in said
    assert f"sessions_{last}.parquet" in said
    operations = read_verdict(shop.settings.warehouse_dir, "operations")
    orphans = [f for f in operations.failures if f.frame == "orphans"]
    assert len(orphans) == 1 and orphans[0].unexpected_count == 1
    assert f"delivered {ORPHAN_DAY}: {orphan_lines} lines of 10 orders" in orphans[0].examples[0]
    assert outcome.held_back == sorted(held)
    # the teams' held-back notices say it: the file, its rows, the day, what to do
    notices = {
        a["team"]: a["text"]
        for a in read_alerts(shop.settings)
        if a["kind"] == "held_back" and a["day"] == last.isoformat()
    }
    assert set(notices) == held - {"kpi_tree"}
    assert f"sessions_{last}.parquet" in notices["marketing"]
    assert f"{len(kept)} rows" in notices["marketing"]
    assert f"{orphan_lines} lines of 10 orders" in notices["operations"]
    assert "expect_" not in notices["marketing"] + notices["operations"]

    # the shop says the day is what it is: accepted in kpi.yaml, the day publishes
    config.write_text(
        json.dumps(
            {
                "locale": "en_US",
                "alerts": {"digest": False},
                "completeness": {"accept": {"sessions": [last.isoformat()]}},
            }
        )
    )
    again = night(shop, last, last)
    assert statuses(shop, again.run_id)["marketing"] == PUBLISHED
    # (the orphan shipment of that day still holds back the units that read shipments)
    assert again.held_back == ["kpi_tree", "logistics", "management"]
    assert again.exit_code == 1
