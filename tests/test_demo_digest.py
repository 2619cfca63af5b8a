"""The demo's alerts section opens with the night's digest of the tree's top team."""

from __future__ import annotations

import datetime as dt
import json

from pipelines.alerts.digest import DIGEST_LOG
from pipelines.alerts.store import alerts_dir
from pipelines.cli.console import console
from pipelines.cli.demo import _print_top_digest
from pipelines.settings import load_settings


def test_the_demo_shows_the_top_teams_digest_of_the_night(tmp_path, monkeypatch):
    """A KPI still short is not alerted again each night; the management digest of the night
    lists it, so the demo shows that digest (that team's, that night's) before the alerts."""
    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    day = dt.date(2026, 6, 15)
    folder = alerts_dir(settings)
    folder.mkdir(parents=True)
    sent = [
        {"team": "management", "day": "2026-06-14", "title": "M 14", "text": "GMV short (14th)"},
        {"team": "marketing", "day": "2026-06-15", "title": "K 15", "text": "ROAS short"},
        {"team": "management", "day": "2026-06-15", "title": "M 15", "text": "GMV short (15th)"},
    ]
    (folder / DIGEST_LOG).write_text("".join(json.dumps(d) + "\n" for d in sent), encoding="utf-8")
    with console.capture() as captured:
        _print_top_digest(settings, day)
    said = captured.get()
    assert "M 15" in said and "GMV short (15th)" in said
    assert "14th" not in said and "ROAS" not in said
    with console.capture() as captured:
        _print_top_digest(settings, dt.date(2026, 6, 16))  # no digest that night: nothing
    assert captured.get() == ""
