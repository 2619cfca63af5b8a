"""Load validated files into the build warehouse: raw tables, quarantine, file ledger.

Each delivery day (partition) of a source is replaced whole: its previous rows, quarantine entries
and ledger entries are deleted and the day's files loaded again, so re-running a day gives the
same rows (docs/architecture.md, invariant 3). The ledger records the business dates each file's
rows fall on, which a run then covers (pipelines/partitions.py). A step commits several days at
a time (:class:`DayLoader`); a day that fails leaves the days before it committed and nothing of
its own changed. A file whose content hash was already loaded (under any name or day) is
recorded as a duplicate and skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter, namedtuple
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from pipelines.ingest.contracts import SOURCE_SPECS, Timestamp
from pipelines.ingest.landing import content_sha256, is_delivery
from pipelines.ingest.mapping import SPREAD_FROM, spreadable
from pipelines.ingest.validate import (
    DATE_IN_NAME,
    FILE_COLUMN,
    ROW,
    ROW_KEY,
    TOGETHER_BYTES,
    SchemaMismatch,
    Validated,
    contract_dtypes,
    row_key,
    validate_file,
    validate_files,
)
from pipelines.settings import Settings

RAW_SCHEMA = "raw"
QUARANTINE = f"{RAW_SCHEMA}._quarantine"
LEDGER = f"{RAW_SCHEMA}._file_ledger"
#: the files a run refused (docs/sources.md, "A refused file"): one row per file and run
REFUSED = f"{RAW_SCHEMA}._refused"
#: the ledger's columns, in its order: the table (:func:`ensure_tables`) and the rows a loader
#: inserts (:class:`LedgerRow`) are made from it
LEDGER_COLUMNS: dict[str, pl.DataType] = {
    "source": pl.String,
    "partition_date": pl.Date,
    "file": pl.String,
    "sha256": pl.String,
    "size_bytes": pl.Int64,
    "status": pl.String,  # loaded | duplicate | rejected | empty (no rows: not a delivery)
    "duplicate_of": pl.String,
    "rows_in": pl.Int64,
    "rows_loaded": pl.Int64,
    "rows_quarantined": pl.Int64,
    "loaded_at": pl.Datetime("us"),
    "run_id": pl.String,
    # the business dates the file's loaded rows fall on, first and last (an order line's are
    # its order's); null when it loaded none. A run covers them (pipelines/partitions.py).
    "first_business_date": pl.Date,
    "last_business_date": pl.Date,
}
LEDGER_REQUIRED = {"source", "partition_date", "file", "sha256", "status", "loaded_at"}
#: one row of the ledger
LedgerRow = namedtuple("LedgerRow", list(LEDGER_COLUMNS))  # noqa: PYI024


#: DuckDB checkpoints (compresses and writes the tables) once its write-ahead log passes this
#: size, checked at each commit. DuckDB's default is a few days of a mid-sized shop, and each
#: checkpoint compresses again the row groups still filling: small commits would recompress
#: the same rows many times. A step's connection checkpoints once more when it closes.
LOAD_CHECKPOINT_THRESHOLD = "256MB"


class BadBatch(RuntimeError):
    """A file's share of bad rows is above the threshold: the batch is rejected."""

    def __init__(self, message: str, file: str):
        super().__init__(message)
        self.file = file


class BeforePartitionsStart(ValueError):
    """A file's rows fall on business dates before ``partitions_start``, where the
    warehouse's days begin: nothing of its day is loaded, and the setting is to change."""

    def __init__(self, file: str, earliest: dt.date, settings: Settings):
        self.file, self.earliest = file, earliest
        config = settings.config_file or "kpi.yaml"
        super().__init__(
            f"{file}: its rows begin on business date {earliest}, before partitions_start "
            f"({settings.partitions_start}), where the warehouse's days begin. Set "
            f"partitions_start: {earliest} (or earlier) in {config} and run again."
        )


def _sql_type(dtype: pl.DataType) -> str:
    if dtype == Timestamp:
        return "TIMESTAMP"
    if dtype == pl.Date:
        return "DATE"
    if dtype.is_integer():
        return "BIGINT"
    if dtype.is_float():
        return "DOUBLE"
    return "VARCHAR"


def _columns_of(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, name = table.split(".")
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        ).fetchall()
    ]


def _add_if_missing(con: duckdb.DuckDBPyConnection, table: str, have: list[str], column: str):
    """A column added to a table since a warehouse may have been built: added at its end,
    null in the rows loaded before (nothing to load again)."""
    if column.split(" ")[0] not in have:
        con.execute(f"alter table {table} add column {column}")
        have.append(column.split(" ")[0])


