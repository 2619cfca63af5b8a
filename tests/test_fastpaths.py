"""The fast paths (pipelines/fastpaths.py): each relies on a library's internals, so each has a
test that fails when they change, and gives what the public path gives with the flag off.

pandera's one-query screen is compared with pandera's own validation rule by rule in
tests/test_validate.py (``test_the_one_query_screen_finds_the_rules_pandera_finds``), and a
clean and a dirty file are validated with the flag on and off there too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines import fastpaths
from pipelines.transform.assets import KpiDbtCliResource, dbt_window_env
from pipelines.transform.in_process import InProcessDbt, environment_set
from pipelines.transform.project import dbt_executable, dbt_project

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("value", "on"),
    [(None, True), ("1", True), ("on", True), ("0", False), ("off", False), (" False ", False)],
)
def test_one_flag_turns_the_fast_paths_off(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv(fastpaths.FLAG, raising=False)
    else:
        monkeypatch.setenv(fastpaths.FLAG, value)
    assert fastpaths.enabled() is on
    resource = KpiDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())
    assert resource._fast() is on
    frame = pl.DataFrame({"order_id": ["o1"]})
    import pandera.polars as pa

    class Ids(pa.DataFrameModel):
        order_id: str = pa.Field(str_length={"min_value": 1})

    assert fastpaths.failing_rules(frame, Ids) == (set() if on else None)


#: run in a fresh interpreter: one dbt invocation through the resource with the flag on, then
#: one with it off, recording the `dbt` processes started (an audit hook) and whether
#: dagster-dbt opened an adapter handle
PROBE = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from pipelines.transform.assets import KpiDbtCliResource
    from pipelines.transform.project import dbt_executable, dbt_project

    project = dbt_project()  # prepared (a `dbt parse` if stale) before anything is recorded
    started = []
    sys.addaudithook(
        lambda event, args: started.append([str(a) for a in args[1]])
        if event == "subprocess.Popen" and os.path.basename(str(args[1][0])) == "dbt" else None
    )
    outcomes = {}
    for flag in ("1", "0"):
        os.environ["KPI_FASTPATHS"] = flag
        started.clear()
        dbt = KpiDbtCliResource(project_dir=project, dbt_executable=dbt_executable())
        invocation = dbt.cli(["run-operation", "no_such_macro"], raise_on_error=False,
                             target_path=Path(sys.argv[1]) / flag)
        invocation.wait()
        outcomes[flag] = {
            "started": [args[1:] for args in started],
            "process": type(invocation.process).__name__,
            "adapter": invocation.adapter is not None,
            "returncode": invocation.process.returncode,
            "error": str(invocation.get_error()),
        }
    print("PROBE" + json.dumps(outcomes))
    """
)


