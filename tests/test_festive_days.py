"""Which days the completeness band does not judge (expectations/completeness.py): the
business itself drops on them, so a thin day there is not an incomplete delivery."""

import datetime as dt

import pytest

from expectations.completeness import festive


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # the 2025 Spring Festival (29 January): its week's weekend, which the holidays
        # library leaves out of the public holidays, and a week either side
        (dt.date(2025, 2, 1), True),
        (dt.date(2025, 1, 22), True),
        (dt.date(2025, 2, 5), True),
        # 2026 (17 February): the Saturday and Sunday before it
        (dt.date(2026, 2, 14), True),
        (dt.date(2026, 2, 15), True),
        (dt.date(2026, 4, 5), True),  # Qingming, a public holiday
        # ordinary days
        (dt.date(2025, 3, 3), False),
        (dt.date(2026, 2, 28), False),
        (dt.date(2025, 1, 20), False),
    ],
)
def test_festive_days(day, expected):
    assert festive(day) is expected
