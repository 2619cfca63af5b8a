"""`kpi targets`: plan a year, list the versions, show the pace, work out the catch-up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.markup import escape
from rich.table import Table

from kpi_tree.availability import summary
from kpi_tree.formats import Formats
from kpi_tree.model import Tree, default_tree
from kpi_tree.targets.build import ALL
from kpi_tree.targets.plan import PlanError
from kpi_tree.vocabulary import Vocabulary
from pipelines.alerts.words import (
    DIMENSION,
    STATUS,
    days_without,
    kpi_name,
    member_label,
    observed_text,
    team_name,
    word,
)
from pipelines.cli import choices
from pipelines.cli.console import console, err_console
from pipelines.cli.serving import business_time
from pipelines.i18n import N_, _, lang, ngettext
from pipelines.publish.serving import serving_db
from pipelines.settings import Settings, load_settings
from pipelines.targets.planning import (
    Planned,
    compute,
    current_user,
    default_effective_from,
    store_version,
    version_store,
)
from pipelines.targets.report import (
    PERIOD_LABELS,
    ReportError,
    day_targets,
    driver_catch_up,
    latest_day,
    overall_catch_up,
    pace_table,
)

app = typer.Typer(
    help=(
        "Targets: plan a year top-down (`plan`), keep every version (`versions`), pace the "
        "month, quarter and year against them (`show`) and work out what the rest of the period "
        "needs (`catch-up`)."
    ),
    no_args_is_help=True,
)

DateOption = Annotated[
    dt.datetime | None,
    typer.Option(
        formats=["%Y-%m-%d"], help=N_("The day to judge (default: the newest published).")
    ),
]
PeriodOption = Annotated[
    str, typer.Option(help=N_("month, quarter or year (to date)."), show_default=True)
]
STATUS_STYLE = {"on_track": "green", "at_risk": "yellow", "short": "red", "not_judged": "dim"}
#: the terminal width the full pace table needs
WIDE = 120


#: the pace table's headings
HEADINGS = {
    "KPI": N_("KPI"),
    "team": N_("team"),
    "scope": N_("scope"),
    "target": N_("target"),
    "paced target": N_("paced target"),
    "actual": N_("actual"),
    "attainment": N_("attainment"),
    "gap": N_("gap"),
    "projected": N_("projected"),
    "status": N_("status"),
    "paced": N_("paced"),
    "att.": N_("att."),
    "observed": N_("observed"),
}


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[red]{escape(message)}[/red]", highlight=False)
    return typer.Exit(code)


def _serving(settings: Settings) -> duckdb.DuckDBPyConnection:
    path = serving_db(settings)
    if not path.exists():
        raise _fail(_("Nothing published yet: run `kpi run` or `kpi demo` first."))
    return duckdb.connect(str(path), read_only=True)


def print_pace(
    settings: Settings,
    as_of: dt.date | None = None,
    period: str = "month",
    team: str | None = None,
    scope: str | None = "all",
) -> None:
    with _serving(settings) as con:
        try:
            pace = pace_table(con, as_of, period, team, scope)
        except ReportError as err:
            raise _fail(str(err)) from err
    formats = settings.formats
    format_value, format_share = formats.value, formats.share
    title = _(
        "{period} on {day}: {start} .. {end}, day {n} of {days} (plan in force that day: "
        "{versions}; data as of {as_of})"
    ).format(
        period=_(PERIOD_LABELS[period]),
        day=pace.as_of_day,
        start=pace.period_start,
        end=pace.period_end,
        n=pace.days_elapsed,
        days=pace.days_elapsed + pace.days_left,
        versions=", ".join(pace.versions),
        as_of=pace.data_as_of,
    )
    # a terminal narrower than the full table gets the columns a reader acts on, each amount
    # whole (a truncated amount is a wrong amount): the KPI in the shop's language, actual,
    # paced target, attainment, status; the scope only when more than the whole shop is shown
    narrow = console.width < WIDE
    columns = (
        ["KPI", *(["scope"] if scope != "all" else []), "actual", "paced", "att.", "status"]
        if narrow
        else [
            "KPI",
            "team",
            "scope",
            "target",
            "paced target",
            "actual",
            "attainment",
            "gap",
            "projected",
            "status",
            "observed",
        ]
    )
    table = Table(title=escape(title), title_justify="left", pad_edge=not narrow)
    for col in columns:
        left = col in ("KPI", "team", "scope", "status")
        table.add_column(
            _(HEADINGS[col]),
            justify="left" if left else "right",
            # names wrap; amounts, shares and statuses never break or lose a character
            no_wrap=not left or col == "status",
            overflow="fold" if left else "ignore",
            ratio=1 if col == "KPI" else None,
        )
    counts: dict[str, int] = {}
    zh = lang() == "zh"
    tree = default_tree()
    incomplete: list[str] = []
    for r in pace.rows:
        status = r["status"]
        counts[status] = counts.get(status, 0) + 1
        style = STATUS_STYLE.get(status, "")
        mark = "*" if r["is_provisional"] else ""
        shown = f"[{style}]{escape(word(STATUS, status))}[/{style}]" if style else "-"
        if r.get("missing_days"):
            # a source missing on some days: judged over the other days, and said so
            mark += "†"
            shown = _("{status}, {note}").format(status=shown, note=escape(incomplete_text(r)))
            if r["scope"] == "all":
                name = r["name_zh"] if zh else r["name_en"]
                incomplete.append(_("{kpi}: {days}").format(kpi=name, days=days_without(tree, r)))
        if narrow:
            name = r["name_zh"] if zh else r["name_en"]
            table.add_row(
                f"{name}{mark}",
                *([scope_text(settings, r)] if scope != "all" else []),
                format_value(r["actual"], r["unit"]),
                format_value(r["paced_target"], r["unit"]),
                format_share(r["attainment"]),
                shown,
            )
            continue
        table.add_row(
            f"{r['name_en']} {r['name_zh']}{mark}",
            team_name(tree, r["team"]) if r["team"] in tree.teams else r["team"],
            scope_text(settings, r),
            format_value(r["target"], r["unit"]),
            format_value(r["paced_target"], r["unit"]),
            format_value(r["actual"], r["unit"]),
            format_share(r["attainment"]),
            format_share(r["gap_pct"], signed=True),
            format_value(r["projected"], r["unit"]),
            shown,
            # what has arrived so far, beside the expected final value judged
            observed_text(formats, r["observed_actual"], r["unit"]) if r.get("is_expected") else "",
        )
    console.print(table)
    if narrow:
        console.print(
            _(
                "A terminal of {width} columns or more shows the target, the gap and the "
                "projection too."
            ).format(width=WIDE),
            highlight=False,
        )
    console.print(
        _(
            "paced target: the target's own day weights to date (rates: the rate in force); "
            "attainment: actual / paced (inverted for lower-is-better); projected: the period's "
            "end at the current run rate; * provisional (sign-offs still maturing): actual is "
            "the expected final value from mature cohorts, observed what has arrived so far."
        )
        + " "
        + _(", ").join(f"{word(STATUS, k)}: {v}" for k, v in sorted(counts.items()) if k),
        highlight=False,
    )
    if incomplete:
        console.print(
            _(
                "† incomplete: a source is missing on some days; actual, paced target and "
                "attainment are over the other days, the projection runs them over the whole "
                "period. {which}."
            ).format(which=_("; ").join(incomplete)),
            highlight=False,
        )
    if pace.not_paced:
        console.print(
            _("Not paced, not available: {what}.").format(what=summary(pace.not_paced)),
            highlight=False,
        )


def incomplete_text(row: dict) -> str:
    n = int(row["missing_days"])
    return ngettext("incomplete: {n} day", "incomplete: {n} days", n).format(n=n)


def scope_text(settings: Settings, row: dict) -> str:
    """A pace row's scope, its member by its label (``channels:paid search``)."""
    if not row.get("dimension") or row.get("member") is None or ":" not in row["scope"]:
        return row["scope"]
    allocation = row["scope"].split(":", 1)[0]
    label = settings.vocabulary.label(row["dimension"], row["member"], lang())
    return f"{allocation}:{label}"