def ensure_tables(con: duckdb.DuckDBPyConnection, sources: list[str]) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    con.execute(
        f"""create table if not exists {QUARANTINE} (
            source varchar not null, partition_date date not null, file varchar not null,
            row_number bigint not null, column_name varchar, check_name varchar not null,
            value varchar, loaded_at timestamp not null, run_id varchar,
            {FILE_COLUMN} varchar)"""
    )
    have = _columns_of(con, QUARANTINE)
    _add_if_missing(con, QUARANTINE, have, f"{FILE_COLUMN} varchar")
    _add_if_missing(con, QUARANTINE, have, f"{ROW_KEY} varchar")
    ledger = ", ".join(
        f"{name} {_sql_type(dtype)}" + (" not null" if name in LEDGER_REQUIRED else "")
        for name, dtype in LEDGER_COLUMNS.items()
    )
    con.execute(f"create table if not exists {LEDGER} ({ledger})")
    con.execute(
        f"""create table if not exists {REFUSED} (
            run_id varchar, source varchar not null, partition_date date not null,
            file varchar not null, rule varchar not null, message varchar not null,
            refused_at timestamp not null)"""
    )
    for name in ("first_business_date", "last_business_date"):  # a ledger that predates them
        con.execute(f"alter table {LEDGER} add column if not exists {name} date")
    for source in sources:
        cols = [f'"{n}" {_sql_type(t)}' for n, t in contract_dtypes(source).items()]
        if SOURCE_SPECS[source].business_date:
            cols.append("business_date date")
        cols += [
            "_partition_date date not null",
            "_file varchar not null",
            "_row bigint not null",
            "_loaded_at timestamp not null",
            "_run_id varchar",
        ]
        if spreadable(SOURCE_SPECS[source]):  # a weekly or monthly row's days: week, month
            cols.append(f"{SPREAD_FROM} varchar")
        table = f"{RAW_SCHEMA}.{source}"
        con.execute(f"create table if not exists {table} ({', '.join(cols)})")
        have = _columns_of(con, table)
        if spreadable(SOURCE_SPECS[source]):
            _add_if_missing(con, table, have, f"{SPREAD_FROM} varchar")
        want = [c.split(" ")[0].strip('"') for c in cols]
        if have != want:
            raise RuntimeError(
                f"{table} in the build warehouse has the columns {have}, but the "
                f"contract now gives {want}. The warehouse predates a contract change: move "
                "data/warehouse/build.duckdb aside and run the range again (`kpi run`)."
            )


def undated_delivery_day(mtime_ns: int, zone: str) -> dt.date:
    """The delivery date of a file whose name has no date: the last complete business day
    when it was written (its modification time), so that a run can load it at once. Written
    on 16 June, at any hour, it is a delivery of 15 June, the day the nightly run of the
    16th covers (docs/sources.md, "Files")."""
    written = dt.datetime.fromtimestamp(mtime_ns / 1e9, tz=ZoneInfo(zone))
    return written.date() - dt.timedelta(days=1)


def landed_by_day(landing: Path, source: str, zone: str) -> dict[str, list[Path]]:
    """The files of ``source`` in the landing folder, by their delivery date (ISO text): the
    date in their name, or for a name without one :func:`undated_delivery_day` in the
    business zone ``zone``; each day's by name. The folder is listed once: a step lists it
    when it starts, not once a day (each listing reads every file name of the year)."""
    folder = landing / source
    by_day: dict[str, list[Path]] = {}
    if not folder.is_dir():
        return by_day
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if not is_delivery(name) or not entry.is_file():
                continue
            if m := DATE_IN_NAME.search(name):
                day = m.group(0)
            else:
                day = undated_delivery_day(entry.stat().st_mtime_ns, zone).isoformat()
            by_day.setdefault(day, []).append(folder / name)
    for paths in by_day.values():
        paths.sort()
    return by_day


def tune_for_loading(con: duckdb.DuckDBPyConnection) -> None:
    """Settings for a connection that loads many days: checkpoint less often."""
    con.execute(f"set checkpoint_threshold = '{LOAD_CHECKPOINT_THRESHOLD}'")


def files_for_day(landing: Path, source: str, day: dt.date, zone: str) -> list[Path]:
    """The files of ``source`` delivered on ``day`` (:func:`landed_by_day`), by name."""
    return landed_by_day(landing, source, zone).get(day.isoformat(), [])


def file_signature(path: Path) -> tuple[int, ...]:
    """What changes when a file is written or replaced: its size, change and modification
    times (nanoseconds) and inode. Equal signatures mean the content read is still there,
    unless the file was written in the last :data:`RECENTLY_WRITTEN_NS` (see there)."""
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


#: a file's times come from a clock that advances in ticks of a few milliseconds: a file
#: written again within the tick of its last write keeps its times, and at the same size its
#: signature. A file written less than this long before the read-ahead looks at it is hashed
#: again when its day loads, whatever its signature (as git treats a "racily clean" file).
RECENTLY_WRITTEN_NS = 1_000_000_000


def _settled(signature: tuple[int, ...], now_ns: int) -> bool:
    """Whether the file of ``signature`` was last written long enough before ``now_ns`` (the
    wall clock, in nanoseconds, as file times count) to trust it."""
    return max(signature[1], signature[2]) < now_ns - RECENTLY_WRITTEN_NS


def sha256_of(path: Path) -> str:
    """The hash the ledger knows a file's content by (a compressed file's is the content it
    holds: pipelines/ingest/landing.py)."""
    return content_sha256(path)


