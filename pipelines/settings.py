"""Where things live and the few knobs a shop sets, in one place.

Every location hangs off one setting, the data directory: ``KPI_DATA_DIR`` in the environment
or ``--data-dir`` on the CLI (default ``./data``). A project config file (``kpi.yaml`` in the
working directory, or the file named by ``KPI_CONFIG``) sets the rest: the business time
zone, the bad-row threshold, the partition start, the nightly time, and per-source column
mappings and time zones. Everything has a default, so nothing has to be configured for the
demo.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from pipelines.ingest.contracts import SOURCE_SPECS

DATA_DIR_ENV = "KPI_DATA_DIR"
CONFIG_ENV = "KPI_CONFIG"
DEFAULT_CONFIG_FILE = "kpi.yaml"

@dataclass(frozen=True)
class SourceConfig:
    name: str
    timezone: str | None
    #: their column name -> our column name
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetSettings:
    """The ``targets:`` section of the config: plan files, pace thresholds, the mid-month check."""

    #: plan files (globs; relative to the config file's folder, or to the data directory for
    #: the default) that the nightly run turns into a new version whenever one changes
    plans: tuple[str, ...] = ()
    #: attainment of the paced target: >= on_track is on track, >= at_risk at risk, else short
    on_track: float = 1.0
    at_risk: float = 0.9
    mid_month_day: int = 15  # the day of the month the mid-month check (月中检) looks at
    trailing_days: int = 91  # drivers planned as null take the trailing history of this many days
    author: str = "nightly run"  # recorded on versions the nightly run makes from plan files


DEFAULT_MEMORY_LIMIT = "2GB"
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


@dataclass(frozen=True)
class AlertSettings:
    """The ``alerts:`` section: where each team's alerts go and when a night re-alerts."""

    #: team id (or ``default``) -> channel mappings (see pipelines/alerts/delivery.py); a team
    #: without its own list uses ``default``; the default default is the file sink
    channels: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    realert_points: float = 5.0
    retries: int = 3
    backoff_seconds: float = 2.0


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    business_timezone: str = "Asia/Shanghai"
    bad_row_threshold: float = 0.05
    partitions_start: str = "2024-01-01"
    nightly_hour: int = 2
    nightly_minute: int = 30
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    config_file: Path | None = None
    targets: TargetSettings = field(default_factory=TargetSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    #: DuckDB's memory cap for the build warehouse (ours and dbt's connections); beyond it
    #: DuckDB spills to disk instead of growing with the history
    memory_limit: str = DEFAULT_MEMORY_LIMIT

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def warehouse_dir(self) -> Path:
        return self.data_dir / "warehouse"

    @property
    def build_db(self) -> Path:
        return self.warehouse_dir / "build.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)

    def source(self, name: str) -> SourceConfig:
        return self.sources[name]

    @property
    def targets_dir(self) -> Path:
        """Plan files dropped here are versioned by the nightly run; versions live below."""
        return self.data_dir / "targets"

    def plan_files(self) -> list[Path]:
        """The plan files the nightly run versions: ``targets.plans`` globs, else the drop
        folder ``<data>/targets/plans/*.yaml``."""
        if self.targets.plans:
            base = self.config_file.parent if self.config_file else Path.cwd()
            patterns = [str(p if Path(p).is_absolute() else base / p) for p in self.targets.plans]
        else:
            patterns = [str(self.targets_dir / "plans" / "*.yaml")]
        found: list[Path] = []
        for pattern in patterns:
            matches = sorted(Path(m) for m in glob.glob(pattern))
            if not matches and not glob.has_magic(pattern):
                raise FileNotFoundError(f"targets.plans: no such plan file {pattern}")
            found.extend(m for m in matches if m not in found)
        return found


def _config_path() -> Path | None:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"{CONFIG_ENV}={explicit}: no such config file")
        return path
    local = Path.cwd() / DEFAULT_CONFIG_FILE
    return local if local.is_file() else None