def print_catch_up(
    settings: Settings,
    as_of: dt.date | None = None,
    period: str = "month",
    kpi: str | None = None,
    hold: list[str] | None = None,
    absorb: str | None = None,
) -> None:
    tree = default_tree()
    with _serving(settings) as con:
        as_of = as_of or latest_day(con)
        if as_of is None:
            raise _fail(_("no pace published yet: plan targets and run the nightly job first"))
        if kpi is None:
            top = con.execute(
                "select top_kpi_id from kpi_tree.plan_versions order by created_at desc limit 1"
            ).fetchall()
            kpi = top[0][0] if top else "net_revenue"
        try:
            overall = overall_catch_up(con, as_of, period, kpi)
            drivers = driver_catch_up(con, tree, as_of, period, kpi, hold or None, absorb)
        except ReportError as err:
            raise _fail(str(err)) from err
        days = list(overall.result.days)
        plan_days = (
            day_targets(con, kpi, "all", days[0], days[-1], as_of, overall.row["version_id"])
            if days
            else {}
        )
    node = tree.nodes[kpi]
    r, c = overall.row, overall.result
    format_value, format_share = settings.formats.value, settings.formats.share

    def value(amount: float | None) -> str:
        return format_value(amount, node.unit)

    console.print(
        "[bold]"
        + escape(_("{period} on {day}").format(period=_(PERIOD_LABELS[period]), day=as_of))
        + "[/bold]: "
        + escape(
            _("{kpi} is {actual} of a {target} target (paced {paced}, {attainment}).").format(
                kpi=kpi_name(node),
                actual=value(r["actual"]),
                target=value(r["target"]),
                paced=value(r["paced_target"]),
                attainment=format_share(r["attainment"]),
            )
        ),
        highlight=False,
    )
    if c.needed <= 0:
        console.print(_("The target is already made: the remaining days need nothing more."))
    else:
        console.print(
            _(
                "The remaining {n} days need {needed} (the plan expected {planned}: {factor} as "
                "much), {daily} a day on average, split by the target's own day weights:"
            ).format(
                n=len(days),
                needed=value(c.needed / 100),
                planned=value(c.planned_remaining / 100),
                factor=format_value(c.factor, "multiple"),
                daily=value(c.needed / 100 / max(len(days), 1)),
            ),
            highlight=False,
        )
        table = Table(_("day"), _("needed"), _("planned"))
        for d in days[:10]:
            table.add_row(str(d), value(c.days[d] / 100), value(plan_days.get(d)))
        if len(days) > 10:
            table.add_row(_("… {n} more days").format(n=len(days) - 10), "", "")
        console.print(table)
    table = Table(
        title=escape(
            _(
                "If one driver of {kpi} stays at its run rate, the others must reach (over the "
                "remaining days)"
            ).format(kpi=kpi_name(node))
        ),
        title_justify="left",
    )
    table.add_column(_("held at run rate"))
    table.add_column(_("must reach"))

    def named(k: str) -> str:
        return kpi_name(tree.nodes[k])

    for d in drivers:
        held = _(", ").join(
            f"{named(k)} {format_value(v, tree.nodes[k].unit)}" for k, v in d.held.items()
        )
        required = _(", ").join(
            f"{named(k)} {format_value(v, tree.nodes[k].unit)}"
            + (
                _(" ({factor} plan)").format(factor=format_value(d.factor[k], "multiple"))
                if k in d.factor
                else ""
            )
            # a rate above 100 % says the held driver's shortfall is too large for this one
            # to make up, not that the plan is wrong
            + (
                _(": above 100 %, it cannot close the gap alone")
                if tree.nodes[k].unit == "ratio" and v > 1
                else ""
            )
            for k, v in d.required.items()
        )
        table.add_row(escape(held), escape(required))
    console.print(table)


