"""The fast paths (pipelines/fastpaths.py) against their public paths, alternating, on a small
shop: `python bench/fastpaths.py [--days 60] [--nights 6] [--rounds 3] [--work DIR]`.

- a night's `kpi run --date D` in its own process, ``KPI_FASTPATHS`` on and off by turns
  (wall, and CPU of the process and its children);
- dagster-dbt's two invocations of a night (the KPI tree, then the targets), each path turned
  off alone, in a fresh process per measurement: in this process or a `dbt` subprocess, the
  version read or `dbt --version`, no adapter handle or dagster-dbt's;
- a day's files validated (every source), the one-query screen on and off by turns.

Prints one JSON document. The machine is shared: compare figures within a run, CPU first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

KPI = str(Path(sys.executable).with_name("kpi"))
DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def _timed(cmd: list[str], env: dict[str, str]) -> dict:
    wall, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{cmd} failed: {(done.stdout + done.stderr)[-3000:]}")
    return {
        "wall": time.perf_counter() - wall,
        "cpu": _children_cpu() - cpu,
        "stdout": done.stdout,
    }


def _land(staged: Path, landing: Path, days: set[str]) -> None:
    for f in staged.rglob("*"):
        if f.is_file() and (m := DATE.search(f.name)) and m.group(1) in days:
            target = landing / f.relative_to(staged)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)


def _env(flag: str, data_dir: Path) -> dict[str, str]:
    return {**os.environ, "KPI_FASTPATHS": flag, "KPI_DATA_DIR": str(data_dir)}


#: one measurement of dagster-dbt's two invocations of a night, in a fresh process;
#: argv: data dir, day, the path turned off (none, popen, version, adapter), target folder,
#: the dbt command (build, or ls: dbt's fixed cost alone)
DBT_PROBE = """
import json, os, sys, time
import datetime as dt
from pathlib import Path
from dagster_dbt import DbtCliResource
from pipelines.settings import load_settings
from pipelines.transform.assets import KpiDbtCliResource, dbt_vars, window_env
from pipelines.partitions import RunWindow
from pipelines.transform.in_process import environment_set
from pipelines.transform.project import dbt_executable, dbt_project

data_dir, day, off = Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]), sys.argv[3]
settings = load_settings(data_dir)
project = dbt_project()

class Measured(KpiDbtCliResource):
    def cli(self, args, **kwargs):
        if off == "version":  # dagster-dbt's own, asked for each invocation (a step's resource)
            self.__dict__["_cli_version"] = DbtCliResource._cli_version.func(self)
        if off == "popen":
            return DbtCliResource.cli(self, args, **kwargs)
        return super().cli(args, **kwargs)

    def _initialize_dbt_core_adapter(self, args):
        if off == "adapter":
            return DbtCliResource._initialize_dbt_core_adapter(self, args)
        return super()._initialize_dbt_core_adapter(args)

dbt = Measured(project_dir=project, dbt_executable=dbt_executable())
start_wall, start = time.perf_counter(), os.times()
environment = {
    "KPI_BUILD_DB": str(settings.build_db),
    "KPI_DUCKDB_MEMORY_LIMIT": settings.memory_limit,
    "KPI_SPARK_DIR": str(settings.spark_dir),
    "KPI_WINDOW_START": day.isoformat(),
    "KPI_WINDOW_END": day.isoformat(),
    **window_env(RunWindow(day, day, (day, day), day)),
}
vars_ = json.dumps(dbt_vars(settings))
with environment_set(environment):
    for select in (["--exclude", "tag:targets"], ["--select", "tag:targets"]):
        command = [sys.argv[5], "--target", settings.dbt_target, "--vars", vars_, *select]
        target = Path(sys.argv[4]) / f"{off}-{select[1]}-{time.time_ns()}"
        invocation = dbt.cli(command, target_path=target, raise_on_error=False)
        invocation.wait()
end = os.times()
cpu = (end.user + end.system + end.children_user + end.children_system) - (
    start.user + start.system + start.children_user + start.children_system)
