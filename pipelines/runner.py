"""Run the nightly job in this process, over one day or a range, as one Dagster run.

Used by the CLI (``kpi run``, ``kpi demo``) and the tests, with the Dagster instance the caller
gives: an ephemeral one (in memory, the CLI's default), or the one at ``$DAGSTER_HOME``
(``kpi run --record``; :func:`prepare_dagster_home`), whose runs ``dagster dev`` shows.
When the run is over, whatever its outcome, the board is drawn if the run replaced the
serving file (after runs the Dagster daemon launches, the board sensor does it). The outcome
says what became of each publication unit: published, held back by its gate (a data
failure), or skipped (the shop delivers nothing the unit can compute: not a failure).

A caller can follow the run as it goes (``listener``: every Dagster event, in the run's own
thread; `kpi run`'s progress display), and send what Dagster, dbt and the libraries print to
a log file (:func:`logs_to`; `kpi run` keeps one per run under ``<data dir>/logs/``), so a
terminal shows the progress and the outcome, not hundreds of log lines.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import dagster as dg

from kpi_tree.model import default_tree
from kpi_tree.units import gated_table, publication_units
from pipelines.alerts import outbox
from pipelines.alerts.delivery import DeliveryResult
from pipelines.alerts.failed import channels_of_route, failed_night
from pipelines.board.page import redraw_if_stale
from pipelines.i18n import use
from pipelines.partitions import check_days
from pipelines.publish.serving import FAILED, HELD_BACK, PUBLISHED, SKIPPED, read_log
from pipelines.quality import GATE_CHECK
from pipelines.settings import Settings

INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")


def prepare_dagster_home(settings: Settings) -> Path:
    """Point ``DAGSTER_HOME`` at the data directory (unless set) and give it our dagster.yaml."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home)))
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(INSTANCE_TEMPLATE, target)
    return home


def range_tags(start: dt.date, end: dt.date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat(),
    }


#: Dagster's run tag for a run whose asset events another system records (its "externally
#: managed" runs): the run writes no materialization or planned event, one per asset and
#: partition otherwise. A run in an ephemeral instance (`kpi run` without `--record`) keeps
#: none of them past its end, and nothing of the run reads them; its asset checks' results
#: are still recorded and read.
NO_ASSET_EVENTS = {"dagster/defer_asset_events": "true"}


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    error: str | None
    #: publication units whose quality gate failed (their last good publication stays)
    held_back: list[str] = field(default_factory=list)
    #: units published by the run
    published: list[str] = field(default_factory=list)
    #: units with nothing to publish: none of their KPIs can be computed from the sources
    #: the shop delivers (not a failure)
    skipped: list[str] = field(default_factory=list)
    #: per unit the run published or skipped, its KPIs not available: KPI id -> why
    not_available: dict[str, dict[str, str]] = field(default_factory=dict)
    #: a failed night's notices (the alert records sent to the owners and the operator)
    notices: list[dict] = field(default_factory=list)
    #: the earlier runs' undelivered alerts this run sent again, and how each went
    resent: list[DeliveryResult] = field(default_factory=list)
    #: where the run's log went (`kpi run`), if it went to a file
    log_file: Path | None = None
    #: the files the run refused at ingest (raw._refused: source, day, file, rule, message);
    #: the units reading their sources are held back, the rest published
    refused: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The pipeline worked: it succeeded, or only quality gates held units back."""
        return self.success or (self.error is None and bool(self.held_back))

    @property
    def exit_code(self) -> int:
        """0 when every unit was published or skipped for lack of sources; 1 when the run
        failed, a unit was held back or a file refused (a data failure someone must look
        at)."""
        return 0 if self.success and not self.refused else 1


def publications(settings: Settings, run_id: str) -> dict[str, dict]:
    """What the run did with each unit: its newest publication log entry of the run."""
    return {e["unit"]: e for e in read_log(settings) if e["run_id"] == run_id}


def refused_files(settings: Settings, run_id: str) -> list[dict]:
    """The files the run refused at ingest, as recorded in the build warehouse."""
    import duckdb

    from expectations.completeness import REFUSED
    from pipelines.queries import table_exists

    if not settings.build_db.exists():
        return []
    try:
        con = duckdb.connect(str(settings.build_db), read_only=True)
    except duckdb.Error:  # held by another program: the run's own error says so
        return []
    try:
        if not table_exists(con, *REFUSED):
            return []
        rows = con.execute(
            f"""select distinct source, partition_date, file, rule, message
            from {".".join(REFUSED)} where run_id = ? order by partition_date, source, file""",
            [run_id],
        ).fetchall()
    finally:
        con.close()
    keys = ("source", "day", "file", "rule", "message")
    return [dict(zip(keys, (s, d.isoformat(), f, r, m), strict=True)) for s, d, f, r, m in rows]


@dataclass(frozen=True)
class Unsettled:
    """What a plain ``kpi run`` has left to do (:func:`unsettled_deliveries`)."""

    #: the delivery dates with a file that no finished run loaded as it is now
    days: list[dt.date]
    #: kpi.yaml changed after the last finished run loaded its files: every day runs again
    config_changed: bool = False


def finished_runs(settings: Settings) -> set[str]:
    """The runs that reached every publication unit's verdict (published, held back or
    skipped): their files were loaded and judged. A run that stopped before (a failed step) or
    whose publication failed midway is not one of them."""
    by_run: dict[str, dict[str, str]] = {}  # each unit's newest status in the run
    for entry in read_log(settings):
        by_run.setdefault(entry["run_id"], {})[entry["unit"]] = entry["status"]
    units = publication_units(default_tree())
    judged = {PUBLISHED, HELD_BACK, SKIPPED}
    return {
        run_id
        for run_id, statuses in by_run.items()
        if all(statuses.get(unit) in judged for unit in units)
    }


def _utc(timestamp: float) -> dt.datetime:
    """A file time as the ledger keeps its times: UTC, without a zone."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(tzinfo=None)