@app.command("plan")
def plan_cmd(
    plan_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A plan YAML.")],
    author: Annotated[str | None, typer.Option(help="Who made it (default: your user).")] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why (recorded with the version; required to store it).")
    ] = None,
    effective_from: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="First day the version is in force (default: 1 January for a year's first "
            "version, else the day after the newest data: past days keep their targets).",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Compute and print; store nothing.")] = False,
    force: Annotated[
        bool, typer.Option(help="Store even if a version with the same plan exists.")
    ] = False,
) -> None:
    """Compute a plan file against the warehouse's history and store it as a new version."""
    settings = load_settings()
    tree = default_tree()
    con = None
    if settings.build_db.exists():
        try:
            con = duckdb.connect(str(settings.build_db), read_only=True)
        except duckdb.IOException as err:
            raise _fail(
                _(
                    "the build warehouse {path} is being written by a run; try again when it "
                    "ends ({error})"
                ).format(path=settings.build_db, error=err)
            ) from err
    try:
        try:
            planned = compute(plan_file, tree, con, trailing_days=settings.targets.trailing_days)
        except (PlanError, ValueError) as err:
            where = "" if str(err).startswith(str(plan_file)) else f"{plan_file}: "
            raise _fail(f"{where}{err}") from err
    finally:
        if con is not None:
            con.close()
    _print_plan(planned, tree, settings.formats, settings.vocabulary)
    store = version_store(settings)
    same = store.with_hash(planned.plan.hash)
    if dry_run:
        console.print(_("--dry-run: nothing stored."))
        return
    if same is not None and not force:
        raise _fail(
            _(
                "version {version} ({created}) already has exactly this plan; change the plan, "
                "or pass --force to store it again"
            ).format(version=same.version_id, created=same.created_at)
        )
    if not reason:
        raise _fail(_("--reason is required: every version records why it was made"))
    year = planned.plan.year
    effective = (
        effective_from.date()
        if effective_from
        else default_effective_from(store, year, planned.history_as_of, dt.date.today())
    )
    try:
        version = store_version(
            store,
            planned,
            plan_path=plan_file.resolve(),
            author=author or current_user(),
            reason=reason,
            effective_from=effective,
        )
    except ValueError as err:
        raise _fail(str(err)) from err
    console.print(
        escape(
            _(
                "Stored version {version} by {author}, in force from {day} ({folder}). The next "
                "run loads it into the warehouse (`kpi run --date D` to do it now)."
            ).format(
                version=version.version_id,
                author=version.author,
                day=version.effective_from,
                folder=store.root / version.version_id,
            )
        ),
        highlight=False,
    )


