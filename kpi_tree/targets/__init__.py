"""Target planning: a pure library (no warehouse, no Dagster).

- :mod:`.plan`      the plan file (YAML) and the year's target (forward / backward / combined)
- :mod:`.calendar`  day factors (weekday profile, Chinese holidays, the Spring Festival) and
                    monthly weights reshaped to the plan year
- :mod:`.split`     exact largest-remainder splits in fen, buffer, new business, year-end cap
- :mod:`.derive`    targets down the KPI tree from the tree's identities
- :mod:`.allocate`  targets across the organisation (weights, ability scores, uplift)
- :mod:`.pace`      paced targets, status, catch-up overall and per driver
- :mod:`.versions`  plan versions and the targets in force on a day
- :mod:`.build`     a whole plan computed, as rows for a targets table
"""

from kpi_tree.targets.allocate import allocate, allocate_plan, allocate_units
from kpi_tree.targets.build import PlanTargets, TargetRow, compute_plan
from kpi_tree.targets.calendar import (
    CalendarSpec,
    FestivalSpec,
    day_factors,
    monthly_weights,
    spring_festival,
)
from kpi_tree.targets.derive import (
    check_identities,
    derive_targets,
    resolve,
    trailing_drivers,
    trailing_shares,
)
from kpi_tree.targets.pace import (
    Thresholds,
    catch_up,
    catch_up_drivers,
    elapsed_share,
    pace,
    paced_target,
    rate_status,
)
from kpi_tree.targets.plan import (
    EXAMPLE_PLAN,
    Plan,
    PlanError,
    annual_target,
    load_plan,
    parse_plan,
    plan_hash,
)
from kpi_tree.targets.split import (
    apply_year_end_cap,
    carve_new_business,
    from_cents,
    split_days,
    split_exact,
    split_months,
    to_cents,
)
from kpi_tree.targets.versions import (
    PlanVersion,
    effective_series,
    effective_targets,
    effective_version,
)

__all__ = [
    "EXAMPLE_PLAN",
    "CalendarSpec",
    "FestivalSpec",
    "Plan",
    "PlanError",
    "PlanTargets",
    "PlanVersion",
    "TargetRow",
    "Thresholds",
    "allocate",
    "allocate_plan",
    "allocate_units",
    "annual_target",
    "apply_year_end_cap",
    "carve_new_business",
    "catch_up",
    "catch_up_drivers",
    "check_identities",
    "compute_plan",
    "day_factors",
    "derive_targets",
    "effective_series",
    "effective_targets",
    "effective_version",
    "elapsed_share",
    "from_cents",
    "load_plan",
    "monthly_weights",
    "pace",
    "paced_target",
    "parse_plan",
    "plan_hash",
    "rate_status",
    "resolve",
    "split_days",
    "split_exact",
    "split_months",
    "spring_festival",
    "to_cents",
    "trailing_drivers",
    "trailing_shares",
]