@dataclass
class FileResult:
    file: str
    status: str  # loaded | duplicate | rejected | empty
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    duplicate_of: str | None = None
    top_reasons: list[tuple[str, int]] = field(default_factory=list)
    #: the business dates its loaded rows fall on, first and last (None: none loaded)
    first_business_date: dt.date | None = None
    last_business_date: dt.date | None = None
    #: its timestamp columns read in the business zone for want of a declared one
    zone_assumed: tuple[str, ...] = ()


@dataclass
class DayResult:
    source: str
    day: dt.date
    files: list[FileResult]

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def delivered(self) -> bool:
        """Whether the day has a file of rows (an empty one, a header at most, is none)."""
        return any(f.status != "empty" for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)


def _top_reasons(bad: pl.DataFrame, n: int = 3) -> list[tuple[str, int]]:
    counts = Counter(f"{c}: {k}" for c, k in zip(bad["column"], bad["check"], strict=True))
    return counts.most_common(n)


@dataclass(frozen=True)
class ReadAheadFile:
    """What the read-ahead worker made of one file: its signature (None if the file changed
    while the worker read it, or had just been written), the hash of its content, and the
    file validated (or why not)."""

    signature: tuple[int, ...] | None
    digest: str
    checked: Validated | SchemaMismatch

    def validated(self) -> Validated:
        if isinstance(self.checked, SchemaMismatch):
            raise self.checked
        return self.checked


#: below this median size, a step's files are validated by two threads, not one. A small
#: file's checks are mostly fixed costs (Python building the queries, each query's start) that
#: one thread runs one after another, so a second thread overlaps them; a large file's
#: queries already use both cores, and a second thread only competes with them
#: (docs/performance.md has the measurements).
SMALL_FILE_BYTES = 4 << 20
#: the days whose files' sizes decide the number of threads (the first of the step's)
SIZE_SAMPLE_DAYS = 7
#: at most this many days' small files are validated together (and at most
#: :data:`~pipelines.ingest.validate.TOGETHER_BYTES`): a quarter, so that a small shop's
#: history is typed and checked in a few frames, not a frame a month
TOGETHER_DAYS = 92


def read_ahead_workers(sample: list[Path]) -> int:
    """Threads to validate files like ``sample`` with: 2 if they are small, else 1."""
    sizes = sorted(path.stat().st_size for path in sample)
    return 2 if sizes and sizes[len(sizes) // 2] < SMALL_FILE_BYTES else 1


class ReadAhead:
    """Validates the files of the days to come in worker threads while the current day is
    written: polars and DuckDB both release the GIL, so reading and checking day *n + 1*
    overlaps writing day *n*. At most ``depth`` days wait validated in memory. Small files
    are validated by two threads, large ones by one (:func:`read_ahead_workers`).

    An error of a file (:class:`~pipelines.ingest.validate.SchemaMismatch`) is raised when
    its day asks for it, so days load and fail in the same order as without reading ahead.
    The worker hashes each file before reading it, and notes its :func:`file_signature`
    before the hash and after the read. When its day loads, a file whose signature is still
    the same is taken with the worker's hash, not hashed again on the writing thread; a file
    that changed in between (a landing file rewritten) is hashed and validated again, and so
    is a file written just before the worker read it (:data:`RECENTLY_WRITTEN_NS`). Either
    way the rows loaded are those of the content whose hash the ledger records.

    The source's folder is listed once, when the read-ahead starts: the step loads the files
    landed by then. A file landing later for a day of the step is the landing sensor's: it
    starts a run for that day (``pipelines/sensors.py``).
    """

    def __init__(
        self,
        settings: Settings,
        source: str,
        days: list[dt.date],
        depth: int = 1,
        workers: int | None = None,
        clock: Callable[[], int] = time.time_ns,
    ):
        self._settings, self._source, self._depth = settings, source, depth
        #: the wall clock (nanoseconds) a file's times are compared with (:func:`_settled`)
        self._clock = clock
        self._days = sorted(set(days))
        self._submitted = 0  # days[:_submitted] are submitted
        #: each submitted file's job (one job may validate several files together)
        self._pending: dict[Path, Future[dict[Path, ReadAheadFile]]] = {}
        self._landed = landed_by_day(
            settings.landing_dir, settings.source(source).folder, settings.business_timezone
        )
        #: threads validating files (see :func:`read_ahead_workers`)
        self.workers = workers or read_ahead_workers(
            [path for day in self._days[:SIZE_SAMPLE_DAYS] for path in self.files(day)]
        )
        self._pool = ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix=f"read-{source}"
        )

    def files(self, day: dt.date) -> list[Path]:
        """The files of ``day`` as the folder was listed when the read-ahead started."""
        return self._landed.get(day.isoformat(), [])

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit_through(self, last: int) -> None:
        """Submit the files of the days up to ``days[last]`` not submitted yet, and when they
        are small, the next batch of days too (one batch waits ahead of the writer)."""
        needed = self._submitted <= last
        batched = False
        while self._submitted <= last:
            batched = self._submit_next() > 1 or batched
        if needed and batched and self._submitted < len(self._days):
            self._submit_next()

    def _submit_next(self) -> int:
        """Submit the next days' files: one day's, each file alone, or, when the files are
        small (under :data:`SMALL_FILE_BYTES` each), consecutive days' together, up to
        :data:`~pipelines.ingest.validate.TOGETHER_BYTES` and :data:`TOGETHER_DAYS`
        (:func:`~pipelines.ingest.validate.validate_files`). Returns the days submitted."""
        first = self._submitted
        chunk: list[Path] = []
        size = n = 0
        while first + n < len(self._days) and n < TOGETHER_DAYS:
            paths = self.files(self._days[first + n])
            sizes = [path.stat().st_size for path in paths]
            if any(b >= SMALL_FILE_BYTES for b in sizes) or (
                n and size + sum(sizes) > TOGETHER_BYTES
            ):
                break
            chunk += paths
            size += sum(sizes)
            n += 1
        if n <= 1:  # large files, or a day's that fill a batch alone: each file alone
            n = 1
            for path in self.files(self._days[first]):
                self._pending[path] = self._pool.submit(self._hash_and_validate, [path])
        elif chunk:
            job = self._pool.submit(self._hash_and_validate, chunk)
            for path in chunk:
                self._pending[path] = job
        self._submitted = first + n
        return n

    def start(self, day: dt.date) -> None:
        """``day`` is being loaded: its files and the next ``depth`` days' are validating."""
        if day in self._days:
            self._submit_through(min(self._days.index(day) + self._depth, len(self._days) - 1))

    def _hash_and_validate(self, paths: list[Path]) -> dict[Path, ReadAheadFile]:
        before = {path: file_signature(path) for path in paths}
        digests = {path: sha256_of(path) for path in paths}
        landing = self._settings.landing_dir
        checked = validate_files(
            [(path, path.relative_to(landing).as_posix()) for path in paths],
            self._source,
            self._settings.source(self._source),
            self._settings.business_timezone,
        )
        out = {}
        for path, result in zip(paths, checked, strict=True):
            # a SchemaMismatch is raised when the day asks for the file, if not a duplicate
            trusted = _settled(before[path], self._clock()) and file_signature(path) == before[path]
            out[path] = ReadAheadFile(before[path] if trusted else None, digests[path], result)
        return out

    def take(self, path: Path) -> tuple[str, ReadAheadFile | None]:
        """The hash of ``path``'s content and, when the worker read that content, what the
        worker made of it. The hash is the worker's while the file's signature is the one it
        read; otherwise (not a file of a started day, or changed since) it is computed here,
        and None says the file is still to be validated."""
        future = self._pending.pop(path, None)
        if future is not None:
            read = future.result()[path]
            if read.signature is not None and read.signature == file_signature(path):
                return read.digest, read
        return sha256_of(path), None