def _driver_basis(planned: Planned, tree: Tree, node_id: str) -> str:
    """Where a planned driver came from: the plan, the trailing window, or (a KPI that
    matures) the mature days only."""
    basis = planned.computed.history_basis.get(node_id)
    if basis is None:
        return _("the plan")
    days = dt.timedelta(days=planned.trailing_days - 1)
    if basis == "mature" and planned.mature_as_of is not None:
        end = planned.mature_as_of
        return _("mature days {start} .. {end} (outcomes all in)").format(start=end - days, end=end)
    end = planned.history_as_of
    if end is None:
        return _("trailing history")
    if tree.node_matures(tree.nodes[node_id]):
        return _("trailing {start} .. {end} (still maturing)").format(start=end - days, end=end)
    return _("trailing {start} .. {end}").format(start=end - days, end=end)


#: how the year's target was reached (kpi_tree.targets.plan.AnnualTarget.method)
ANNUAL_METHOD = {
    "annual": N_("as the plan states it"),
    "forward": N_("forward from last year"),
    "backward": N_("backward from the profit goal"),
    "combined": N_("forward and backward combined"),
}


def _annual_text(planned: Planned, formats: Formats) -> str:
    """How the year's target was reached and where last year came from, in the active
    language (the amounts in the shop's currency)."""
    annual = planned.computed.annual
    method = ANNUAL_METHOD.get(annual.method)
    parts = [_(method) if method else annual.method]
    if annual.forward is not None:
        parts.append(_("forward {amount}").format(amount=formats.money(annual.forward)))
    if annual.backward is not None:
        parts.append(_("backward {amount}").format(amount=formats.money(annual.backward)))
    source = planned.computed.last_year_from
    if source == "warehouse":
        parts.append(
            _("last year from the warehouse (history up to {day})").format(
                day=planned.history_as_of
            )
        )
    elif source == "plan":
        parts.append(_("last year as the plan states it (the warehouse has no full last year)"))
    else:
        parts.append(_("history up to {day}").format(day=planned.history_as_of or _("none")))
    return _("; ").join(parts)


