"""The CLI's options that name a team, a KPI, a source or a scope: checked before the command
runs, with the closest valid value and the list.

`--team sales` or `--kpi conversion_rat` would otherwise print an empty table, which reads as
"nothing to report". A value is accepted by its id or by its name in either language, in any
case (`--team Marketing`, `--team 推广部`: the id ``marketing``); anything else stops the
command with "did you mean …" and the valid values, exit status 2 (click's usage error).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import typer

from kpi_tree.model import default_tree
from pipelines.i18n import _
from pipelines.ingest.landing import closest

#: the scope of the whole shop, and (targets show) every scope at once
WHOLE_SHOP = "all"
EVERY_SCOPE = "any"


def _suggest(value: str, valid: Iterable[str]) -> str:
    valid = list(valid)
    match = closest(value, valid)
    hint = _("did you mean {value}? ").format(value=match) if match else ""
    return hint + _("valid: {values}").format(values=", ".join(valid))


def resolve(value: str, names: Mapping[str, Iterable[str]], what: str) -> str:
    """The id ``value`` names (an id or a name, any case); a usage error, with the closest
    id and the list, when it names none."""
    wanted = value.strip().lower()
    for key, aliases in names.items():
        if wanted == key.lower() or wanted in {str(a).strip().lower() for a in aliases if a}:
            return key
    raise typer.BadParameter(
        _("{value!r} is not a {what}: {suggestion}").format(
            value=value, what=what, suggestion=_suggest(value, names)
        )
    )


def team(value: str | None) -> str | None:
    """A tree team, by its id or its name."""
    if value is None:
        return None
    teams = default_tree().teams
    names = {tid: (info.get("en"), info.get("zh")) for tid, info in teams.items()}
    return resolve(value, names, _("team"))


def kpi(value: str | None) -> str | None:
    """A KPI of the tree, by its id or its name."""
    if value is None:
        return None
    names = {nid: (node.en, node.zh) for nid, node in default_tree().nodes.items()}
    return resolve(value, names, _("KPI"))


def kpis(values: list[str] | None) -> list[str] | None:
    return None if values is None else [kpi(v) for v in values]  # type: ignore[misc]


def source(value: str | None) -> str | None:
    """A source of the tree (orders, sessions, …), by its id or its name."""
    if value is None:
        return None
    sources = default_tree().sources
    names = {sid: (info.get("en"), info.get("zh")) for sid, info in sources.items()}
    return resolve(value, names, _("source"))


def published_scopes() -> list[str] | None:
    """The scopes the pace table has (``channels:organic``, …), from the serving warehouse;
    None when there is none yet (the command says so itself)."""
    import duckdb

    from pipelines.publish.serving import serving_db
    from pipelines.queries import table_exists
    from pipelines.settings import load_settings

    path = serving_db(load_settings())
    if not path.exists():
        return None
    with duckdb.connect(str(path), read_only=True) as con:
        if not table_exists(con, "kpi_tree", "kpi_vs_target"):
            return None
        rows = con.execute(
            "select distinct scope from kpi_tree.kpi_vs_target order by scope"
        ).fetchall()
    return [r[0] for r in rows]


def scope(value: str) -> str:
    """``all``, ``any`` or a scope the pace table has (``channels:organic``)."""
    if value in (WHOLE_SHOP, EVERY_SCOPE):
        return value
    scopes = published_scopes()
    if scopes is None or value in scopes:
        return value
    lowered = {s.lower(): s for s in scopes}
    if value.lower() in lowered:
        return lowered[value.lower()]
    valid = [EVERY_SCOPE, *scopes]
    raise typer.BadParameter(
        _("{value!r} is not a scope of the pace table: {suggestion}").format(
            value=value, suggestion=_suggest(value, valid)
        )
    )
