"""Every use of a library's private internals, in one place and behind one flag.

Each path here does what a public API does, with less work, by relying on something the
library does not promise. ``KPI_FASTPATHS`` (environment; on unless ``0``, ``false``, ``off``
or ``no``) turns all of them on or off together; off, the pipeline uses only public APIs:
dagster-dbt's ``DbtCliResource`` as documented and pandera's ``validate``. Each path is kept
for a gain measured against its public path (docs/performance.md) and has a test in
``tests/test_fastpaths.py`` that fails when the internals it relies on change, and one that
it gives what the public path gives.

1. :func:`dbt_in_this_process`: dagster-dbt's module ``subprocess`` is replaced while an
   invocation starts, so that dbt runs in this process (dbt-core's ``dbtRunner``,
   :mod:`pipelines.transform.in_process`) instead of a ``dbt`` subprocess that imports dbt
   again for every step.
2. :class:`DbtFastPaths` overrides two private members of dagster-dbt's ``DbtCliResource``:
   ``_cli_version`` (it starts ``dbt --version`` before every invocation) and
   ``_initialize_dbt_core_adapter`` (it loads the profile and the project in this process,
   for row counts and column metadata these assets never ask for).
3. :func:`failing_rules`: a pandera model's checks evaluated in one polars query through
   pandera's polars check backend (and the checks' private ``_check_fn``), so that a file
   whose rows all pass skips pandera's one query per check.
4. :func:`exit_without_teardown`: a command that ran the pipeline ends its process after the
   exit handlers (``atexit``'s private ``_run_exitfuncs``), without the interpreter's
   teardown, whose garbage collections walk every object Dagster, dbt, Great Expectations
   and pandas left.
5. :func:`defer_unused_imports`: Great Expectations imports ``scipy.stats`` and ``altair``
   when it is imported (more than half of its import) for three expectations and metrics
   that use them only when they run, and that no suite here has; each is imported when
   first used.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import importlib
import os
import shutil
import subprocess
import sys
import threading
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NoReturn

import pandera.polars as pa
import polars as pl
from pandera.api.checks import Check
from pandera.api.polars.types import PolarsData
from pandera.backends.polars.checks import PolarsCheckBackend
from pandera.config import CONFIG, get_config_context
from pandera.constants import CHECK_OUTPUT_KEY

if TYPE_CHECKING:
    from dagster_dbt import DbtCliInvocation
    from packaging import version

#: the environment variable that turns the fast paths off
FLAG = "KPI_FASTPATHS"
_OFF = frozenset({"0", "false", "off", "no"})


def enabled() -> bool:
    """Whether the fast paths are on (``KPI_FASTPATHS``, read at each use: on by default)."""
    return os.environ.get(FLAG, "1").strip().lower() not in _OFF


# --- 1. dbt in this process -----------------------------------------------------------------


@contextmanager
def dbt_in_this_process() -> Iterator[None]:
    """While open, dagster-dbt's invocations start
    :class:`~pipelines.transform.in_process.InProcessDbt` instead of a subprocess (its
    module's ``subprocess.Popen``, the one place it starts dbt)."""
    from dagster_dbt.core import dbt_cli_invocation

    from pipelines.transform.in_process import InProcessDbt

    original = dbt_cli_invocation.subprocess
    dbt_cli_invocation.subprocess = SimpleNamespace(  # type: ignore[assignment]
        Popen=InProcessDbt, PIPE=subprocess.PIPE, STDOUT=subprocess.STDOUT
    )
    try:
        yield
    finally:
        dbt_cli_invocation.subprocess = original


# --- 2. DbtCliResource's private members ----------------------------------------------------


class DbtFastPaths:
    """Mixed into a ``DbtCliResource`` subclass (before it): with the flag on and the ``dbt``
    it runs being the one installed beside this interpreter, that dbt runs in this process,
    its version is the dbt-core package's (read without starting it), and no adapter handle
    is opened. Any other ``dbt``, or the flag off, runs as dagster-dbt runs it."""

    @cached_property
    def _runs_installed_dbt(self) -> bool:
        found = shutil.which(self.dbt_executable)  # type: ignore[attr-defined]
        beside = Path(sys.executable).with_name("dbt")
        return bool(found and beside.exists() and Path(found).resolve() == beside.resolve())

    def _fast(self) -> bool:
        return enabled() and self._runs_installed_dbt

    @cached_property
    def _cli_version(self) -> version.Version:
        if self._fast():
            from dbt.version import __version__
            from packaging import version

            return version.parse(__version__)
        return super()._cli_version  # type: ignore[misc]

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        """dagster-dbt opens an adapter handle (the profile and the project loaded in this
        process once more per step) only to fetch row counts or column metadata, which these
        assets do not ask for."""
        if self._fast():
            return None
        return super()._initialize_dbt_core_adapter(args)  # type: ignore[misc]

    def cli(self, args: Sequence[str], **kwargs: Any) -> DbtCliInvocation:
        if self._fast():
            with dbt_in_this_process():
                return super().cli(args, **kwargs)  # type: ignore[misc]
        return super().cli(args, **kwargs)  # type: ignore[misc]


# --- 3. pandera's checks in one query -------------------------------------------------------


def _screen_parts(
    schema: pa.DataFrameSchema, frame: pl.DataFrame
) -> tuple[list[str], list[tuple[str, Check]]] | None:
    """What :func:`failing_rules` evaluates: the columns that may not hold a null, and each
    check by the column it is on (``"*"`` for the frame's). None where the schema uses
    something it does not evaluate."""
    if (
        schema.strict
        or schema.coerce
        or schema.dtype is not None  # a model-wide dtype replaces each column's
        or schema.unique
        or schema.ordered
        or schema.add_missing_columns
        or schema.drop_invalid_rows
        or schema.parsers
        or len(schema.columns) != frame.width
    ):
        return None
    not_null: list[str] = []
    checks: list[tuple[str, Check]] = []
    for name, column in schema.columns.items():
        if (
            column.regex
            or column.unique
            or column.coerce
            or not column.required
            or column.default is not None
            or column.parsers
            or column.dtype is None
            or frame.schema.get(name) != column.dtype.type
        ):
            return None
        if not column.nullable:
            not_null.append(name)
        checks += [(name, check) for check in column.checks]
    checks += [("*", check) for check in schema.checks]
    if any(c.groupby is not None or c.raise_warning for _, c in checks):
        return None
    return not_null, checks


def _check_name(check: Check) -> str:
    """A check as pandera's failure cases name it."""
    return check.error if check.error is not None else check.name


def registered(check: Check) -> Check:
    """``check`` with its function as registered now, as ``Check.__call__`` reloads it: a
    model's schema holds copies of its checks, whose built-in functions lack the polars
    implementations pandera registers when it first validates a polars frame. A copy: the
    model's own check is left as it is."""
    name = getattr(check._check_fn, "__name__", None)
    if name is None or not check.is_builtin_check(name):
        return check
    fresh = copy.copy(check)
    fresh._check_fn = check.get_builtin_check_fn(name)
    return fresh


def failing_rules(
    frame: pl.DataFrame, model: type[pa.DataFrameModel]
) -> set[tuple[str, str]] | None:
    """The rules of ``model`` that some row of ``frame`` breaks, evaluated in one polars query:
    ``(column, check)`` pairs as pandera names them (``"*"`` for a rule on the whole row,
    ``"not_nullable"`` for a null in a column that may not have one). None where it cannot
    tell: the flag is off, the model uses something not evaluated here, or evaluating failed.

    pandera runs each check of a model as a query of its own (50-80 per file), a fixed cost
    that dominates a small file's ingestion. This evaluates the same checks (pandera's own
    check functions, through its polars check backend, with its handling of nulls) and the
    columns' nullability at once. It decides only whether pandera needs to run: the failures
    that are quarantined are always pandera's.
    """
    if not enabled():
        return None
    try:
        narwhals = getattr(CONFIG, "use_narwhals_backend", False)  # pandera >= 0.32
        if narwhals or not get_config_context().validation_enabled:
            return None
        schema = model.to_schema()
        schema.get_backend(frame)  # registers pandera's polars checks, as validate() does
        parts = _screen_parts(schema, frame)
        if parts is None:
            return None
        not_null, checks = parts
        lf = frame.lazy()
        labels = [(name, "not_nullable") for name in not_null]
        present = [  # as pandera decides it: NaN is null in a float column
            (pl.col(n).is_not_null() & pl.col(n).is_not_nan())
            if frame.schema[n].is_float()
            else pl.col(n).is_not_null()
            for n in not_null
        ]
        outputs = (
            [lf.select(e.all().alias(f"{i}") for i, e in enumerate(present))] if present else []
        )
        failed: set[tuple[str, str]] = set()
        for key, check in checks:
            backend = check.get_backend(lf)(registered(check))
            if not isinstance(backend, PolarsCheckBackend):
                return None
            out = backend.apply(PolarsData(lf, key))
            if isinstance(out, bool):
                if not out:
                    failed.add((key, _check_name(check)))
                continue
            passed = pl.col(CHECK_OUTPUT_KEY).fill_null(bool(check.ignore_na)).all()
            outputs.append(out.select(passed.alias(f"{len(labels)}")))
            labels.append((key, _check_name(check)))
        if labels:
            row = pl.concat(outputs, how="horizontal").collect(engine="in-memory").row(0)
            failed |= {label for label, ok in zip(labels, row, strict=True) if not ok}
        return failed
    except Exception:  # noqa: BLE001 - then pandera validates, and says what is wrong
        return None


# --- 4. the process's exit ------------------------------------------------------------------


def exit_without_teardown(code: int | str | None) -> None:
    """End the process as :class:`SystemExit` with ``code`` would, without the interpreter's
    teardown: the exit handlers run (logging's flush, temporary folders' finalizers, anything
    a library registered), the standard streams are flushed, and the process ends with the
    exit status Python would give. Returns (the caller then exits as usual) when the flag is
    off or another thread that Python would wait for still runs.

    At its normal exit CPython collects garbage module by module, walking every object left
    (some 700,000 after a run: Dagster, dbt, Great Expectations, pandas), which takes
    seconds; nothing of it is written anywhere. ``gc.freeze()`` would skip the collections,
    but DuckDB's bindings then report their still-alive objects as leaked on stderr.
    """
    if not enabled():
        return
    main = threading.main_thread()
    if any(t is not main and t.is_alive() and not t.daemon for t in threading.enumerate()):
        return
    _exit_now(code)


def _exit_now(code: int | str | None) -> NoReturn:
    atexit._run_exitfuncs()  # a private function, kept since Python 3.0
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code & 0xFF
    else:  # SystemExit with a message: Python prints it to stderr and exits 1
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed stream: Python ignores it
            stream.flush()
    os._exit(status)


# --- 5. scipy.stats and altair imported when used -------------------------------------------


class _Deferred(types.ModuleType):
    """Stands in ``sys.modules`` for a module not imported yet: the first attribute read
    through it imports the module (which then replaces it there) and every read is passed on.
    ``from scipy import stats`` binds this object; the import system looks only at its
    ``__spec__`` (None here: not being initialised), so holding it loads nothing."""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        return getattr(real, name)


#: what Great Expectations imports at its own import and uses only inside expectations and
#: metrics no suite here has (checked by tests/test_fastpaths.py)
DEFERRED_IMPORTS = ("scipy.stats", "altair")


def defer_unused_imports() -> None:
    """Put a :class:`_Deferred` module in ``sys.modules`` for each of
    :data:`DEFERRED_IMPORTS` before Great Expectations is imported (when the flag is on and
    nothing imported it yet).

    Great Expectations 1.x imports every core expectation and metric with the package; three
    of them (the KL divergence and the two Kolmogorov-Smirnov tests) import ``scipy.stats``,
    and the KL divergence ``altair`` for its charts, at the top of their module, and use them
    only inside the functions that compute and draw them. The gates' suites use none of them,
    so a gate need not pay for their import. Whatever reads anything of them gets the real
    module, imported then.
    """
    if not enabled():
        return
    for name in DEFERRED_IMPORTS:
        if name not in sys.modules:
            sys.modules[name] = _Deferred(name)
