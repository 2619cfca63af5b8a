"""Where things live and the few knobs a shop sets, in one place.

Every location hangs off one setting, the data directory: ``KPI_DATA_DIR`` in the environment
or ``--data-dir`` on the CLI (default ``./data``). A project config file (``kpi.yaml`` in the
working directory, or the file named by ``KPI_CONFIG``) sets the rest: the business time
zone, the bad-row threshold, the partition start, the nightly time, and per-source column
mappings and time zones. Everything has a default, so nothing has to be configured for the
demo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

DATA_DIR_ENV = "KPI_DATA_DIR"
CONFIG_ENV = "KPI_CONFIG"
DEFAULT_CONFIG_FILE = "kpi.yaml"

#: Source name -> declared time zone of its timestamps (a timestamp with an explicit offset
#: is taken as written). ``None``: the source has no timestamps.
DEFAULT_SOURCE_TIMEZONES: dict[str, str | None] = {
    "orders": "UTC",
    "order_items": None,
    "sessions": "UTC",
    "ad_spend": None,
    "conversations": "Asia/Shanghai",
    "shipments": "UTC",
}


@dataclass(frozen=True)
class SourceConfig:
    name: str
    timezone: str | None
    #: their column name -> our column name
    columns: dict[str, str] = field(default_factory=dict)


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
    source_raw: dict[str, Any] = raw.get("sources") or {}
    unknown_sources = set(source_raw) - set(DEFAULT_SOURCE_TIMEZONES)
    if unknown_sources:
        raise ValueError(
            f"{config_file}: unknown source(s) {sorted(unknown_sources)}; "
            f"the sources are {sorted(DEFAULT_SOURCE_TIMEZONES)}"
        )
    sources = {}
    for name, default_tz in DEFAULT_SOURCE_TIMEZONES.items():
        conf = source_raw.get(name) or {}
        sources[name] = SourceConfig(
            name=name,
            timezone=conf.get("timezone", default_tz),
            columns={str(k): str(v) for k, v in (conf.get("columns") or {}).items()},
        )
    return Settings(
        data_dir=Path(chosen).resolve(),
        business_timezone=tz,
        bad_row_threshold=threshold,
        partitions_start=str(raw.get("partitions_start", "2024-01-01")),
        nightly_hour=hour,
        nightly_minute=minute,
        sources=sources,
        config_file=config_file,
    )


@cache
def settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
