"""Reads of the write models that other apps may rely on."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from orders_write.models import Order

SNAPSHOT_FIELDS = [
    "id",
    "customer_id",
    "customer_name",
    "customer_email",
    "status",
    "total_cents",
    "placed_at",
    "updated_at",
    "version",
]


def order_snapshots(batch_size: int = 2000) -> Iterator[list[dict[str, Any]]]:
    """Every order as the write side knows it, in id order, a batch at a time.

    Keyset-paged on the primary key, so memory stays flat at any number of orders.
    Each dict has ``SNAPSHOT_FIELDS`` plus ``item_count`` (the number of lines).
    """
    last_id: UUID | None = None
    while True:
        orders = Order.objects.order_by("id")
        if last_id is not None:
            orders = orders.filter(id__gt=last_id)
        batch = list(
            orders.annotate(item_count=Count("items")).values(*SNAPSHOT_FIELDS, "item_count")[
                :batch_size
            ]
        )
        if not batch:
            return
        yield batch
        last_id = batch[-1]["id"]


def existing_order_ids(ids: list[UUID]) -> set[UUID]:
    return set(Order.objects.filter(id__in=ids).values_list("id", flat=True))


def totals_by_day_and_status() -> dict[tuple[datetime.date, str], tuple[int, int]]:
    """``(UTC day placed, status) → (orders, total cents)`` over every order."""
    rows = (
        Order.objects.annotate(day=TruncDate("placed_at", tzinfo=datetime.UTC))
        .values("day", "status")
        .annotate(orders=Count("id"), cents=Sum("total_cents"))
        .order_by()
    )
    return {(row["day"], row["status"]): (row["orders"], row["cents"]) for row in rows}