def _validate(settings: Settings, source: str, path: Path) -> Validated:
    rel = path.relative_to(settings.landing_dir).as_posix()
    return validate_file(path, source, settings.source(source), settings.business_timezone, rel)


#: A step's transaction commits once it holds this many raw rows (four of DuckDB's row groups
#: of 122,880 rows), or :data:`COMMIT_DAYS` days, whichever comes first. DuckDB writes each
#: row group a transaction fills once, compressed, while the transaction runs; rows that do
#: not fill one go to its write-ahead log at the commit and are compressed again at the next
#: checkpoint: committing day by day would pay for a large shop's days twice. A small shop's
#: days fill a row group only many together, hence a year's days.
COMMIT_ROWS = 4 * 122_880
COMMIT_DAYS = 366
#: a file with fewer good rows than this (a small shop's) is inserted with the other such
#: files of its transaction, in one statement when the transaction commits; a larger one at
#: once, as it comes (its constant columns DuckDB's to add, not built in polars first)
SMALL_INSERT_ROWS = 50_000

#: days a step's read-ahead validates beyond the one being written: while a transaction's
#: last day commits, the next days' checks go on, so the writer does not wait for them
READ_AHEAD_DAYS = 3


def utc_now() -> dt.datetime:
    """The time a day is loaded at, as the ledger and the raw rows record it (naive UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class _LedgerView:
    """What a :class:`DayLoader` asks of the file ledger, read once when its transaction
    begins and kept up to date as it writes: the loaded files by content hash, and the days
    of its source on record. The ledger's rows of the days written are inserted together,
    before the transaction commits (:meth:`flush`).

    The lookups and the insert are paid once per transaction, not once per file; a loader's
    connection is the warehouse's only writer while it runs (one step at a time holds the
    warehouse), so what it read stays true.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, source: str):
        self._source = source
        #: content hash -> the loaded files with it: (source, day, file)
        self._loaded: dict[str, list[tuple[str, dt.date, str]]] = {}
        #: the source's days on record -> the content hashes of their loaded files
        self._days: dict[dt.date, set[str]] = {}
        # a file loaded by another source is not a copy: one export may feed two sources
        for digest, src, day, file, status in con.execute(
            f"select sha256, source, partition_date, file, status from {LEDGER} where source = ?",
            [source],
        ).fetchall():
            if status == "loaded":
                self._loaded.setdefault(digest, []).append((src, day, file))
            self._days.setdefault(day, set())
            if status == "loaded":
                self._days[day].add(digest)
        self._pending: list[LedgerRow] = []

    def duplicate_of(self, digest: str, day: dt.date) -> str | None:
        """The first file (by name) loaded with this content, but for ``day``'s own, which
        the day replaces."""
        return min(
            (f for src, d, f in self._loaded.get(digest, ()) if (src, d) != (self._source, day)),
            default=None,
        )

    def on_record(self, day: dt.date) -> bool:
        """Whether the ledger has entries (of any status) for ``day`` of the source."""
        return day in self._days

    def replace_day(self, day: dt.date, rows: list[LedgerRow]) -> None:
        """``day``'s entries are now ``rows``: the old ones were deleted from the ledger;
        these are inserted at the next :meth:`flush`."""
        mine = (self._source, day)
        for digest in self._days.pop(day, ()):
            entries = self._loaded[digest]
            entries[:] = [e for e in entries if e[:2] != mine]
        self._pending = [r for r in self._pending if r.partition_date != day]
        self._days[day] = set()
        for row in rows:
            if row.status == "loaded":
                self._loaded.setdefault(row.sha256, []).append((*mine, row.file))
                self._days[day].add(row.sha256)
        self._pending += rows

    def date(self, day: dt.date, file: str, first: dt.date | None, last: dt.date | None):
        """The business dates of ``day``'s entry of ``file``, found after it was written."""
        self._pending = [
            r._replace(first_business_date=first, last_business_date=last)
            if (r.partition_date, r.file) == (day, file)
            else r
            for r in self._pending
        ]

    def flush(self, con: duckdb.DuckDBPyConnection) -> None:
        """Insert the entries of the days written since the last flush."""
        if not self._pending:
            return
        _ledger_rows = pl.DataFrame(self._pending, schema=LEDGER_COLUMNS, orient="row")
        con.execute(f"insert into {LEDGER} by name select * from _ledger_rows")
        self._pending = []


