"""Which KPIs a shop can compute, from the sources it delivers.

A shop delivers the sources it has; few have all six. Each node of the tree reads some of
them (:meth:`kpi_tree.model.Tree.node_sources`: its measures' facts and what the measures need
beyond them). A node that reads a source the shop has never delivered is **not available**:
its values are null with the reason ("needs sessions", 需要流量数据), never 0, and no gate,
pace, alert or scorecard judges it.

The build computes it (``dbt_project``): ``staging.stg_shop__source_days`` is the shop's
coverage, one row per source and delivery day with rows; ``kpi.fct_kpi_availability`` is
each node's sources, the missing ones and the reason in both languages, derived from the
tree's own list of what each node reads (exported to dbt with the tree). What is read here
is that table's rows: the gates, the publication, the board and the CLI all act on the one
verdict the build reached.

Coverage is kept per day so that a source missing on single days (not never delivered) can
be told apart; a KPI is judged here by whether each of its sources was delivered at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kpi_tree.model import Node, Tree
from kpi_tree.units import SHARED_UNIT, Table, unit_kpis

#: each KPI's availability, built by dbt (one row per node)
AVAILABILITY_TABLE = Table("kpi", "fct_kpi_availability")
#: the columns :func:`from_rows` reads, in order
COLUMNS = ("kpi_id", "sources", "missing_sources", "reason_en", "reason_zh")


@dataclass(frozen=True)
class Availability:
    """Whether the shop can compute one KPI, and if not, why."""

    kpi: str
    sources: tuple[str, ...]  # every source the KPI reads
    missing: tuple[str, ...] = ()  # those the shop has never delivered
    reason_en: str | None = None
    reason_zh: str | None = None

    @property
    def available(self) -> bool:
        return not self.missing

    def reason(self, lang: str = "en") -> str | None:
        """ "needs sessions" (en) or "需要流量数据" (zh); None when available."""
        return self.reason_zh if lang == "zh" else self.reason_en


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(s for s in (text or "").split(",") if s)


def from_rows(rows: Iterable[tuple]) -> dict[str, Availability]:
    """KPI id -> its availability, from rows of :data:`COLUMNS`."""
    return {
        kpi: Availability(kpi, _split(sources), _split(missing), reason_en, reason_zh)
        for kpi, sources, missing, reason_en, reason_zh in rows
    }


def is_available(by_kpi: Mapping[str, Availability], kpi: str) -> bool:
    """Whether ``kpi`` can be computed; a KPI the mapping does not know is."""
    found = by_kpi.get(kpi)
    return found is None or found.available


def unit_split(
    tree: Tree, unit: str, by_kpi: Mapping[str, Availability]
) -> tuple[list[Node], dict[str, Availability]]:
    """A unit's KPIs the shop can compute, and those it cannot (id -> why). For the shared
    unit: every KPI of the tree."""
    nodes = list(tree.nodes.values()) if unit == SHARED_UNIT else unit_kpis(tree, unit)
    available = [n for n in nodes if is_available(by_kpi, n.id)]
    missing = {n.id: by_kpi[n.id] for n in nodes if not is_available(by_kpi, n.id)}
    return available, missing


def by_reason(not_available: Mapping[str, str]) -> dict[str, list[str]]:
    """KPI id -> why, regrouped: why -> the KPIs (in the order given)."""
    grouped: dict[str, list[str]] = {}
    for kpi, why in not_available.items():
        grouped.setdefault(why, []).append(kpi)
    return grouped


def summary(not_available: Mapping[str, str]) -> str:
    """What a unit cannot compute, on one line: "needs sessions (sessions, paid_sessions);
    needs ad spend (ad_clicks)"."""
    return "; ".join(f"{why} ({', '.join(kpis)})" for why, kpis in by_reason(not_available).items())
