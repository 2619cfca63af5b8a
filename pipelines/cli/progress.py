"""`kpi run`'s live progress: the run's steps by stage, over the days it covers.

A night is one Dagster run of about thirty steps over every day of its window (a step covers
all the days at once: backfills run as one run). The display follows the run's events
(``pipelines.runner.run_nightly``'s listener): each stage (ingestion, dbt, targets, the quality
gates, publication, alerts) with its steps done, the step running now, what dbt has built,
and the time; it stays on screen as the run's first summary when the run is over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from pipelines.i18n import N_, _

#: the stages of a night, in order: (id, label, how a step key belongs to it)
STAGES = (
    ("ingest", N_("ingest files")),
    ("dbt", N_("build the tree (dbt)")),
    ("targets", N_("targets")),
    ("gates", N_("quality gates")),
    ("publish", N_("publish")),
    ("alerts", N_("alerts and digest")),
)
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def stage_of(step_key: str) -> str:
    """The stage a step of the nightly job belongs to, by its op's name."""
    if step_key.startswith("raw__"):
        return "ingest"
    if step_key.endswith("_gx_gate"):
        return "gates"
    if step_key.startswith("publish__"):
        return "publish"
    if step_key.startswith("alerts__"):
        return "alerts"
    if step_key == "targets":
        return "targets"
    return "dbt"


@dataclass
class _Stage:
    total: int = 0
    done: int = 0
    failed: int = 0
    running: set[str] = field(default_factory=set)
    started: float | None = None
    ended: float | None = None


def _short(step_key: str) -> str:
    """A step as a reader knows it: its source, team or model group."""
    for prefix in ("raw__", "publish__", "alerts__"):
        if step_key.startswith(prefix):
            return step_key.removeprefix(prefix)
    if step_key.endswith("_gx_gate"):
        return step_key.removesuffix("_gx_gate").split("__", 1)[0]
    return step_key


class RunProgress:
    """The state of a run as its events tell it, and its rendering (a rich renderable)."""

    def __init__(self, steps: Iterable[str], days: int) -> None:
        self.stages = {stage: _Stage() for stage, _label in STAGES}
        for step in steps:
            self.stages[stage_of(step)].total += 1
        self.days = days
        self.models = 0
        self.started = time.monotonic()
        self.finished: float | None = None
        self._lock = threading.Lock()

    # ---- events ---------------------------------------------------------------------------

    def __call__(self, event) -> None:
        """A Dagster event of the run (``EventLogEntry``)."""
        dagster_event = event.dagster_event
        if dagster_event is None or not event.step_key:
            return
        kind = dagster_event.event_type_value
        stage = self.stages[stage_of(event.step_key)]
        now = time.monotonic()
        with self._lock:
            if kind == "STEP_START":
                stage.running.add(event.step_key)
                stage.started = stage.started or now
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
                stage.running.discard(event.step_key)
                stage.done += 1
                stage.failed += kind == "STEP_FAILURE"
                if stage.done >= stage.total:
                    stage.ended = now
            elif kind == "ASSET_MATERIALIZATION" and stage_of(event.step_key) == "dbt":
                self.models += 1

    def finish(self) -> None:
        with self._lock:
            self.finished = time.monotonic()

    # ---- rendering ------------------------------------------------------------------------

    def _elapsed(self, start: float | None, end: float | None) -> str:
        if start is None:
            return ""
        seconds = int((end or time.monotonic()) - start)
        return f"{seconds // 60}:{seconds % 60:02d}"

    def __rich__(self) -> RenderableType:
        with self._lock:
            table = Table.grid(padding=(0, 1))
            table.add_column(width=2)
            table.add_column(no_wrap=True)
            table.add_column(justify="right", no_wrap=True)
            table.add_column(overflow="ellipsis", no_wrap=True, ratio=1)
            table.add_column(justify="right", no_wrap=True)
            tick = SPINNER[int(time.monotonic() * 8) % len(SPINNER)]
            for stage_id, label in STAGES:
                stage = self.stages[stage_id]
                if not stage.total:
                    continue
                if stage.failed:
                    mark = Text("✗", style="red")
                elif stage.done >= stage.total:
                    mark = Text("✓", style="green")
                elif stage.running or stage.started:
                    mark = Text(tick, style="cyan")
                else:
                    mark = Text("·", style="dim")
                now = ", ".join(sorted(_short(s) for s in stage.running))
                if stage_id == "dbt" and self.models:
                    now = (now + " · " if now else "") + _("{n} models built").format(n=self.models)
                table.add_row(
                    mark,
                    _(label),
                    f"{stage.done}/{stage.total}",
                    Text(now, style="dim"),
                    self._elapsed(stage.started, stage.ended),
                )
            total = sum(s.total for s in self.stages.values())
            done = sum(s.done for s in self.stages.values())
            bar = Table.grid(padding=(0, 1))
            bar.add_column(ratio=1)
            bar.add_column(no_wrap=True)
            bar.add_row(
                ProgressBar(total=max(total, 1), completed=done),
                _("{done}/{total} steps × {days} days · {time}").format(
                    done=done,
                    total=total,
                    days=self.days,
                    time=self._elapsed(self.started, self.finished),
                ),
            )
            return Group(table, bar)


def terminal_console(stream) -> Console:
    """A console on the real terminal stream, kept while the run's prints go to its log."""
    return Console(file=stream)
