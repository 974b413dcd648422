"""The write models: what the business rules check and change, plus the event log."""

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from orders_write.ids import uuid7
from orders_write.statuses import OrderStatus


class Customer(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    name = models.CharField(max_length=200)
    email = models.EmailField(unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        indexes = [
            # The admin's search by a name's beginning (LIKE 'x%' whatever the collation).
            models.Index(fields=["name"], name="customer_name", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class PaymentMethod(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payment_methods")
    label = models.CharField(max_length=100, default="Card")
    is_enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.label} ({self.customer.email})"


class Product(models.Model):
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    price_cents = models.PositiveBigIntegerField()
    is_available = models.BooleanField(default=True)

    class Meta:
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


# The order pipeline in one table: each status and the statuses it may move to.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.APPROVED, OrderStatus.CANCELLED}),
    OrderStatus.APPROVED: frozenset({OrderStatus.CANCELLED}),
    OrderStatus.CANCELLED: frozenset(),
}


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    # The customer as they were when the order was placed (what the order shows).
    customer_name = models.CharField(max_length=200)
    customer_email = models.EmailField()
    payment_method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT)
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    total_cents = models.PositiveBigIntegerField()
    # The version of the order's event stream: the number of events appended to it.
    version = models.PositiveIntegerField(default=0)
    placed_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-placed_at"]
        # The admin's lists, each read in its order and stopped at the page's end.
        indexes = [
            models.Index(fields=["-placed_at", "-id"], name="order_placed"),
            models.Index(fields=["status", "-placed_at", "-id"], name="order_status_placed"),
            models.Index(fields=["customer_email", "-placed_at", "-id"], name="order_email_placed"),
        ]
        permissions = [
            ("approve_order", "Can approve orders"),
            ("cancel_order", "Can cancel orders"),
        ]

    def __str__(self) -> str:
        return f"Order {self.id} ({self.status})"

    def can_move_to(self, status: str) -> bool:
        return status in ALLOWED_TRANSITIONS[self.status]


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    unit_price_cents = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="order_item_unique_product"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id} @ {self.unit_price_cents}"

    @property
    def line_total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


class CurrentTransactionId(models.Func):
    """The id of the writing transaction, as a column default.

    On PostgreSQL it is ``pg_current_xact_id()`` (xid8, as bigint): positions taken
    by concurrent transactions can commit out of order, and the transaction id lets
    a reader wait for every transaction older than the oldest one still running.
    SQLite serializes writers, so positions commit in order and the id is 0.
    """

    output_field = models.BigIntegerField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        return "0", []

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        return "(pg_current_xact_id()::text::bigint)", []


class Event(models.Model):
    """One entry of the append-only event log (the transactional outbox).

    Every state change appends its events here in the transaction that makes it,
    so the read model can always be rebuilt or caught up from this table.
    """

    position = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(default=uuid7, unique=True, editable=False)
    stream_id = models.UUIDField()
    version = models.PositiveIntegerField()
    type = models.CharField(max_length=64)
    # The shape ``data`` was written in (``upcasting``). A column, not metadata: typed,
    # and read by the set-based rebuild as easily as ``type``. Events written before
    # versions existed are version 1, the database default (no CHECK: adding the column
    # with a constant default stays instant on PostgreSQL 11+, whatever the log's size).
    schema_version = models.SmallIntegerField(db_default=1)
    data = models.JSONField(encoder=DjangoJSONEncoder)
    metadata = models.JSONField(encoder=DjangoJSONEncoder, default=dict)
    occurred_at = models.DateTimeField(default=timezone.now)
    transaction_id = models.BigIntegerField(db_default=CurrentTransactionId(), editable=False)

    class Meta:
        ordering = ["position"]
        indexes = [
            # Catch-up reads in (transaction id, position) order.
            models.Index(fields=["transaction_id", "position"], name="event_txid_position"),
        ]
        constraints = [
            # A second writer of the same stream version fails instead of forking history.
            models.UniqueConstraint(fields=["stream_id", "version"], name="event_stream_version"),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.type} {self.stream_id} v{self.version}"


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` and the answer its command got (Stripe's convention).

    Written in the command's own transaction, so a key exists exactly when its
    command's outcome (an order, or a rule's refusal) does. Scoped per user.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the method, path, canonical JSON body and actor of the first request.
    fingerprint = models.CharField(max_length=64)
    # The answer, stored before COMMIT. The body is JSON text, not a JSONField:
    # PostgreSQL's jsonb reorders keys, and a replay gives back the same bytes.
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id}) -> {self.response_status}"
