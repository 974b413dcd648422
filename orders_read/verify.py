"""Check the read model against the write side, field by field, and repair drift.

The expected rows are recomputed from the write models (``orders_write.selectors``),
not through the projection code, so a bug in the projection shows up as drift.
Repair re-projects a drifted order from the event log.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import router, transaction

from orders_read.models import DASHBOARD_FIELDS, HIGH_VALUE_CENTS, OrderSummary
from orders_read.order_summary.projection import order_summary
from orders_write import event_log, selectors
from orders_write.money import CURRENCY, format_cents

# Every column the dashboard shows, generated ones included.
COMPARED = [field for field in DASHBOARD_FIELDS if field != "order_id"]


@dataclass
class Drift:
    order_id: UUID
    kind: str  # "missing", "extra" or "differs"
    differences: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def describe(self) -> str:
        if self.kind != "differs":
            return f"{self.order_id}: {self.kind}"
        details = ", ".join(
            f"{name}: expected {expected!r}, found {found!r}"
            for name, (expected, found) in self.differences.items()
        )
        return f"{self.order_id}: differs ({details})"


def expected_row(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "customer_id": order["customer_id"],
        "customer_name": order["customer_name"],
        "customer_email": order["customer_email"],
        "status": order["status"],
        "item_count": order["item_count"],
        "total_cents": order["total_cents"],
        "formatted_total": format_cents(order["total_cents"]),
        # Every order is placed in the catalog's currency.
        "currency": CURRENCY,
        "placed_at": order["placed_at"],
        "last_updated": order["updated_at"],
        "version": order["version"],
        "is_high_value": order["total_cents"] > HIGH_VALUE_CENTS,
        "day_placed": order["placed_at"].astimezone(datetime.UTC).date(),
    }


def find_drift(batch_size: int = 2000) -> Iterator[Drift]:
    """Every order whose summary is missing or differs, then every summary with no order."""
    for orders in selectors.order_snapshots(batch_size):
        ids = [order["id"] for order in orders]
        found = {
            row["order_id"]: row
            for row in OrderSummary.objects.filter(order_id__in=ids).values("order_id", *COMPARED)
        }
        for order in orders:
            row = found.get(order["id"])
            if row is None:
                yield Drift(order["id"], "missing")
                continue
            expected = expected_row(order)
            differences = {
                name: (expected[name], row[name])
                for name in COMPARED
                if expected[name] != row[name]
            }
            if differences:
                yield Drift(order["id"], "differs", differences)

    last_id = None
    while True:
        summaries = OrderSummary.objects.order_by("order_id")
        if last_id is not None:
            summaries = summaries.filter(order_id__gt=last_id)
        ids = list(summaries.values_list("order_id", flat=True)[:batch_size])
        if not ids:
            return
        existing = selectors.existing_order_ids(ids)
        for order_id in ids:
            if order_id not in existing:
                yield Drift(order_id, "extra")
        last_id = ids[-1]


def repair(drift: Drift) -> None:
    """Drop the order's row and re-project it from its events."""
    with transaction.atomic(using=router.db_for_write(OrderSummary)):
        OrderSummary.objects.filter(order_id=drift.order_id).delete()
        order_summary.apply(list(event_log.records(event_log.stream(drift.order_id))))