def _print_plan(
    planned: Planned, tree: Tree, formats: Formats, vocabulary: Vocabulary | None = None
) -> None:
    """The plan as it would be stored: the year, the months, each KPI's year target and its
    driver, the allocations; in the active language."""
    c, plan = planned.computed, planned.plan
    format_money, format_value = formats.money, formats.value
    top = tree.nodes[plan.top_kpi]
    cap = (
        _(", at most {share} in the last {months} months (the upside too)").format(
            share=f"{plan.year_end_cap.max_share:.0%}", months=plan.year_end_cap.months
        )
        if plan.year_end_cap
        else ""
    )
    heading = escape(f"{plan.raw.get('name') or _('Plan')} {plan.year}")
    console.print(
        f"[bold]{heading}[/bold]"
        + escape(
            _(
                ": {kpi} {annual} ({how}). New business {new} is carved out and kept as "
                "upside; the other {base} is split over the months, which add up to {total} "
                "of it (buffer {buffer}){cap}."
            ).format(
                kpi=kpi_name(top),
                annual=format_money(c.annual_cents / 100),
                how=_annual_text(planned, formats),
                new=format_money(c.new_business_cents / 100),
                base=format_money(c.base_cents / 100),
                total=f"{1 + plan.buffer:.0%}",
                buffer=f"{plan.buffer:.0%}",
                cap=cap,
            )
        ),
        highlight=False,
    )
    months = Table(
        _("month"),
        _("share"),
        _("{kpi} target").format(kpi=kpi_name(top)),
        _("upside"),
        _("month + upside"),
        title=_("The months (shares as split, the year-end cap applied)"),
        title_justify="left",
    )
    shares = c.applied_shares
    for m, cents in c.months.items():
        up = c.upside_months[m]
        months.add_row(
            f"{plan.year}-{m:02d}",
            f"{shares[m]:.2%}",
            format_money(cents / 100),
            format_money(up / 100) if up else "",
            format_money((cents + up) / 100),
        )
    total = c.months_total_cents + c.upside_total_cents
    months.add_section()
    months.add_row(
        _("total"),
        "100.00%",
        format_money(c.months_total_cents / 100),
        format_money(c.upside_total_cents / 100),
        format_money(total / 100),
    )
    difference = total - c.annual_cents
    months.add_row(_("annual target"), "", "", "", format_money(c.annual_cents / 100))
    months.add_row(
        _("months + upside − annual"),
        "",
        "",
        "",
        f"{'+' if difference >= 0 else '−'}{format_money(abs(difference) / 100)}"
        + (f" ({difference / c.annual_cents:+.2%})" if c.annual_cents else ""),
    )
    console.print(months)
    year_rows = [
        r for r in planned.rows.iter_rows(named=True) if r["grain"] == "year" and r["scope"] == ALL
    ]
    nodes = Table(
        _(HEADINGS["KPI"]),
        _(HEADINGS["team"]),
        _("year target"),
        _("planned driver"),
        _("driver from"),
    )
    for r in year_rows:
        node = tree.nodes[r["kpi_id"]]
        driver = c.drivers.get(node.id, c.shares.get(node.id))
        nodes.add_row(
            kpi_name(node),
            team_name(tree, node.team),
            format_value(r["value"], node.unit),
            "" if driver is None else f"{driver:.4g}",
            "" if driver is None else _driver_basis(planned, tree, node.id),
        )
    console.print(nodes)
    alloc = [
        r for r in planned.rows.iter_rows(named=True) if r["grain"] == "year" and ":" in r["scope"]
    ]
    if alloc:
        table = Table(_("allocation"), _(HEADINGS["KPI"]), _("year target"), _("paced against"))
        for r in alloc:
            table.add_row(
                r["scope"],
                kpi_name(tree.nodes[r["kpi_id"]]),
                format_value(r["value"], tree.nodes[r["kpi_id"]].unit),
                _("{dimension} = {member}").format(
                    dimension=word(DIMENSION, r["dimension"]),
                    member=(
                        member_label(vocabulary, r["dimension"], r["member"])
                        if vocabulary
                        else r["member"]
                    ),
                )
                if r["dimension"]
                else _("(targets only)"),
            )
        console.print(table)