def test_dagster_dbt_starts_no_dbt_process_with_the_fast_paths_and_fails_the_same(tmp_path):
    """With the flag on, dagster-dbt's `cli` starts no `dbt` process at all: not `dbt
    --version` (its private ``_cli_version``), not `dbt` (its module's ``subprocess.Popen``,
    replaced), and opens no adapter handle (its private ``_initialize_dbt_core_adapter``). A
    dagster-dbt that renamed any of them would start a process or open a handle here. Off, it
    does all three, as documented, and a dbt error ends the same way either way."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != fastpaths.FLAG},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("PROBE"))
    on, off = (json.loads(line.removeprefix("PROBE"))[flag] for flag in ("1", "0"))
    assert (on["started"], on["process"], on["adapter"]) == ([], "InProcessDbt", False)
    assert ["--version"] in off["started"]
    assert any(args[:2] == ["run-operation", "no_such_macro"] for args in off["started"])
    assert (off["process"], off["adapter"]) == ("Popen", True)
    assert on["returncode"] == off["returncode"] != 0
    for outcome in (on, off):
        assert "no_such_macro" in outcome["error"]


def test_the_version_read_without_starting_dbt_is_what_dbt_says(monkeypatch):
    """dagster-dbt reads the version to tell dbt-core from the Fusion engine: the fast path's
    (the dbt-core package's) equals the public path's (`dbt --version`)."""
    versions = {}
    for flag in ("1", "0"):
        monkeypatch.setenv(fastpaths.FLAG, flag)
        dbt = KpiDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())
        assert dbt._fast() == (flag == "1")
        versions[flag] = dbt._cli_version
    assert versions["1"] == versions["0"]


def _build_orders(shop, tmp_path: Path, flag: str) -> tuple[dict[str, str], int]:
    """`dbt build -s stg_shop__orders` over the shop's last day with the flag: each node's
    status in run_results.json, and the staged orders of that day."""
    day = shop.end
    target = tmp_path / f"target-{flag}"
    dbt = KpiDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())
    environment = {
        "KPI_BUILD_DB": str(shop.settings.build_db),
        "KPI_WINDOW_START": day.isoformat(),
        "KPI_WINDOW_END": day.isoformat(),
        **dbt_window_env(day, day),
        fastpaths.FLAG: flag,
    }
    with environment_set(environment):
        invocation = dbt.cli(["build", "--select", "stg_shop__orders"], target_path=target)
        invocation.wait()
        assert isinstance(invocation.process, InProcessDbt) == (flag == "1")
    results = json.loads((target / "run_results.json").read_text())["results"]
    with duckdb.connect(str(shop.settings.build_db), read_only=True) as con:
        rows = con.execute(
            "select count(*) from staging.stg_shop__orders where delivered_on = ?", [day]
        ).fetchone()[0]
    return {r["unique_id"]: r["status"] for r in results}, rows


def test_dbt_in_this_process_gives_the_run_results_of_a_dbt_process(shop_copy, tmp_path):
    with duckdb.connect(str(shop_copy.settings.build_db)) as con:
        con.execute("delete from staging.stg_shop__orders where delivered_on = ?", [shop_copy.end])
        expected = con.execute(
            "select count(*) from raw.orders where _partition_date = ?", [shop_copy.end]
        ).fetchone()[0]
    assert expected > 0
    off = _build_orders(shop_copy, tmp_path, "0")
    with duckdb.connect(str(shop_copy.settings.build_db)) as con:
        con.execute("delete from staging.stg_shop__orders where delivered_on = ?", [shop_copy.end])
    on = _build_orders(shop_copy, tmp_path, "1")
    assert on == off
    statuses, rows = on
    assert statuses.pop("model.kpi_warehouse.stg_shop__orders") == "success"
    assert statuses and set(statuses.values()) == {"pass"}  # its tests
    assert rows == expected


def test_panderas_checks_hold_the_function_the_screen_reloads():
    """The screen reads a check's private ``_check_fn`` and gives pandera's polars check backend
    a copy holding the function as registered now: a model's schema holds its own copies of
    the built-in check functions, which lack the polars implementations. The model's checks
    are left as they were."""
    from pandera.api.checks import Check
    from pandera.api.polars.types import PolarsData
    from pandera.backends.polars.checks import PolarsCheckBackend
    from pandera.constants import CHECK_OUTPUT_KEY

    from pipelines.ingest.contracts import SOURCE_SPECS
    from pipelines.ingest.validate import contract_dtypes

    builtin = 0
    for source, spec in SOURCE_SPECS.items():
        schema = spec.contract.to_schema()
        frame = pl.DataFrame(schema=contract_dtypes(source)).lazy()
        schema.get_backend(frame.collect())
        for key, column in [*schema.columns.items(), ("*", None)]:
            for check in column.checks if column is not None else schema.checks:
                name = getattr(check._check_fn, "__name__", None)
                before = check._check_fn
                fresh = fastpaths.registered(check)
                assert check._check_fn is before
                if name is not None and Check.is_builtin_check(name):
                    builtin += 1
                    assert fresh is not check
                    assert fresh._check_fn is Check.get_builtin_check_fn(name)
                backend = check.get_backend(frame)(fresh)
                assert isinstance(backend, PolarsCheckBackend)
                out = backend.apply(PolarsData(frame, key))
                assert isinstance(out, bool) or CHECK_OUTPUT_KEY in out.collect_schema().names()
    assert builtin > 0


#: run in a fresh interpreter: an exit handler, output left in the buffers, an object only the
#: interpreter's teardown destroys, and (asked) a thread Python waits for, then the fast exit
EXIT_PROBE = textwrap.dedent(
    """
    import atexit, sys, threading, time
    from pipelines import fastpaths

    class Witness:
        def __del__(self):
            sys.stderr.write("torn down")

    witness = Witness()  # a module's global: destroyed by the teardown alone
    atexit.register(lambda: sys.stdout.write(" handler"))
    if sys.argv[1] == "thread":
        threading.Thread(target=lambda: (time.sleep(0.5), sys.stdout.write(" thread"))).start()
    sys.stdout.write("buffered")
    try:
        raise SystemExit(int(sys.argv[2]))
    except SystemExit as done:
        fastpaths.exit_without_teardown(done.code)
        raise
    """
)


@pytest.mark.parametrize("code", [0, 3])
def test_the_fast_exit_runs_the_exit_handlers_and_skips_the_teardown(code):
    """With the flag on, the process ends with the status SystemExit gives, its buffered output
    written and its exit handlers run (atexit's private ``_run_exitfuncs``), but without the
    interpreter's teardown (the global's ``__del__`` does not run). A Python without
    ``_run_exitfuncs`` fails here. Off, the same output and status, with the teardown."""

    def probe(flag: str, thread: str = "no") -> subprocess.CompletedProcess:
        env = {**os.environ, fastpaths.FLAG: flag}
        return subprocess.run(
            [sys.executable, "-c", EXIT_PROBE, thread, str(code)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    on, off = probe("1"), probe("0")
    assert (on.returncode, on.stdout, on.stderr) == (code, "buffered handler", "")
    assert (off.returncode, off.stdout, off.stderr) == (code, "buffered handler", "torn down")
    # a thread that Python waits for: the exit is the usual one, after the thread's end
    waited = probe("1", "thread")
    assert (waited.returncode, waited.stdout, waited.stderr) == (
        code,
        "buffered thread handler",
        "torn down",
    )


GX_PROBE = textwrap.dedent(
    """
    import json, sys
    from expectations import gx
    from pipelines.fastpaths import defer_unused_imports
    DEFERRED_IMPORTS = ("scipy.stats", "altair")

    defer_unused_imports()  # as the pipeline's gate does before the suites
    gx("great_expectations.expectations")
    # a module imported has its submodules or its own file's names loaded
    deferred = {name: "__file__" not in vars(sys.modules[name]) for name in DEFERRED_IMPORTS}
    # the KL divergence expectation's module holds what its imports gave it
    import great_expectations.expectations.core.expect_column_kl_divergence_to_be_less_than as kl

    entropy = kl.stats.entropy([0.5, 0.5])
    chart = kl.alt.Chart({"values": [{"x": 1}]}).mark_bar().to_dict()["mark"]["type"]
    loaded = {name: "__file__" in vars(sys.modules[name]) for name in DEFERRED_IMPORTS}
    print(json.dumps({"deferred": deferred, "entropy": entropy, "chart": chart,
                      "loaded": loaded}))
    """
)


@pytest.mark.parametrize("flag", ["1", "0"])
def test_great_expectations_imports_without_what_no_suite_uses_and_uses_it_when_needed(flag):
    """With the flag on, importing Great Expectations as the gates do leaves ``scipy.stats``
    and ``altair`` unimported (it fails here when Great Expectations reads anything of them
    at import time); an expectation that uses them gets the real modules (the entropy of a
    fair coin is ln 2, 0.6931... nats; a bar chart's mark is "bar"). Off, both are imported
    with Great Expectations, as they are without this project."""
    env = {**os.environ, fastpaths.FLAG: flag}
    done = subprocess.run(
        [sys.executable, "-c", GX_PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["deferred"] == {"scipy.stats": flag == "1", "altair": flag == "1"}
    assert seen["entropy"] == pytest.approx(0.6931471805599453, rel=1e-12)
    assert seen["chart"] == "bar"
    assert seen["loaded"] == {"scipy.stats": True, "altair": True}


def test_a_nights_gates_run_without_what_no_suite_uses(shop_copy):
    """A night run as `kpi run` runs it (a fresh process, the fast paths on): every gate runs
    its suites through Great Expectations, and neither ``scipy.stats`` nor ``altair`` is
    imported (their submodules would be). It fails when the gate stops deferring them or a
    suite starts using what needs them."""
    day = shop_copy.end.isoformat()
    probe = textwrap.dedent(
        f"""
        import datetime as dt, json, sys
        import dagster as dg
        from pipelines.definitions import build_defs
        from pipelines.runner import run_nightly

        day = dt.date.fromisoformat({day!r})
        with dg.DagsterInstance.ephemeral() as instance:
            outcome = run_nightly(build_defs({str(shop_copy.data_dir)!r}), day, day, instance)
        loaded = [m for m in ("scipy.stats._stats_py", "altair.vegalite") if m in sys.modules]
        print("PROBE" + json.dumps({{"ok": outcome.ok, "error": outcome.error,
              "gx": "great_expectations.validator" in sys.modules, "loaded": loaded}}))
        """
    )
    env = {**os.environ, fastpaths.FLAG: "1"}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBE"))
    seen = json.loads(line.removeprefix("PROBE"))
    assert seen["ok"], seen["error"]
    assert seen["gx"] is True  # the gates ran their suites
    assert seen["loaded"] == []
