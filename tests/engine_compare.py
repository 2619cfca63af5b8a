"""What the Spark tests (test_spark.py, test_spark_night.py) count as the same value on two
engines: equal to 1e-9 relative, and pace's one known way to differ."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: relative tolerance between the engines' values (issue 44)
REL = 1e-9


def same_value(a, b) -> bool:
    """One value on two engines: a float to REL relative (sums added up in another order),
    anything else exactly (exact decimals, counts, dates, text); a null only equals a null
    (unknown is never 0), and NaN equals NaN."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool):
            return False
        a, b = float(a), float(b)
        return a == b or math.isclose(a, b, rel_tol=REL, abs_tol=0.0) or (a != a and b != b)
    return a == b


#: pace's thresholds (dbt_project.yml vars): a status at one of them is a tie
PACE_THRESHOLDS = (1.0, 0.9)


def pace_tie(row: Mapping[str, Any], column: str, want, got) -> bool:
    """Pace against a target its KPI's own history set (a plan's trailing drivers) meets it
    to the last bit: actual and paced target are equal sums, added up in another order on
    each engine. Their gap is then rounding on either side of 0, and so the status on a tie
    of attainment and a threshold; held to 1e-9 of the sums, not of the gap."""
    actual, paced = row.get("actual"), row.get("paced_target")
    if want is None or got is None or actual is None or paced is None:
        return False
    size = max(abs(actual), abs(paced))
    if column == "gap":
        return abs(want - got) <= REL * size
    if column == "gap_pct":
        return paced != 0 and abs(want - got) <= REL * size / abs(paced)
    if column == "status":
        attainment = row.get("attainment")
        return attainment is not None and any(abs(attainment - t) <= REL for t in PACE_THRESHOLDS)
    return False
