"""Check the daily_sales rows against the write side, day by day, and repair drift.

The expected figures are COUNT and SUM over the orders themselves, grouped by UTC
day of placement and status (``orders_write.selectors``), not the projection's code
or its ledger, so a counting bug shows up as drift. Repair is a rebuild of this one
projection from the log: its rows and its ledger are replaced together (the other
projections keep serving), which a patch of the counts alone could not do.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from orders_read.daily_sales.projection import COLUMNS_OF, COUNTERS, daily_sales
from orders_read.engine.rebuild import RebuildResult, rebuild
from orders_read.models import DailySales
from orders_write import selectors


@dataclass(frozen=True)
class DayDrift:
    day: datetime.date
    expected: dict[str, int]
    found: dict[str, int]

    def describe(self) -> str:
        details = ", ".join(
            f"{name}: expected {self.expected[name]}, found {self.found[name]}"
            for name in COUNTERS
            if self.expected[name] != self.found[name]
        )
        return f"daily_sales {self.day}: differs ({details})"


def expected_days() -> dict[datetime.date, dict[str, int]]:
    """Each day's figures recomputed from the orders on the write side."""
    days: dict[datetime.date, dict[str, int]] = {}
    for (day, status), (orders, cents) in selectors.totals_by_day_and_status().items():
        row = days.setdefault(day, dict.fromkeys(COUNTERS, 0))
        row["placed_count"] += orders
        row["placed_cents"] += cents
        if status in COLUMNS_OF:
            count, total = COLUMNS_OF[status]
            row[count] += orders
            row[total] += cents
    return days


def find_drift() -> list[DayDrift]:
    """Every day whose row differs from the orders (a missing row reads as zeros)."""
    expected = expected_days()
    found = {row.pop("day"): row for row in DailySales.objects.values("day", *COUNTERS)}
    zero = dict.fromkeys(COUNTERS, 0)
    return [
        DayDrift(day, expected.get(day, zero), found.get(day, zero))
        for day in sorted(expected.keys() | found.keys())
        if expected.get(day, zero) != found.get(day, zero)
    ]


def repair() -> RebuildResult:
    """Rebuild the projection from the log (rows and ledger, swapped in together)."""
    return rebuild(daily_sales)
