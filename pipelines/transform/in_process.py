"""dbt run in the Dagster process (dbt-core's `dbtRunner`), in place of a `dbt` subprocess.

dagster-dbt starts `dbt` as a subprocess for every invocation and reads its JSON log lines.
Each start imports dbt and its adapter again, which is most of what a night's small
invocation costs, and a night has two; in this process, after the first, they are already
imported. :class:`InProcessDbt` runs `dbtRunner` in a thread and gives
dagster-dbt what it reads from a subprocess: the same JSON lines (dbt's own console logger,
pointed at a queue), an exit code (0 done, 1 failures, 2 an error, as the `dbt` command's),
and the command's arguments. Everything downstream of dagster-dbt (events, asset checks,
artifacts in the invocation's target folder) is unchanged. dagster-dbt starts it in place of
`subprocess.Popen` only through :func:`pipelines.fastpaths.dbt_in_this_process` (a fast path:
``KPI_FASTPATHS``).

What differs from a subprocess:
- dbt reads its settings from the environment when it starts: the invocation's environment
  (dagster-dbt's `DBT_*` variables) is set in this process's `os.environ` while it runs;
- one dbt at a time in the process (dbt keeps its flags and logging in module globals);
- an interrupted run cannot stop dbt mid-node: the thread ends with the process, as a
  killed subprocess would (DuckDB's write-ahead log keeps the file consistent).
"""

from __future__ import annotations

import io
import os
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from dagster import get_dagster_logger

#: one dbt at a time in this process
_ONE_AT_A_TIME = threading.Lock()

#: the paths dagster-dbt gives dbt, relative to the folder it starts dbt in
_PATH_VARIABLES = ("DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_PROJECT_DIR", "DBT_PROFILES_DIR")

#: the end of dbt's log lines
_END = None


class _LineQueue(io.TextIOBase):
    """The writing side: dbt's console logger writes each JSON line here."""

    def __init__(self, lines: queue.SimpleQueue) -> None:
        self._lines = lines
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *complete, self._partial = (self._partial + text).split("\n")
        for line in complete:
            if line:
                self._lines.put(line.encode() + b"\n")
        return len(text)


class _LineReader:
    """The reading side, as `Popen.stdout`: byte lines until dbt is done."""

    def __init__(self, lines: queue.SimpleQueue) -> None:
        self._lines = lines
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        while (line := self._lines.get()) is not _END:
            yield line

    def __enter__(self) -> _LineReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True


@contextmanager
def environment_set(values: Mapping[str, str]) -> Iterator[None]:
    """`values` set in os.environ while open (dbt reads its settings, and dagster-dbt the
    environment it hands a `dbt` process, from there), then the previous environment back."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _release_adapters() -> None:
    """Let go of dbt's adapters and their connections, as the end of a `dbt` process does.

    dbt closes its connections when an invocation ends, but dbt-duckdb keeps the database it
    opened (with `keep_open`, the nights') for the process's next invocation; dropped here,
    it is closed at once. Left open, the warehouse file stays attached to this process with
    dbt's settings: the next connection with other settings (a read-only one) is refused,
    and no other process can open it.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.adapters.factory import reset_adapters

    DuckDBConnectionManager.close_all_connections()
    reset_adapters()


class InProcessDbt:
    """One dbt invocation run by `dbtRunner` in a thread, shaped as the `subprocess.Popen`
    dagster-dbt's `DbtCliInvocation` reads (`stdout`, `wait`, `poll`, `returncode`, `args`)."""

    def __init__(
        self,
        args: Sequence[str],
        stdout: object = None,
        stderr: object = None,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
    ) -> None:
        self.args = [str(a) for a in args]
        self.returncode: int | None = None
        lines: queue.SimpleQueue = queue.SimpleQueue()
        self.stdout = _LineReader(lines)
        self._sink = _LineQueue(lines)
        self._lines = lines
        environment = dict(env or {})
        if cwd is not None:
            # a `dbt` started in cwd finds its paths from there: here they are made absolute
            for name in _PATH_VARIABLES:
                if name in environment and not Path(environment[name]).is_absolute():
                    environment[name] = str(Path(cwd) / environment[name])
            # and it would look for profiles.yml there first
            if "DBT_PROFILES_DIR" not in environment and (Path(cwd) / "profiles.yml").exists():
                environment["DBT_PROFILES_DIR"] = str(cwd)
        _ONE_AT_A_TIME.acquire()
        # set before the thread starts, so that dbt, reading it when it starts, sees it;
        # taken back when dbt is done
        self._environment = ExitStack()
        self._environment.enter_context(
            environment_set({k: v for k, v in environment.items() if os.environ.get(k) != v})
        )
        self._thread = threading.Thread(target=self._run, name="dbt", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            from dbt.cli.main import dbtRunner
            from dbt_common.events.functions import capture_stdout_logs, stop_capture_stdout_logs

            capture_stdout_logs(self._sink)  # dbt's console logger writes to the queue
            try:
                result = dbtRunner().invoke(self.args[1:])
            finally:
                stop_capture_stdout_logs()
                _release_adapters()
            # the `dbt` command's exit codes: 1 when nodes failed, 2 when dbt itself failed
            self.returncode = 0 if result.success else (2 if result.exception else 1)
        except BaseException as error:  # noqa: BLE001 - reported as the command's failure
            self.returncode = 2
            self._sink.write(f"dbt could not run in this process: {error!r}\n")
        finally:
            self._environment.close()
            _ONE_AT_A_TIME.release()
            self._sink.write("\n")  # a last line without its newline
            self._lines.put(_END)

    def poll(self) -> int | None:
        return None if self._thread.is_alive() else self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code once dbt is done; None if it is still running after `timeout` (where
        `Popen.wait` raises: dagster-dbt waits with a timeout only after an interrupt, which
        should then go on being raised)."""
        self._thread.join(timeout)
        return self.returncode

    def send_signal(self, signal: int) -> None:
        """dbt in a thread cannot be interrupted: it ends with this process."""
        get_dagster_logger().warning(
            "dbt runs in this process and cannot be interrupted; it stops when the process ends"
        )

    def terminate(self) -> None:
        self.send_signal(15)

    def kill(self) -> None:
        self.send_signal(9)
