"""Plan versions on disk: append-only, one folder per version, never overwritten.

``<data>/targets/versions/<version_id>/`` holds ``version.json`` (who, when, why, from which
day, the plan's hash and its resolved drivers), ``plan.yaml`` (the plan file as it was) and
``targets.parquet`` (every target of the version). A version folder is written under a
temporary name and renamed into place, so a reader sees a whole version or none. The nightly
run loads every version into the build warehouse (``targets.plan_versions`` and
``targets.targets``); the versions on disk are the record, the tables a copy of it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

VERSION_FILE = "version.json"
PLAN_FILE = "plan.yaml"
TARGETS_FILE = "targets.parquet"

#: the targets table's columns (also the Parquet file's)
TARGET_SCHEMA: dict[str, Any] = {
    "version_id": pl.String,
    "kpi_id": pl.String,
    "grain": pl.String,
    "period": pl.String,
    "period_start": pl.Date,
    "period_end": pl.Date,
    "scope": pl.String,
    "dimension": pl.String,  # total / a dimension for scopes with actuals, else null
    "member": pl.String,
    "value": pl.Float64,
}


class StoreError(RuntimeError):
    """The version store cannot be read or written."""


@dataclass(frozen=True)
class StoredVersion:
    version_id: str
    plan_name: str
    plan_year: int
    top_kpi: str
    author: str
    created_at: str  # ISO 8601, UTC
    reason: str
    effective_from: str  # ISO date: the first day this version's targets are in force
    plan_hash: str
    plan_file: str
    method: str
    annual_target: float  # the year's target of the top KPI, new business included
    new_business: float
    months_total: float  # what the months add up to ((1 + buffer) × (annual − new business))
    history_as_of: str | None  # the newest day of history the plan was computed from
    drivers: dict[str, float] = field(default_factory=dict)
    shares: dict[str, float] = field(default_factory=dict)

    @property
    def created(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.created_at)

    @property
    def effective(self) -> dt.date:
        return dt.date.fromisoformat(self.effective_from)


class VersionStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def versions(self) -> list[StoredVersion]:
        """Every version, oldest first (by creation time)."""
        if not self.root.exists():
            return []
        out = []
        for folder in sorted(self.root.iterdir()):
            meta = folder / VERSION_FILE
            if folder.name.startswith(".") or not meta.is_file():
                continue
            try:
                out.append(StoredVersion(**json.loads(meta.read_text(encoding="utf-8"))))
            except (TypeError, ValueError) as err:
                raise StoreError(f"{meta}: not a plan version ({err})") from err
        return sorted(out, key=lambda v: (v.created_at, v.version_id))

    def get(self, version_id: str) -> StoredVersion:
        for v in self.versions():
            if v.version_id == version_id:
                return v
        known = ", ".join(v.version_id for v in self.versions()) or "none"
        raise StoreError(f"no plan version '{version_id}' (versions: {known})")

    def with_hash(self, plan_hash: str) -> StoredVersion | None:
        return next((v for v in self.versions() if v.plan_hash == plan_hash), None)

    def targets_path(self, version_id: str) -> Path:
        return self.root / version_id / TARGETS_FILE

    def targets(self, version_id: str) -> pl.DataFrame:
        return pl.read_parquet(self.targets_path(version_id))

    def add(self, meta: dict[str, Any], plan_text: str, rows: pl.DataFrame) -> StoredVersion:
        """Store a new version; its id is ``v<year>-<n>``, the next free number of the year."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".new-", dir=self.root))
        try:
            year = int(meta["plan_year"])
            taken = {v.version_id for v in self.versions()}
            n = 1 + sum(1 for v in taken if v.startswith(f"v{year}-"))
            while True:
                version_id = f"v{year}-{n:03d}"
                if version_id in taken:
                    n += 1
                    continue
                version = StoredVersion(version_id=version_id, **meta)
                (tmp / VERSION_FILE).write_text(
                    json.dumps(asdict(version), indent=2, ensure_ascii=False), encoding="utf-8"
                )
                (tmp / PLAN_FILE).write_text(plan_text, encoding="utf-8")
                rows.with_columns(version_id=pl.lit(version_id)).select(list(TARGET_SCHEMA)).cast(
                    TARGET_SCHEMA
                ).write_parquet(tmp / TARGETS_FILE)
                try:
                    # renaming onto an existing (non-empty) version fails: nothing is overwritten
                    os.rename(tmp, self.root / version_id)
                except OSError:
                    taken.add(version_id)
                    n += 1
                    continue
                return version
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
