"""The read model: one denormalized row per order, shaped for the dashboard."""

import datetime
from typing import Any

from django.db import models
from django.db.models.functions import TruncDate

from orders_read.engine.ledger import AppliedEvents

HIGH_VALUE_CENTS = 100_000  # $1,000.00


class UTCDate(TruncDate):
    """The UTC date of a datetime, whatever the active time zone.

    Gives ``(placed_at AT TIME ZONE 'UTC')::date`` on PostgreSQL, which is immutable
    and so allowed in a generated column (a plain ``placed_at::date`` is not).
    Fixing the zone in the class also keeps it out of migrations, which cannot
    serialize a tzinfo.
    """

    def __init__(self, expression: str | models.Expression, **extra: Any) -> None:
        super().__init__(expression, tzinfo=datetime.UTC, **extra)


# What a dashboard row shows, in order; the database computes the generated ones.
DASHBOARD_FIELDS = [
    "order_id",
    "customer_id",
    "customer_name",
    "customer_email",
    "status",
    "item_count",
    "total_cents",
    "formatted_total",
    "currency",
    "placed_at",
    "last_updated",
    "is_high_value",
    "day_placed",
    "version",
]


class OrderSummary(models.Model):
    """The dashboard's order summary row, plus the customer id and the stream version."""

    order_id = models.UUIDField(primary_key=True)
    customer_id = models.BigIntegerField()
    customer_name = models.CharField(max_length=200)
    customer_email = models.EmailField()
    status = models.CharField(max_length=16)
    item_count = models.PositiveIntegerField()
    total_cents = models.BigIntegerField()
    formatted_total = models.CharField(max_length=32)
    # ISO 4217, from the order's placement (events before it had one: US dollars).
    currency = models.CharField(max_length=3)
    placed_at = models.DateTimeField()
    last_updated = models.DateTimeField()
    # The version of the order's event stream this row reflects (idempotency).
    version = models.PositiveIntegerField()
    is_high_value = models.GeneratedField(
        expression=models.Q(total_cents__gt=HIGH_VALUE_CENTS),
        output_field=models.BooleanField(),
        db_persist=True,
    )
    # The UTC date: PostgreSQL rejects placed_at::date on a timestamptz as not immutable.
    day_placed = models.GeneratedField(
        expression=UTCDate("placed_at"),
        output_field=models.DateField(),
        db_persist=True,
    )

    class Meta:
        verbose_name_plural = "order summaries"
        ordering = ["-placed_at", "-order_id"]
        indexes = [
            # The dashboard's order (newest first, order id as the unique tie-breaker).
            models.Index(fields=["-placed_at", "-order_id"], name="summary_placed"),
            models.Index(
                fields=["status", "-placed_at", "-order_id"], name="summary_status_placed"
            ),
            # Every filter and page is served by one of these in the dashboard's order,
            # so a page reads its rows and stops (bench/ prints the plans).
            models.Index(
                fields=["customer_email", "-placed_at", "-order_id"], name="summary_customer_email"
            ),
            models.Index(
                fields=["customer_id", "-placed_at", "-order_id"], name="summary_customer_id"
            ),
            models.Index(
                fields=["is_high_value", "-placed_at", "-order_id"], name="summary_high_value"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.status} {self.formatted_total}"


class ProjectionCheckpoint(models.Model):
    """How far a projection has read the event log (moved with the rows it wrote)."""

    name = models.CharField(max_length=64, primary_key=True)
    transaction_id = models.BigIntegerField(default=0)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ ({self.transaction_id}, {self.position})"


class DeadLetter(models.Model):
    """An event a projection could not apply: kept, retried on every pass, never dropped."""

    projection = models.CharField(max_length=64)
    position = models.BigIntegerField()
    event_id = models.UUIDField()
    stream_id = models.UUIDField()
    event_type = models.CharField(max_length=64)
    error = models.TextField()
    attempts = models.PositiveIntegerField(default=1)
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()

    class Meta:
        ordering = ["projection", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["projection", "position"], name="dead_letter_projection_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.projection} #{self.position} {self.event_type} ({self.attempts} attempts)"


class DailySales(models.Model):
    """Orders and money per UTC day of placement, by the status the orders have now.

    Kept by the ``daily_sales`` projection. Pending orders are the placed ones that are
    neither approved nor cancelled; an order approved then cancelled counts as cancelled.
    """

    day = models.DateField(primary_key=True)
    placed_count = models.BigIntegerField(default=0)
    placed_cents = models.BigIntegerField(default=0)
    approved_count = models.BigIntegerField(default=0)
    approved_cents = models.BigIntegerField(default=0)
    cancelled_count = models.BigIntegerField(default=0)
    cancelled_cents = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "daily sales"
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.placed_count} placed"


class DailySalesApplied(AppliedEvents):
    """The events ``DailySales`` has counted (the projection's ledger)."""

    class Meta:
        verbose_name_plural = "daily sales applied events"