@dataclass
class _DayFile:
    """One file of a day, hashed and (unless a duplicate) validated, nothing written yet."""

    rel: str
    digest: str
    size: int
    duplicate_of: str | None = None
    checked: Validated | None = None
    status: str = "duplicate"


class DayLoader:
    """Replaces the partitions of ``source`` day after day, several days per transaction.

    Each :meth:`load` replaces one day in the open transaction (its raw rows, quarantine and ledger
    entries deleted, its files loaded again; re-running a day gives the same rows,
    docs/architecture.md, invariant 3). The transaction commits once it holds :data:`COMMIT_ROWS`
    raw rows or :data:`COMMIT_DAYS` days, and when the loader closes. A day's files are all hashed
    and validated before anything of the day is written, so a day that fails fails alone:

    - :class:`~pipelines.ingest.validate.SchemaMismatch`: the days before it are committed and
      nothing of the day changes;
    - :class:`BadBatch`: the day is written with its rejected file on record and committed
      with the days before it, then the error is raised.

    Any other error rolls the open transaction back: the days since the last commit are
    written again by the step's next attempt. ``ahead`` gives the files already validated
    (and starts on the next days').
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        settings: Settings,
        source: str,
        run_id: str | None = None,
        ahead: ReadAhead | None = None,
        now: Callable[[], dt.datetime] = utc_now,
        commit_rows: int = COMMIT_ROWS,
        commit_days: int = COMMIT_DAYS,
    ):
        self._con, self._settings, self._source = con, settings, source
        self._run_id, self._ahead, self._now = run_id, ahead, now
        self._commit_rows, self._commit_days = commit_rows, commit_days
        self._open = False
        self._ledger: _LedgerView | None = None  # read when a transaction begins
        self._rows = self._days = 0
        #: the files written in the open transaction whose rows are dated by the rows they
        #: belong to (order lines by their orders), with their day and keys: their business
        #: dates are looked up for all of them at once when it commits (:func:`parent_dates`)
        self._undated: list[tuple[FileResult, dt.date, pl.Series]] = []
        #: the good rows of the transaction's small files, with their day, file and time of
        #: loading, inserted together before it commits (:meth:`_insert_unwritten`)
        self._unwritten: list[tuple[pl.DataFrame, dt.date, str, dt.datetime]] = []
        #: transactions committed so far
        self.commits = 0
        #: the first and last business date a row may carry (:func:`out_of_range`)
        self._first = dt.date.fromisoformat(settings.partitions_start)
        self._horizon = settings.date_horizon()

    def __enter__(self) -> DayLoader:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        elif self._open:
            self._rollback()

    def commit(self) -> None:
        """Commit the days loaded since the last commit."""
        if self._open:
            assert self._ledger is not None
            try:
                self._insert_unwritten()
                self._date_undated()
                self._ledger.flush(self._con)
            except BaseException:
                self._rollback()
                raise
            self._con.execute("commit")
            self._open = False
            self._rows = self._days = 0
            self.commits += 1

    def _date_undated(self) -> None:
        """Give the transaction's files dated by other rows their business dates, in their
        results and their ledger entries."""
        if not self._undated:
            return
        assert self._ledger is not None
        found = parent_dates(self._con, self._source, [(d, k) for _, d, k in self._undated])
        for (result, day, _), (first, last) in zip(self._undated, found, strict=True):
            result.first_business_date, result.last_business_date = first, last
            self._ledger.date(day, result.file, first, last)
        self._undated = []

    def _insert_unwritten(self) -> None:
        """Insert the transaction's small files' good rows, in one statement: each insert
        is a query with a fixed cost, and a small shop's files are a few hundred rows."""
        if not self._unwritten:
            return
        unwritten, self._unwritten = self._unwritten, []
        # each file's day, name and time of loading on each of its rows, made for all the
        # files at once: a column added file by file is a query per file
        constants = pl.DataFrame(
            {
                "_partition_date": [day for _, day, _, _ in unwritten],
                "_file": [rel for _, _, rel, _ in unwritten],
                "_loaded_at": [at for _, _, _, at in unwritten],
                "_n": [good.height for good, _, _, _ in unwritten],
            },
            schema={
                "_partition_date": pl.Date,
                "_file": pl.String,
                "_loaded_at": pl.Datetime("us"),
                "_n": pl.Int64,
            },
        ).select(pl.exclude("_n").repeat_by("_n").explode())
        # the frame is found by its variable's name (DuckDB's replacement scan)
        _good_rows = pl.concat([good for good, *_ in unwritten], how="vertical").hstack(constants)
        self._con.execute(
            f"insert into {RAW_SCHEMA}.{self._source} by name "
            "select *, ?::varchar as _run_id from _good_rows",
            [self._run_id],
        )

    def _rollback(self) -> None:
        self._unwritten = []
        self._undated = []
        self._open = False
        self._ledger = None  # what it kept is rolled back: read it again
        self._rows = self._days = 0
        self._con.execute("rollback")

    def load(self, day: dt.date) -> DayResult:
        """Replace partition ``day`` with the day's files (see the class for its failures)."""
        if not self._open:
            self._con.execute("begin transaction")
            self._open = True
        try:
            if self._ledger is None:
                self._ledger = _LedgerView(self._con, self._source)
            files = self._prepare(day)
        except (SchemaMismatch, BeforePartitionsStart):
            self.commit()  # the days before it; nothing of this day was written
            raise
        except BaseException:
            self._rollback()
            raise
        try:
            result = self._write(day, files)
        except BaseException:
            self._rollback()
            raise
        self._rows += result.rows_loaded
        self._days += 1
        rejected = [f for f in result.files if f.status == "rejected"]
        if rejected:
            self.commit()
            first = rejected[0]
            reasons = "; ".join(f"{reason} ({n})" for reason, n in first.top_reasons)
            threshold = self._settings.bad_row_threshold
            raise BadBatch(
                f"{first.file}: {first.rows_quarantined} of {first.rows_in} rows are bad "
                f"({first.rows_quarantined / first.rows_in:.1%} > threshold {threshold:.1%}); "
                f"the file was not loaded. Top reasons: {reasons}. "
                f"See {QUARANTINE} (source='{self._source}', file='{first.file}').",
                file=first.file,
            )
        if self._rows >= self._commit_rows or self._days >= self._commit_days:
            self.commit()
        return result

    def _prepare(self, day: dt.date) -> list[_DayFile]:
        """The day's files, hashed, each a duplicate of a loaded file or validated. Reads the
        ledger, writes nothing; raises the first file's SchemaMismatch that is not a
        duplicate."""
        settings, source, ahead = self._settings, self._source, self._ahead
        landing = settings.landing_dir
        if ahead:
            ahead.start(day)
        taken = []
        folder, zone = settings.source(source).folder, settings.business_timezone
        for path in ahead.files(day) if ahead else files_for_day(landing, folder, day, zone):
            digest, read = ahead.take(path) if ahead else (sha256_of(path), None)
            taken.append((path, digest, read))
        assert self._ledger is not None
        known: dict[str, str] = {}  # the day's files loaded so far, by content
        files = []
        for path, digest, read in taken:
            rel = path.relative_to(landing).as_posix()
            first = known.get(digest) or self._ledger.duplicate_of(digest, day)
            file = _DayFile(rel, digest, path.stat().st_size, first)
            if file.duplicate_of is None:
                checked = read.validated() if read else _validate(settings, source, path)
                _check_start(settings, rel, checked)
                checked = out_of_range(checked, source, self._first, self._horizon)
                share = checked.bad_rows / checked.rows_in if checked.rows_in else 0.0
                file.checked = checked
                file.status = "rejected" if share > settings.bad_row_threshold else "loaded"
                if not checked.rows_in:  # no rows (a header at most): not a delivery
                    file.status = "empty"
                if file.status == "loaded":  # a later file of the day with this content
                    known[digest] = rel
            files.append(file)
        return files

    def _write(self, day: dt.date, files: list[_DayFile]) -> DayResult:
        con, source, run_id, ledger = self._con, self._source, self._run_id, self._ledger
        assert ledger is not None
        loaded_at = self._now()
        # a day's raw and quarantine rows are only ever written with its ledger rows, in one
        # transaction: a day the ledger has never seen has nothing to delete (no deletes on
        # the first load of a day)
        if ledger.on_record(day):
            con.execute(f"delete from {RAW_SCHEMA}.{source} where _partition_date = ?", [day])
            con.execute(
                f"delete from {QUARANTINE} where source = ? and partition_date = ?", [source, day]
            )
            con.execute(
                f"delete from {LEDGER} where source = ? and partition_date = ?", [source, day]
            )
        # the day written again in the transaction: its rows not inserted yet are replaced too
        self._undated = [u for u in self._undated if u[1] != day]
        self._unwritten = [u for u in self._unwritten if u[1] != day]
        results: list[FileResult] = []
        entries: list[LedgerRow] = []  # the day's ledger rows
        for f in files:
            if f.checked is None:
                result = FileResult(f.rel, "duplicate", duplicate_of=f.duplicate_of)
            else:
                result = self._write_file(day, f, f.checked, loaded_at)
            entries.append(
                LedgerRow(
                    source=source,
                    partition_date=day,
                    file=f.rel,
                    sha256=f.digest,
                    size_bytes=f.size,
                    status=result.status,
                    duplicate_of=result.duplicate_of,
                    rows_in=result.rows_in,
                    rows_loaded=result.rows_loaded,
                    rows_quarantined=result.rows_quarantined,
                    loaded_at=loaded_at,
                    run_id=run_id,
                    first_business_date=result.first_business_date,
                    last_business_date=result.last_business_date,
                )
            )
            results.append(result)
        ledger.replace_day(day, entries)
        return DayResult(source, day, results)

    def _write_file(
        self, day: dt.date, f: _DayFile, checked: Validated, loaded_at: dt.datetime
    ) -> FileResult:
        """Insert a validated file's good rows (unless it is rejected) and its quarantine."""
        con, source, run_id = self._con, self._source, self._run_id
        result = FileResult(
            f.rel,
            f.status,
            rows_in=checked.rows_in,
            rows_loaded=checked.good.height if f.status == "loaded" else 0,
            rows_quarantined=checked.bad_rows,
            top_reasons=_top_reasons(checked.bad),
            zone_assumed=checked.zone_assumed,
        )
        # the frames are found by their variable's name (DuckDB's replacement scan, which
        # looks in this function's frame: call `execute` here, not through a wrapper); a
        # registered view is a change to the catalog, a cost every small file would pay
        if checked.bad.height:
            _bad_rows = checked.bad.rename({"column": "column_name", "check": "check_name"})
            con.execute(
                f"insert into {QUARANTINE} by name "
                "select ? as source, ?::date as partition_date, ? as file, row_number, "
                f"column_name, check_name, value, ?::timestamp as loaded_at, ? as run_id, "
                f"{FILE_COLUMN}, {ROW_KEY} from _bad_rows",
                [source, day, f.rel, loaded_at, run_id],
            )
        if f.status == "loaded" and checked.good.height >= SMALL_INSERT_ROWS:
            # by name: the frame's row numbers are `_row` (validate.ROW); the file's
            # constants are DuckDB's to add, not columns built in polars first
            _good_rows = checked.good
            con.execute(
                f"insert into {RAW_SCHEMA}.{source} by name "
                "select *, ?::date as _partition_date, "
                "? as _file, ?::timestamp as _loaded_at, ?::varchar as _run_id "
                "from _good_rows",
                [day, f.rel, loaded_at, run_id],
            )
        elif f.status == "loaded" and checked.good.height:
            self._unwritten.append((checked.good, day, f.rel, loaded_at))
        if f.status == "loaded" and checked.good.height:
            spec = SOURCE_SPECS[source]
            if "business_date" not in checked.good.columns and spec.dated_by is not None:
                self._undated.append((result, day, checked.good[spec.dated_by[1]]))
            else:
                dates = business_dates(con, source, day, checked.good)
                result.first_business_date, result.last_business_date = dates
        return result