def unsettled_deliveries(
    settings: Settings, landed: list[tuple[Path, dt.date]]
) -> Unsettled | None:
    """Which of the ``landed`` files' delivery dates (path, date) a plain ``kpi run`` must
    run: those with a file that no finished run (:func:`finished_runs`) loaded as it is now.
    A file is settled when the ledger's newest entry for it on its date (``raw._file_ledger``,
    or ``raw._refused`` for a file refused whole) is of a finished run and of the same size,
    and the file was not modified after it or still has the content it had then (a copy).
    ``None``: nothing was ever loaded, so every date runs.
    Days already loaded by a run that stopped midway run again; so does every day when
    kpi.yaml (the mapping, the zone, the vocabulary...) changed after the last finished run."""
    import duckdb

    from pipelines.ingest.load import LEDGER, REFUSED, sha256_of
    from pipelines.queries import table_exists

    if not settings.build_db.exists():
        return None
    done = finished_runs(settings)
    try:
        con = duckdb.connect(str(settings.build_db), read_only=True)
    except duckdb.Error:  # held by another program: the run's own error says so
        return None
    with con:
        if not table_exists(con, *LEDGER.split(".")):
            return None
        rows = con.execute(
            f"select partition_date, file, run_id, size_bytes, sha256, loaded_at from {LEDGER}"
        ).fetchall()
        if table_exists(con, *REFUSED.split(".")):
            rows += con.execute(
                f"select partition_date, file, run_id, null, null, refused_at from {REFUSED}"
            ).fetchall()
    latest: dict[tuple[dt.date, str], tuple] = {}
    for day, file, run_id, size, digest, at in rows:
        if (day, file) not in latest or at > latest[(day, file)][3]:
            latest[(day, file)] = (run_id, size, digest, at)
    last_loaded = max((e[3] for e in latest.values() if e[0] in done), default=None)
    if last_loaded is None:
        return None
    config = settings.config_file
    if config is not None and config.exists() and _utc(config.stat().st_mtime) > last_loaded:
        return Unsettled(days=sorted({day for _, day in landed}), config_changed=True)
    days = set()
    for path, day in landed:
        st = path.stat()
        rel = path.relative_to(settings.landing_dir).as_posix()
        run_id, size, digest, at = latest.get((day, rel), (None, None, None, None))
        if run_id not in done or (size is not None and size != st.st_size):
            days.add(day)
        elif _utc(st.st_mtime) > at and (digest is None or sha256_of(path) != digest):
            days.add(day)  # touched since: changed unless its content is the one loaded
    return Unsettled(days=sorted(days))


def _why(lines: list[str]) -> dict[str, str]:
    """ "conversion_rate: needs sessions" lines back into KPI id -> why."""
    return dict(line.split(": ", 1) for line in lines if ": " in line)


def logs_dir(settings: Settings) -> Path:
    return settings.data_dir / "logs"


def new_log_file(settings: Settings, run_id: str) -> Path:
    """Where a run's log goes: ``<data dir>/logs/run-<local time>-<run id>.log``."""
    stamp = dt.datetime.now(settings.tz).strftime("%Y%m%d-%H%M%S")
    return logs_dir(settings) / f"run-{stamp}-{run_id[:8]}.log"


class _Tee(io.TextIOBase):
    """Writes to several streams (the log file, and the terminal with --verbose)."""

    def __init__(self, *streams: TextIO) -> None:
        self._streams = streams

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()

    def isatty(self) -> bool:  # dbt and others colour only a terminal; a log gets plain text
        return False


