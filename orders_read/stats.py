"""The dashboard's figures, read from the ``daily_sales`` rows only (never from summaries).

A day's row already holds that day's orders and money by status, so every figure is
a sum over at most a few hundred small rows however many orders there are: a window
(today, 7 or 30 days) sums its days, the all-time counts sum every day. Days are UTC
days of placement, and an order counts under the status it has now.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, Sum
from django.utils import timezone

from orders_read.daily_sales.projection import COUNTERS, daily_sales
from orders_read.engine.status import projection_status
from orders_read.models import DailySales
from orders_write.statuses import OrderStatus

# The windows of the summary, in days ending today (UTC).
WINDOWS = {"today": 1, "last_7_days": 7, "last_30_days": 30}
# The longest range ``daily`` serves: a year, leap day included.
MAX_DAILY_RANGE_DAYS = 366
_SUMS = {name: Sum(name, default=0) for name in COUNTERS}


@dataclass(frozen=True)
class Figures:
    """Orders and money placed over some days, by the status the orders have now."""

    placed_count: int = 0
    placed_cents: int = 0
    approved_count: int = 0
    approved_cents: int = 0
    cancelled_count: int = 0
    cancelled_cents: int = 0

    @property
    def pending_count(self) -> int:
        return self.placed_count - self.approved_count - self.cancelled_count

    @property
    def pending_cents(self) -> int:
        return self.placed_cents - self.approved_cents - self.cancelled_cents

    def by_status(self) -> dict[str, dict[str, int]]:
        """``{"PENDING": {"orders": n, "revenue_cents": c}, …}``, every status present."""
        return {
            OrderStatus.PENDING: {
                "orders": self.pending_count,
                "revenue_cents": self.pending_cents,
            },
            OrderStatus.APPROVED: {
                "orders": self.approved_count,
                "revenue_cents": self.approved_cents,
            },
            OrderStatus.CANCELLED: {
                "orders": self.cancelled_count,
                "revenue_cents": self.cancelled_cents,
            },
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "orders": self.placed_count,
            "revenue_cents": self.placed_cents,
            "by_status": self.by_status(),
        }


def utc_today() -> datetime.date:
    return timezone.now().astimezone(datetime.UTC).date()


def summary(today: datetime.date | None = None) -> dict[str, Figures]:
    """Each window ending ``today`` (default: today in UTC), and ``all_time``.

    One query: every window's sums side by side (``SUM … FILTER``), over the days' rows.
    """
    today = today or utc_today()
    windows = {
        name: Q(day__gte=today - datetime.timedelta(days=length - 1), day__lte=today)
        for name, length in WINDOWS.items()
    }
    windows["all_time"] = Q()
    sums = {
        f"{window}__{column}": Sum(column, filter=days or None, default=0)
        for window, days in windows.items()
        for column in _SUMS
    }
    row = DailySales.objects.aggregate(**sums)
    return {
        window: Figures(**{column: row[f"{window}__{column}"] for column in _SUMS})
        for window in windows
    }


def daily(since: datetime.date, until: datetime.date) -> list[tuple[datetime.date, Figures]]:
    """Every day from ``since`` to ``until`` (inclusive), days without orders at zero."""
    rows = {
        row.pop("day"): Figures(**row)
        for row in DailySales.objects.filter(day__range=(since, until)).values("day", *_SUMS)
    }
    length = (until - since).days + 1
    days = (since + datetime.timedelta(days=offset) for offset in range(length))
    return [(day, rows.get(day, Figures())) for day in days]


def as_of(now: datetime.datetime | None = None) -> datetime.datetime:
    """Up to when the figures are complete: ``now``, unless an event is still to count.

    The engine's lag of ``daily_sales`` (the age of the oldest committed event its
    ledger does not hold yet), so a read model kept current by the inline path is
    "now" whatever catch-up's checkpoint says.
    """
    now = now or timezone.now()
    lag = projection_status(daily_sales.name, now).lag_seconds
    return now - datetime.timedelta(seconds=lag)