def out_of_range(checked: Validated, source: str, first: dt.date, horizon: dt.date) -> Validated:
    """``checked`` with its rows dated before ``first`` (partitions_start, rule
    ``business_date >= first``) or after ``horizon`` (rule ``business_date <= horizon``)
    quarantined: a row stamped years ahead (a mistyped year) is not a day to build, and would
    make every day before it look mature; one stamped before the warehouse's days is not one
    of them."""
    good = checked.good
    if "business_date" not in good.columns or not good.height:
        return checked
    dates = good["business_date"]
    earliest, latest = dates.min(), dates.max()
    if earliest is None or (earliest >= first and latest <= horizon):
        return checked
    column = SOURCE_SPECS[source].business_date
    assert column is not None
    date = pl.col("business_date")
    moved = good.filter((date < first) | (date > horizon)).select(
        pl.col(ROW).cast(pl.Int64).alias("row_number"),
        pl.lit(column).alias("column"),
        pl.when(date < first)
        .then(pl.lit(f"business_date >= {first} (partitions_start)"))
        .otherwise(pl.lit(f"business_date <= {horizon} (date_horizon_days)"))
        .alias("check"),
        pl.col(column).cast(pl.String).alias("value"),
        pl.lit(None, pl.String).alias(FILE_COLUMN),
        row_key(good, source),
    )
    bad = pl.concat([checked.bad, moved], how="vertical_relaxed").sort("row_number", "column")
    return replace(checked, good=good.filter(date.is_between(first, horizon)), bad=bad)