@contextlib.contextmanager
def logs_to(path: Path, echo: TextIO | None = None) -> Iterator[TextIO]:
    """Everything printed inside the block (Dagster's console logger, dbt's output, warnings,
    Python logging) goes to the file ``path``, and also to ``echo`` when given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        stream: TextIO = _Tee(fh, echo) if echo is not None else fh  # type: ignore[assignment]
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        # Dagster's console logger writes its own lines to the (redirected) stderr already
        handler.addFilter(lambda record: not record.name.startswith("dagster"))
        root = logging.getLogger()
        level = root.level
        root.addHandler(handler)
        root.setLevel(min(level, logging.INFO) if level else logging.INFO)
        try:
            with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
                yield stream
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
            stream.flush()


def run_nightly(
    defs: dg.Definitions,
    start: dt.date,
    end: dt.date,
    instance: dg.DagsterInstance,
    log_level: str = "INFO",
    asset_selection: list[dg.AssetKey] | None = None,
    asset_events: bool = True,
    listener: Callable[[dg.EventLogEntry], None] | None = None,
    run_id: str | None = None,
) -> RunOutcome:
    """Execute the nightly job over ``start``..``end`` (inclusive) as a single run. Days that
    are not partitions raise :class:`~pipelines.partitions.OutsidePartitions` before any run
    starts (Dagster would fail every step on them, and retry). Without ``asset_events`` the
    run records no asset materializations (:data:`NO_ASSET_EVENTS`): for an instance that
    is thrown away after the run. ``listener`` gets every event of the run as it happens."""
    settings = defs.resources["warehouse"].settings()
    check_days(settings, start, end)
    job = defs.resolve_job_def("nightly")
    run_id = run_id or str(uuid.uuid4())
    if listener is not None:
        instance.add_event_listener(run_id, listener)
    result = job.execute_in_process(
        instance=instance,
        asset_selection=asset_selection,
        tags={**range_tags(start, end), **({} if asset_events else NO_ASSET_EVENTS)},
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        raise_on_error=False,
        run_id=run_id,
    )
    redraw_if_stale(settings)
    unit_of_gated = {tuple(gated_table(u)): u for u in publication_units(default_tree())}
    held_back = sorted(
        unit_of_gated[tuple(evaluation.asset_key.path)]
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.check_name == GATE_CHECK and not evaluation.passed
    )
    error = None
    step_key = None
    if not result.success:
        failures = [
            e
            for e in result.all_events
            if e.is_step_failure and not (e.step_key or "").endswith(f"_{GATE_CHECK}")
        ]
        if failures:
            step_key = failures[0].step_key
            data = failures[0].step_failure_data
            error = data.user_failure_data.description if data.user_failure_data else None
            error = error or data.error.message
        elif not held_back:
            error = "the run failed"
    entries = publications(settings, result.run_id)
    units = publication_units(default_tree())
    notices: list[dict] = []
    if error is not None:
        stopped = [u for u in units if entries.get(u, {}).get("status") in (None, FAILED)]
        logged = [u for u in stopped if u in entries]
        notices = tell_failed_night(
            settings, result.run_id, start, end, error, step_key, stopped, logged
        )
    # a held-back unit does not fail the run (its publish step records it), but the run did
    # not publish everything it was asked to; a skipped one had nothing to publish
    # after the night's own alerts, within what is left of the run's delivery budget
    resent = resend_undelivered(settings, result.run_id)
    return RunOutcome(
        result.run_id,
        result.success and not held_back,
        error,
        held_back,
        published=[u for u in units if entries.get(u, {}).get("status") == PUBLISHED],
        skipped=[u for u in units if entries.get(u, {}).get("status") == SKIPPED],
        not_available={
            u: _why(e.get("not_available") or [])
            for u, e in entries.items()
            if e["status"] != HELD_BACK and e.get("not_available")
        },
        notices=notices,
        resent=resent,
        refused=refused_files(settings, result.run_id),
    )


def resend_undelivered(settings: Settings, run_id: str) -> list[DeliveryResult]:
    """The earlier runs' undelivered alerts sent again (:mod:`pipelines.alerts.outbox`),
    within this run's delivery budget; a problem here never stops the night."""
    try:
        return outbox.resend(settings, channels_of_route, run_id)
    except Exception:  # noqa: BLE001 - the alerts are kept; the night goes on
        logging.getLogger(__name__).exception("the undelivered alerts could not be resent")
        return []
    finally:
        outbox.forget(run_id)


def tell_failed_night(
    settings: Settings,
    run_id: str,
    start: dt.date,
    end: dt.date,
    error: str,
    step_key: str | None,
    stopped: list[str],
    logged: list[str],
) -> list[dict]:
    """Log and tell a failed night (:mod:`pipelines.alerts.failed`); telling it never hides
    the failure itself, so a problem here is logged, not raised."""
    try:
        with use(settings.locale):
            return failed_night(
                settings, default_tree(), run_id, start, end, error, step_key, stopped, logged
            )
    except Exception:  # noqa: BLE001 - the run's own error is what the caller must see
        logging.getLogger(__name__).exception("the failed night could not be told")
        return []