def _load_yaml(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the config must be a mapping")
    return data


def load_settings(data_dir: str | Path | None = None) -> Settings:
    """Read the settings: explicit argument > ``KPI_DATA_DIR`` > ``./data``."""
    config_file = _config_path()
    raw = _load_yaml(config_file)
    unknown = set(raw) - {
        "business_timezone",
        "bad_row_threshold",
        "partitions_start",
        "nightly_time",
        "sources",
        "data_dir",
        "targets",
        "alerts",
        "memory_limit",
    }
    if unknown:
        raise ValueError(f"{config_file}: unknown setting(s) {sorted(unknown)}")
    chosen = data_dir or os.environ.get(DATA_DIR_ENV) or raw.get("data_dir") or "data"
    tz = str(raw.get("business_timezone", "Asia/Shanghai"))
    ZoneInfo(tz)  # fail early on a typo
    threshold = float(raw.get("bad_row_threshold", 0.05))
    if not 0 <= threshold <= 1:
        raise ValueError(f"{config_file}: bad_row_threshold must be between 0 and 1")
    hour, minute = (int(p) for p in str(raw.get("nightly_time", "02:30")).split(":"))
    memory_limit = str(raw.get("memory_limit", DEFAULT_MEMORY_LIMIT)).strip()
    if not _MEMORY.match(memory_limit):
        raise ValueError(
            f"{config_file}: memory_limit must be an amount such as 2GB or 1500MB, "
            f"not {memory_limit!r}"
        )
    source_raw: dict[str, Any] = raw.get("sources") or {}
    unknown_sources = set(source_raw) - set(SOURCE_SPECS)
    if unknown_sources:
        raise ValueError(
            f"{config_file}: unknown source(s) {sorted(unknown_sources)}; "
            f"the sources are {sorted(SOURCE_SPECS)}"
        )
    sources = {}
    for name, spec in SOURCE_SPECS.items():
        conf = source_raw.get(name) or {}
        sources[name] = SourceConfig(
            name=name,
            timezone=conf.get("timezone", spec.timezone),
            columns={str(k): str(v) for k, v in (conf.get("columns") or {}).items()},
        )
    return Settings(
        targets=_target_settings(raw.get("targets"), config_file),
        alerts=_alert_settings(raw.get("alerts"), config_file),
        data_dir=Path(chosen).resolve(),
        business_timezone=tz,
        bad_row_threshold=threshold,
        partitions_start=str(raw.get("partitions_start", "2024-01-01")),
        nightly_hour=hour,
        nightly_minute=minute,
        sources=sources,
        config_file=config_file,
        memory_limit=memory_limit,
    )


def _target_settings(raw: Any, config_file: Path | None) -> TargetSettings:
    if raw is None:
        return TargetSettings()
    where = f"{config_file}: targets"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a mapping")
    allowed = {"plans", "on_track", "at_risk", "mid_month_day", "trailing_days", "author"}
    unknown = set(raw) - allowed
    if unknown:
        raise ValueError(
            f"{where}: unknown setting(s) {sorted(unknown)}; allowed {sorted(allowed)}"
        )
    plans = raw.get("plans") or []
    if isinstance(plans, str):
        plans = [plans]
    default = TargetSettings()
    out = TargetSettings(
        plans=tuple(str(p) for p in plans),
        on_track=float(raw.get("on_track", default.on_track)),
        at_risk=float(raw.get("at_risk", default.at_risk)),
        mid_month_day=int(raw.get("mid_month_day", default.mid_month_day)),
        trailing_days=int(raw.get("trailing_days", default.trailing_days)),
        author=str(raw.get("author", default.author)),
    )
    if not 0 <= out.at_risk <= out.on_track:
        raise ValueError(f"{where}: need 0 <= at_risk <= on_track")
    if not 1 <= out.mid_month_day <= 28:
        raise ValueError(f"{where}.mid_month_day: must be a day between 1 and 28")
    if out.trailing_days < 1:
        raise ValueError(f"{where}.trailing_days: must be at least 1")
    return out


def _alert_settings(raw: Any, config_file: Path | None) -> AlertSettings:
    if raw is None:
        return AlertSettings()
    where = f"{config_file}: alerts"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a mapping")
    allowed = {"channels", "realert_points", "retries", "backoff_seconds"}
    unknown = set(raw) - allowed
    if unknown:
        raise ValueError(
            f"{where}: unknown setting(s) {sorted(unknown)}; allowed {sorted(allowed)}"
        )
    channels = raw.get("channels") or {}
    if not isinstance(channels, dict) or not all(isinstance(v, list) for v in channels.values()):
        raise ValueError(f"{where}.channels: a mapping of team (or default) to a list of channels")
    default = AlertSettings()
    return AlertSettings(
        channels={str(k): tuple(dict(c) for c in v) for k, v in channels.items()},
        realert_points=float(raw.get("realert_points", default.realert_points)),
        retries=int(raw.get("retries", default.retries)),
        backoff_seconds=float(raw.get("backoff_seconds", default.backoff_seconds)),
    )


@cache
def settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