def _check_start(settings: Settings, file: str, checked: Validated) -> None:
    """Refuse a file whose rows fall before ``partitions_start`` in a share above the bad-row
    threshold (:class:`BeforePartitionsStart`: a history older than the warehouse's days,
    whose remedy is the setting); fewer such rows are quarantined (:func:`out_of_range`)."""
    if "business_date" not in checked.good.columns or not checked.good.height:
        return
    first = dt.date.fromisoformat(settings.partitions_start)
    dates = checked.good["business_date"]
    earliest = dates.min()
    if earliest is None or earliest >= first:
        return
    early = int((dates < first).sum())
    if early / checked.rows_in > settings.bad_row_threshold:
        raise BeforePartitionsStart(file, earliest, settings)


def business_dates(
    con: duckdb.DuckDBPyConnection, source: str, day: dt.date, good: pl.DataFrame
) -> tuple[dt.date | None, dt.date | None]:
    """The first and last business date of ``good``, rows of ``source`` delivered on
    ``day``: their own, or for a source dated by another (order lines) those of the rows
    they belong to, as loaded so far (the orders step runs before the order lines')."""
    if not good.height:
        return None, None
    if "business_date" in good.columns:
        dates = good["business_date"]
        return dates.min(), dates.max()
    dated_by = SOURCE_SPECS[source].dated_by
    if dated_by is None:
        return None, None
    return parent_dates(con, source, [(day, good[dated_by[1]])])[0]


