"""Missing source days an operator accepted: the record the gates read.

A day on which a source delivered nothing (``kpi.fct_source_gaps``) holds back every unit
owning a KPI that reads the source, night after night, until the day is repaired (its file
lands and the day is re-run) or an operator accepts the gap with ``kpi gaps accept SOURCE
DAY --reason ...``. Accepting changes no number: the KPIs stay unknown (null) that day and
their weeks and months stay flagged incomplete; it only lets the units publish them so.

The record is an append-only JSON-lines file beside the build warehouse, one line per
acceptance with who, when and why: it is the log the issue asks for, and a plain file keeps
the command from needing the warehouse's single writer lock while a night runs.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from pathlib import Path

from pydantic import BaseModel, Field

FILE_NAME = "accepted_gaps.jsonl"


class AcceptedGap(BaseModel):
    source: str
    day: dt.date
    reason: str = Field(min_length=1)
    accepted_by: str
    accepted_at: dt.datetime


def record_path(warehouse_dir: Path) -> Path:
    return warehouse_dir / FILE_NAME


def read_accepted(warehouse_dir: Path) -> list[AcceptedGap]:
    """Every acceptance in the record, oldest first; a line that cannot be read is an error
    naming the file and line (the gates must not guess what was accepted)."""
    path = record_path(warehouse_dir)
    if not path.exists():
        return []
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(AcceptedGap.model_validate_json(line))
        except ValueError as err:
            raise ValueError(
                f"{path}, line {number}: not an accepted gap ({err}); fix or remove the line"
            ) from err
    return out


def accepted_days(warehouse_dir: Path) -> set[tuple[str, dt.date]]:
    return {(g.source, g.day) for g in read_accepted(warehouse_dir)}


def accept(warehouse_dir: Path, source: str, day: dt.date, reason: str) -> AcceptedGap:
    gap = AcceptedGap(
        source=source,
        day=day,
        reason=reason.strip(),
        accepted_by=getpass.getuser(),
        accepted_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
    )
    path = record_path(warehouse_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(gap.model_dump(mode="json"), ensure_ascii=False) + "\n")
    return gap
