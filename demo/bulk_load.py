"""Bulk-load demo orders with their events, for benchmarks (``seed_demo --orders N``).

This bypasses the command bus on purpose: it writes orders, items and events that
are exactly what the handlers would write (the same event types, payloads built by
the same constructors, orders within the same rules), a batch at a time with COPY
on PostgreSQL, so a million orders take minutes. On PostgreSQL (outside a
transaction) a writer thread COPYs one batch while the next is generated, so Python
and the server work at the same time. The read model is then built from these
events like any other (``rebuild_projections``).
"""

from __future__ import annotations

import datetime
import random
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson
from django.db import connection, models, transaction

from orders_write import rules
from orders_write.commands import Actor
from orders_write.events import (
    OrderApproved,
    OrderCancelled,
    OrderPlaced,
    PricedLine,
    order_total_cents,
    payload,
)
from orders_write.ids import uuid7
from orders_write.models import (
    Customer,
    Event,
    Order,
    OrderItem,
    OrderStatus,
    PaymentMethod,
    Product,
)

ORDER_COLUMNS = [
    "id",
    "customer_id",
    "customer_name",
    "customer_email",
    "payment_method_id",
    "status",
    "total_cents",
    "version",
    "placed_at",
    "updated_at",
    "approved_at",
    "cancelled_at",
    "cancel_reason",
]
ITEM_COLUMNS = ["order_id", "product_id", "quantity", "unit_price_cents"]
EVENT_COLUMNS = [
    "event_id",
    "stream_id",
    "version",
    "type",
    "schema_version",
    "data",
    "metadata",
    "occurred_at",
]
ACTOR = Actor(username="seed_demo")
ORDERS_PER_CUSTOMER = 100
# Writer threads on PostgreSQL: the server indexes two batches while Python makes more.
WRITERS = 2