@app.command("versions")
def versions_cmd() -> None:
    """Every plan version: who, when, why, in force from which day."""
    settings = load_settings()
    store = version_store(settings)
    versions = store.versions()
    if not versions:
        console.print(_("No plan versions yet ({folder}).").format(folder=store.root))
        return
    table = Table(
        _("version"),
        _("plan"),
        _("year"),
        _("top KPI"),
        _("annual"),
        _("author"),
        _("created"),
        _("in force from"),
        _("reason"),
        caption=_("Times in business time ({zone}).").format(zone=settings.business_timezone),
    )
    for v in versions:
        table.add_row(
            v.version_id,
            v.plan_name,
            str(v.plan_year),
            v.top_kpi,
            settings.formats.money(v.annual_target),
            v.author,
            f"{business_time(settings, dt.datetime.fromisoformat(v.created_at)):%Y-%m-%d %H:%M:%S}",
            v.effective_from,
            v.reason,
        )
    console.print(table)


@app.command("show")
def show_cmd(
    date: DateOption = None,
    period: PeriodOption = "month",
    team: Annotated[
        str | None, typer.Option(help=N_("Only this team's KPIs."), callback=choices.team)
    ] = None,
    scope: Annotated[
        str,
        typer.Option(
            help=N_("all (the whole shop), a scope like channels:organic, or any."),
            callback=choices.scope,
        ),
    ] = "all",
) -> None:
    """The pace table: every KPI against its paced target, from the published warehouse."""
    print_pace(
        load_settings(),
        date.date() if date else None,
        period,
        team,
        None if scope == "any" else scope,
    )


@app.command("catch-up")
def catch_up_cmd(
    date: DateOption = None,
    period: PeriodOption = "month",
    kpi: Annotated[
        str | None,
        typer.Option(
            help="An additive KPI with an identity (default: the plan's top).",
            callback=choices.kpi,
        ),
    ] = None,
    hold: Annotated[
        list[str] | None,
        typer.Option(
            help="A child assumed to stay at its run rate (repeat for more).",
            callback=choices.kpis,
        ),
    ] = None,
    absorb: Annotated[
        str | None,
        typer.Option(help="The one child that makes up the whole gap.", callback=choices.kpi),
    ] = None,
) -> None:
    """What the rest of the period needs, overall and per driver."""
    print_catch_up(load_settings(), date.date() if date else None, period, kpi, hold, absorb)