print("PROBE" + json.dumps({"wall": time.perf_counter() - start_wall, "cpu": cpu}))
"""


def dbt_invocations(data_dir: Path, day: str, rounds: int, work: Path, command: str) -> dict:
    out: dict[str, list] = {k: [] for k in ("none", "popen", "version", "adapter")}
    for _ in range(rounds):
        for off in out:
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    DBT_PROBE,
                    str(data_dir),
                    day,
                    off,
                    str(work / "targets"),
                    command,
                ],
                env=_env("1", data_dir),
                capture_output=True,
                text=True,
            )
            line = [x for x in done.stdout.splitlines() if x.startswith("PROBE")]
            if done.returncode or not line:
                raise SystemExit(f"dbt probe ({off}) failed: {done.stderr[-3000:]}")
            out[off].append(json.loads(line[0].removeprefix("PROBE")))
    return out


def screen(data_dir: Path, day: str, rounds: int) -> dict:
    from pipelines.ingest.contracts import SOURCES
    from pipelines.ingest.validate import validate_file
    from pipelines.settings import load_settings

    settings = load_settings(data_dir)
    files = [
        (f, source)
        for source in SOURCES
        for f in sorted(settings.landing_dir.rglob(f"{source}_{day}*"))
        if f.is_file()
    ]
    out: dict[str, list[float]] = {"1": [], "0": []}
    for _ in range(rounds):
        for flag in out:
            os.environ["KPI_FASTPATHS"] = flag
            start = time.process_time()
            for f, source in files:
                validate_file(f, source, settings.source(source), settings.business_timezone)
            out[flag].append(time.process_time() - start)
    os.environ.pop("KPI_FASTPATHS")
    return {"files": len(files), "cpu": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--nights", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--orders-per-day", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("/tmp/kpi-bench-fastpaths"))
    parser.add_argument(
        "--dbt-command", default="build", help="the two invocations' command (ls: fixed cost)"
    )
    parser.add_argument(
        "--only", choices=("dbt", "screen"), help="on the shop already in --work, this alone"
    )
    args = parser.parse_args()
    data_dir = args.work / "data"
    if args.only:
        day = max(DATE.search(f.name).group(1) for f in (data_dir / "landing").rglob("*_*.csv"))
        if args.only == "dbt":
            result = dbt_invocations(data_dir, day, args.rounds, args.work, args.dbt_command)
        else:
            result = screen(data_dir, day, args.rounds * 2)
        print(json.dumps(result, indent=1))
        return
    shutil.rmtree(args.work, ignore_errors=True)
    staged = args.work / "staged"
    start = dt.date(2025, 3, 1)
    total = args.days + args.nights
    _timed(
        [KPI, "--data-dir", str(data_dir), "generate", "--start", start.isoformat(),
         "--days", str(total), "--orders-per-day", str(args.orders_per_day),
         "--format", "csv", "--out", str(staged)],
        _env("1", data_dir),
    )  # fmt: skip
    days = [(start + dt.timedelta(d)).isoformat() for d in range(total)]
    history, nights = days[: args.days], days[args.days :]
    _land(staged, data_dir / "landing", set(history))
    _timed([KPI, "--data-dir", str(data_dir), "run"], _env("1", data_dir))
    result: dict = {"nights": []}
    for i, day in enumerate(nights):
        flag = "1" if i % 2 == 0 else "0"
        _land(staged, data_dir / "landing", {day})
        t = _timed([KPI, "--data-dir", str(data_dir), "run", "--date", day], _env(flag, data_dir))
        result["nights"].append({"day": day, "flag": flag, "wall": t["wall"], "cpu": t["cpu"]})
    for flag in ("1", "0"):
        cpu = [n["cpu"] for n in result["nights"] if n["flag"] == flag]
        wall = [n["wall"] for n in result["nights"] if n["flag"] == flag]
        result[f"night_{flag}"] = {
            "cpu_median": statistics.median(cpu),
            "wall_median": statistics.median(wall),
        }
    result["dbt"] = dbt_invocations(data_dir, nights[-1], args.rounds, args.work, args.dbt_command)
    result["screen"] = screen(data_dir, nights[-1], args.rounds * 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