def insert_rows(model: type[models.Model], columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert many rows fast: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    if connection.vendor == "postgresql":
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    fields = [model._meta.get_field(column) for column in columns]
    prepared = [
        [
            value
            if isinstance(value, str) and field.get_internal_type() == "JSONField"
            else field.get_db_prep_save(value, connection)
            for field, value in zip(fields, row, strict=True)
        ]
        for row in rows
    ]
    placeholders = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", prepared)


def ensure_customers(count: int) -> list[Customer]:
    """At least ``count`` active demo customers, each with a payment method."""
    existing = Customer.objects.filter(status=Customer.Status.ACTIVE).count()
    new = [
        Customer(name=f"Demo Customer {n}", email=f"customer{n}@demo.example.com")
        for n in range(existing, count)
    ]
    Customer.objects.bulk_create(new, batch_size=1000)
    PaymentMethod.objects.bulk_create(
        [PaymentMethod(customer=customer, label="Visa ending 4242") for customer in new],
        batch_size=1000,
    )
    return list(Customer.objects.filter(status=Customer.Status.ACTIVE))


def _json(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()


def _write_batch(orders: list[tuple], items: list[tuple], events: list[tuple]) -> None:
    with transaction.atomic():
        insert_rows(Order, ORDER_COLUMNS, orders)
        insert_rows(OrderItem, ITEM_COLUMNS, items)
        insert_rows(Event, EVENT_COLUMNS, events)


def _write_batch_in_thread(*batch: list[tuple]) -> None:
    try:
        _write_batch(*batch)
    finally:
        # A thread's connection is its own: close it here (reconnecting costs ~ms).
        connection.close()


def _unix_ms(moment: datetime.datetime) -> int:
    return int(moment.timestamp() * 1000)


def bulk_load_orders(
    count: int,
    *,
    seed: int,
    batch_size: int = 10_000,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write ``count`` orders with items and events; returns how many were written."""
    rng = random.Random(seed)
    customers = ensure_customers(max(1, count // ORDERS_PER_CUSTOMER))
    payment_methods = dict(
        PaymentMethod.objects.filter(is_enabled=True).values_list("customer_id", "pk")
    )
    customers = [customer for customer in customers if customer.pk in payment_methods]
    products = list(Product.objects.filter(is_available=True))
    if not customers or not products:
        raise ValueError("bulk loading needs active customers and available products")
    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(days=365)
    step = (now - start) / max(count, 1)

    # A writer thread has its own connection, so it cannot see rows of a transaction
    # the caller has open: write in this thread then (and always on SQLite).
    background = connection.vendor == "postgresql" and not connection.in_atomic_block
    writer = ThreadPoolExecutor(max_workers=WRITERS) if background else None
    pending: deque[Future] = deque()
    written = 0
    try:
        while written < count:
            size = min(batch_size, count - written)
            batch = _generate(rng, written, size, customers, payment_methods, products, start, step)
            if writer is None:
                _write_batch(*batch)
            else:
                if len(pending) >= WRITERS:
                    pending.popleft().result()  # a batch per writer in flight: flat memory
                pending.append(writer.submit(_write_batch_in_thread, *batch))
            written += size
            if progress:
                progress(written, count)
        while pending:
            pending.popleft().result()
    finally:
        if writer is not None:
            writer.shutdown()
    return written


def _generate(
    rng: random.Random,
    first: int,
    size: int,
    customers: list[Customer],
    payment_methods: dict[int, int],
    products: list[Product],
    start: datetime.datetime,
    step: datetime.timedelta,
) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Orders, items and events (as rows to COPY) for orders ``first`` .. ``first + size``."""
    metadata = _json(ACTOR.as_metadata())
    orders, items, events = [], [], []
    for n in range(first, first + size):
        customer = rng.choice(customers)
        placed_at = start + step * n + datetime.timedelta(seconds=rng.random())
        lines = [
            PricedLine(product.pk, rng.randint(1, 4), product.price_cents)
            for product in rng.sample(products, rng.randint(1, min(4, len(products))))
        ]
        if order_total_cents(lines) > rules.MAX_ORDER_TOTAL_CENTS:
            # The handler would refuse it; one line of the demo catalog is far below the limit.
            lines = lines[:1]
        order_id = uuid7(_unix_ms(placed_at), rng.getrandbits(74))
        placed = OrderPlaced.create(
            order_id=order_id,
            customer=customer,
            payment_method_id=payment_methods[customer.pk],
            items=lines,
            placed_at=placed_at,
        )
        stream = [placed]
        times = [placed_at]
        status, approved_at, cancelled_at, reason = OrderStatus.PENDING, None, None, ""
        roll = rng.random()
        if roll < 0.55:
            approved_at = placed_at + datetime.timedelta(minutes=rng.randint(1, 600))
            stream.append(
                OrderApproved(
                    order_id=str(order_id),
                    approved_by=ACTOR.username,
                    approved_at=approved_at.isoformat(),
                )
            )
            times.append(approved_at)
            status = OrderStatus.APPROVED
        if roll < 0.08 or 0.55 <= roll < 0.70:
            cancelled_at = times[-1] + datetime.timedelta(minutes=rng.randint(1, 600))
            reason = "Customer request"
            stream.append(
                OrderCancelled(
                    order_id=str(order_id),
                    reason=reason,
                    cancelled_by=ACTOR.username,
                    cancelled_at=cancelled_at.isoformat(),
                )
            )
            times.append(cancelled_at)
            status = OrderStatus.CANCELLED
        orders.append(
            (
                order_id,
                customer.pk,
                customer.name,
                customer.email,
                payment_methods[customer.pk],
                status,
                placed.total_cents,
                len(stream),
                placed_at,
                times[-1],
                approved_at,
                cancelled_at,
                reason,
            )
        )
        items.extend((order_id, *line) for line in lines)
        events.extend(
            (
                uuid7(_unix_ms(occurred_at), rng.getrandbits(74)),
                order_id,
                version,
                event.type,
                event.schema_version,
                _json(payload(event)),
                metadata,
                occurred_at,
            )
            for version, (event, occurred_at) in enumerate(zip(stream, times, strict=True), 1)
        )
    return orders, items, events