def parent_dates(
    con: duckdb.DuckDBPyConnection, source: str, files: list[tuple[dt.date, pl.Series]]
) -> list[tuple[dt.date | None, dt.date | None]]:
    """:func:`business_dates` of several files of a source dated by another (order lines by
    their orders): for each file, its delivery day and its rows' keys, the first and last
    business date of the rows they belong to, in two queries for all of them. A key's rows
    delivered the same day as the file are taken first (an order's lines come with it);
    only a key without any there is looked up among all days' rows."""
    parent, key = SOURCE_SPECS[source].dated_by or (None, None)
    if parent is None or not files:
        return [(None, None)] * len(files)
    table = f"{RAW_SCHEMA}.{parent}"
    # the frames are found by their variable's name (DuckDB's replacement scan)
    _lines = pl.concat(
        pl.DataFrame({"i": pl.repeat(i, len(keys), dtype=pl.Int32, eager=True), "k": keys})
        for i, (_, keys) in enumerate(files)
    ).unique()
    _days = pl.DataFrame(
        {"i": range(len(files)), "day": [day for day, _ in files]},
        schema={"i": pl.Int32, "day": pl.Date},
    )
    days = [day for day, _ in files]
    found = con.sql(
        f"select l.i, l.k, p.business_date as d "
        f"from _lines l join _days using (i) join {table} p "
        f"on p.{key} = l.k and p._partition_date = _days.day "
        "where p._partition_date between $first and $last",
        params={"first": min(days), "last": max(days)},
    ).pl()
    found = found.cast({"i": pl.Int32})
    dates = [found.select("i", "d")]
    _missing = _lines.join(found.select("i", "k"), on=["i", "k"], how="anti")
    if _missing.height:  # lines of orders delivered on other days: looked up by key, within
        # the range of the keys (where keys follow time, DuckDB skips the row groups outside)
        more = con.sql(
            f"select m.i, p.business_date as d from _missing m join {table} p "
            f"on p.{key} = m.k where p.{key} between $low and $high",
            params={"low": _missing["k"].min(), "high": _missing["k"].max()},
        ).pl()
        dates.append(more.cast({"i": pl.Int32}))
    span = (
        pl.concat(dates)
        .drop_nulls("d")
        .group_by("i")
        .agg(pl.col("d").min().alias("first"), pl.col("d").max().alias("last"))
    )
    by_file = {i: (first, last) for i, first, last in span.iter_rows()}
    return [by_file.get(i, (None, None)) for i in range(len(files))]


def load_day(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    source: str,
    day: dt.date,
    run_id: str | None = None,
    now: Callable[[], dt.datetime] = utc_now,
    ahead: ReadAhead | None = None,
) -> DayResult:
    """Replace ``source``'s partition ``day`` with the day's files, in a transaction of its own.

    Raises :class:`~pipelines.ingest.validate.SchemaMismatch` (nothing of the day changes) or
    :class:`BadBatch` (the day is committed with the rejected file recorded, then raised).
    A step loads its days with a :class:`DayLoader`, several days per transaction.
    """
    with DayLoader(con, settings, source, run_id=run_id, ahead=ahead, now=now) as loader:
        return loader.load(day)
