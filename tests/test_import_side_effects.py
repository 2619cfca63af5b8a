"""Importing the CLI, the partitions or an asset module does nothing: it reads no kpi.yaml,
writes no file, starts no dbt and leaves PATH alone. (The definitions are built by
``pipelines.definitions.build_defs``; the dbt project is prepared the first time it is asked
for.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

QUIET_MODULES = [
    "pipelines.cli",
    "pipelines.partitions",
    "pipelines.jobs",
    "pipelines.schedules",
    "pipelines.sensors",
    "pipelines.transform.project",
    "pipelines.ingest.assets",
    "pipelines.transform.assets",
    "pipelines.targets.assets",
    "pipelines.alerts.assets",
    "pipelines.quality.checks",
    "pipelines.publish.assets",
    "pipelines.definitions",
]

#: run in a fresh interpreter: an audit hook records every file opened for writing and every
#: process started while the modules are imported
PROBE = textwrap.dedent(
    """
    import json, os, sys

    seen = {"writes": [], "processes": []}
    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def is_file(path):
        # a file descriptor, or /dev/null for a child process's streams, is not a file
        return not isinstance(path, int) and not str(path).startswith("/dev/")

    def hook(event, args):
        if event == "open" and is_file(args[0]):
            mode, flags = args[1], args[2]
            if (mode and any(c in mode for c in "wax+")) or (flags or 0) & WRITE_FLAGS:
                seen["writes"].append(str(args[0]))
        elif event in ("os.mkdir", "os.rename", "os.replace", "os.remove", "shutil.copyfile"):
            seen["writes"].append(str(args[0]))
        elif event == "subprocess.Popen":
            seen["processes"].append([str(a) for a in args[1]])

    path_before = os.environ.get("PATH")
    sys.addaudithook(hook)
    import importlib
    for module in sys.argv[1:]:
        importlib.import_module(module)
    seen["path_changed"] = os.environ.get("PATH") != path_before
    print("PROBE" + json.dumps(seen))
    """
)


def _import_in_a_fresh_process(modules: list[str], cwd: Path, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("PROBE"))
    return json.loads(line.removeprefix("PROBE"))


def test_importing_the_cli_partitions_and_assets_reads_no_config_writes_nothing(tmp_path):
    # a config that fails to load: reading it at import would fail the import
    bad_config = tmp_path / "kpi.yaml"
    bad_config.write_text("business_timezone: Not/A_Zone\nno_such_setting: 1\n")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "kpi.yaml").write_text("[not a mapping")
    env = {
        **os.environ,
        "KPI_CONFIG": str(bad_config),
        "KPI_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    seen = _import_in_a_fresh_process(QUIET_MODULES, cwd, env)
    assert seen["writes"] == []
    assert not [p for p in seen["processes"] if any("dbt" in Path(a).name for a in p)]
    assert seen["path_changed"] is False
    assert not (tmp_path / "data").exists()
    assert list(cwd.iterdir()) == [cwd / "kpi.yaml"]


def test_the_probe_sees_a_config_read_a_write_a_dbt_and_a_path_change(tmp_path):
    """The test above can fail: the probe reports what a noisy module does, and a module that
    reads the bad config when imported fails to import."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "dbt").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "dbt").chmod(0o755)
    (tmp_path / "noisy.py").write_text(
        textwrap.dedent(
            f"""
            import os, subprocess
            open("written.txt", "w").close()
            subprocess.run([{str(fake_bin / "dbt")!r}, "parse"])
            os.environ["PATH"] = {str(fake_bin)!r} + os.pathsep + os.environ["PATH"]
            """
        )
    )
    (tmp_path / "reads_config.py").write_text(
        "from pipelines.settings import settings\nsettings()\n"
    )
    bad_config = tmp_path / "kpi.yaml"
    bad_config.write_text("no_such_setting: 1\n")
    env = {
        **os.environ,
        "KPI_CONFIG": str(bad_config),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    seen = _import_in_a_fresh_process(["noisy"], tmp_path, env)
    assert seen["writes"] == ["written.txt"]
    assert seen["processes"] == [[str(fake_bin / "dbt"), "parse"]]
    assert seen["path_changed"] is True
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "reads_config"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode != 0 and "no_such_setting" in out.stderr


def test_the_cli_imports_no_pipeline_library_until_a_command_needs_it():
    """`kpi --help` imports the CLI only: Dagster, dbt, Great Expectations, pandera, pandas
    and the sample shop's generator load in the commands that use them (run the pipeline,
    check or report on files, generate), not at every start."""
    heavy = ("dagster", "dagster_dbt", "dbt", "great_expectations", "pandera", "pandas")
    assert _loaded("pipelines.cli", (*heavy, "sample_shop")) == []


def test_the_definitions_load_great_expectations_only_when_a_gate_runs():
    """Importing the Dagster definitions (every `kpi run` starts with it) does not import
    Great Expectations: the gates import it when they run."""
    assert _loaded("pipelines.definitions", ("great_expectations",)) == []
    # the probe sees a module that does load it
    assert _loaded("great_expectations.expectations", ("great_expectations",)) == [
        "great_expectations"
    ]


def _loaded(module: str, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` are imported once ``module`` is, in a fresh interpreter."""
    probe = (
        f"import sys, json, {module}; "
        f"print('PROBE' + json.dumps([m for m in {names!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("PROBE"))
    return json.loads(line.removeprefix("PROBE"))
