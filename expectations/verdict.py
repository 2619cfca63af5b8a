"""A quality gate's verdict: the record the gate writes and the publish step reads.

One JSON file per publication unit (``<warehouse>/quality/results/<unit>.json``), replaced
atomically by each run of the unit's gate. It names the run that judged, the window, whether
every expectation passed and which failed (with failing rows), and the unit's KPIs the shop
cannot compute (not judged; ``skipped`` when that is all of them). The publish step acts on
it: it publishes a passing verdict of its own run, records a failing one as held back and a
skipped one as skipped, and refuses any other. Plain data (no Great Expectations here), so
readers do not load GX.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Failure:
    frame: str
    expectation: str
    column: str | None
    unexpected_count: int | None
    examples: list[Any] = field(default_factory=list)

    def describe(self) -> str:
        where = f"{self.frame}.{self.column}" if self.column else self.frame
        count = f" ({self.unexpected_count} rows)" if self.unexpected_count else ""
        shown = [str(e) for e in self.examples if e is not None][:3]  # a verdict from before
        examples = f"; e.g. {'; '.join(shown)}" if shown else ""
        return f"{self.expectation} on {where}{count}{examples}"


@dataclass
class Verdict:
    unit: str
    run_id: str
    start: str
    end: str
    success: bool
    evaluated: int
    failures: list[Failure]
    report: str | None
    checked_at: str
    #: the unit's KPIs the shop cannot compute, id -> why ("needs sessions"); not judged
    not_available: dict[str, str] = field(default_factory=dict)
    #: none of the unit's KPIs can be computed: nothing was judged, nothing is published
    skipped: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Verdict:
        data = json.loads(text)
        data["failures"] = [Failure(**f) for f in data["failures"]]
        return cls(**data)

    def describe_failures(self) -> list[str]:
        return [f.describe() for f in self.failures]

    def describe_not_available(self) -> list[str]:
        """One line per KPI not computed: "conversion_rate: needs sessions"."""
        return [f"{kpi}: {why}" for kpi, why in self.not_available.items()]


def quality_dir(warehouse_dir: Path) -> Path:
    return warehouse_dir / "quality"


def verdict_path(warehouse_dir: Path, unit: str) -> Path:
    return quality_dir(warehouse_dir) / "results" / f"{unit}.json"


def write_verdict(warehouse_dir: Path, verdict: Verdict) -> Path:
    """Replace the unit's verdict atomically: a reader sees the previous one or this one."""
    path = verdict_path(warehouse_dir, verdict.unit)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(verdict.to_json(), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_verdict(warehouse_dir: Path, unit: str) -> Verdict | None:
    path = verdict_path(warehouse_dir, unit)
    if not path.exists():
        return None
    return Verdict.from_json(path.read_text(encoding="utf-8"))
