"""Command handlers: one plain function per command, each one transaction.

Each handler reads as its three steps: lock what its rules need, check the rules
(a ``CommandRejected`` rolls the whole transaction back, so a refusal writes
nothing), then record the change in the write models and its events in the log,
in the same transaction. The steps are the small functions below the handlers.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.db import connections, router, transaction
from django.utils import timezone

from orders_write import rules
from orders_write.bus import register
from orders_write.commands import (
    Actor,
    ApproveOrder,
    CancelOrder,
    CommandResult,
    OrderLine,
    PlaceOrder,
)
from orders_write.errors import CommandRejected, ErrorCode
from orders_write.events import (
    DomainEvent,
    OrderApproved,
    OrderCancelled,
    OrderPlaced,
    append_events,
    order_total_cents,
)
from orders_write.models import Customer, Order, OrderItem, OrderStatus, Product
from orders_write.money import format_cents


@register(PlaceOrder)
@transaction.atomic
def place_order(command: PlaceOrder, actor: Actor) -> CommandResult:
    customer = _lock_customer(command.customer_id, command.payment_method_id)
    rules.check_customer_can_order(
        customer.status, payment_method_usable=customer.payment_method_usable
    )
    rules.check_lines(command.items)
    items = _price_from_catalog(command.items)
    total_cents = order_total_cents(items)
    rules.check_order_total(total_cents)

    order = _record_order(command, customer, items, actor)
    return CommandResult.ok(
        {
            "order_id": str(order.id),
            "status": order.status,
            "customer_id": customer.pk,
            "item_count": len(items),
            "total_cents": total_cents,
            "formatted_total": format_cents(total_cents),
            "placed_at": order.placed_at.isoformat(),
            "version": order.version,
        }
    )


@register(ApproveOrder)
@transaction.atomic
def approve_order(command: ApproveOrder, actor: Actor) -> CommandResult:
    order = _lock_order(command.order_id)
    now = timezone.now()
    _transition(
        order,
        OrderStatus.APPROVED,
        OrderApproved(
            order_id=str(order.id), approved_by=actor.username, approved_at=now.isoformat()
        ),
        actor=actor,
        now=now,
        approved_by_id=actor.user_id,
        approved_at=now,
    )
    return CommandResult.ok(
        {
            "order_id": str(order.id),
            "status": order.status,
            "approved_by": actor.username,
            "approved_at": now.isoformat(),
            "version": order.version,
        }
    )


@register(CancelOrder)
@transaction.atomic
def cancel_order(command: CancelOrder, actor: Actor) -> CommandResult:
    order = _lock_order(command.order_id)
    reason = rules.check_cancel_reason(command.reason)
    now = timezone.now()
    _transition(
        order,
        OrderStatus.CANCELLED,
        OrderCancelled(
            order_id=str(order.id),
            reason=reason,
            cancelled_by=actor.username,
            cancelled_at=now.isoformat(),
        ),
        actor=actor,
        now=now,
        cancelled_by_id=actor.user_id,
        cancelled_at=now,
        cancel_reason=reason,
    )
    return CommandResult.ok(
        {
            "order_id": str(order.id),
            "status": order.status,
            "reason": reason,
            "cancelled_by": actor.username,
            "cancelled_at": now.isoformat(),
            "version": order.version,
        }
    )


# --- Lock -------------------------------------------------------------------------------


# The customer row locked, and whether the payment method is theirs and enabled, in one
# statement. Written out rather than built by the ORM: compiling the annotated queryset
# (``Exists`` over ``OuterRef``) cost more CPU than any other step of PlaceOrder, on
# every order, for a statement that never changes. FOR UPDATE locks the customer only
# (the subquery's rows are not in the FROM list); SQLite has no row locks (its writers
# are serialized) nor the clause, which the ORM leaves out there too.
LOCK_CUSTOMER_SQL = """
SELECT "orders_write_customer"."id", "name", "email", "status", "created_at",
    EXISTS (
        SELECT 1 FROM "orders_write_paymentmethod"
        WHERE "id" = %s AND "customer_id" = "orders_write_customer"."id" AND "is_enabled"
    ) AS "payment_method_usable"
FROM "orders_write_customer"
WHERE "id" = %s
"""


def _lock_customer(customer_id: int, payment_method_id: int) -> Customer:
    """The customer, locked, annotated with ``payment_method_usable``; or CUSTOMER_NOT_FOUND.

    The lock keeps a concurrent suspension from slipping between the check and the
    write; the same query says whether the payment method is the customer's and enabled.
    """
    connection = connections[router.db_for_write(Customer)]
    sql = LOCK_CUSTOMER_SQL
    if connection.features.has_select_for_update:
        sql += connection.ops.for_update_sql()
    found = Customer.objects.raw(sql, [payment_method_id, customer_id], using=connection.alias)
    customer = next(iter(found), None)
    if customer is None:
        raise CommandRejected(ErrorCode.CUSTOMER_NOT_FOUND, "Customer not found")
    return customer


def _lock_order(order_id: UUID) -> Order:
    """The order, locked until the transaction ends; or ORDER_NOT_FOUND."""
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise CommandRejected(ErrorCode.ORDER_NOT_FOUND, "Order not found")
    return order


# --- Check ------------------------------------------------------------------------------


# The catalog's rows for an order's products (one ``%s`` per product), written out like
# ``LOCK_CUSTOMER_SQL``: the ORM's ``in_bulk`` compiled its IN query on every order.
CATALOG_SQL = """
SELECT "id", "sku", "name", "price_cents", "is_available"
FROM "orders_write_product"
WHERE "id" IN ({products})
"""


def _price_from_catalog(lines: Sequence[OrderLine]) -> list[OrderItem]:
    """Unsaved items priced from the catalog (one query); each line checked against it."""
    product_ids = [line.product_id for line in lines]
    found = Product.objects.raw(
        CATALOG_SQL.format(products=", ".join(["%s"] * len(product_ids))),
        product_ids,
        using=router.db_for_write(Product),
    )
    products = {product.pk: product for product in found}
    items = []
    for line in lines:
        product = products.get(line.product_id)
        rules.check_catalog_line(line, product)
        items.append(
            OrderItem(product=product, quantity=line.quantity, unit_price_cents=product.price_cents)
        )
    return items


# --- Record -----------------------------------------------------------------------------


def _record_order(
    command: PlaceOrder, customer: Customer, items: list[OrderItem], actor: Actor
) -> Order:
    """Write the order, its items and its ``OrderPlaced`` event (stream version 1)."""
    now = timezone.now()
    order = Order.objects.create(
        customer=customer,
        customer_name=customer.name,
        customer_email=customer.email,
        payment_method_id=command.payment_method_id,
        status=OrderStatus.PENDING,
        total_cents=order_total_cents(items),
        version=1,
        placed_at=now,
        updated_at=now,
        placed_by_id=actor.user_id,
    )
    for item in items:
        item.order = order
    OrderItem.objects.bulk_create(items)
    placed = OrderPlaced.create(
        order_id=order.id,
        customer=customer,
        payment_method_id=command.payment_method_id,
        items=items,
        placed_at=now,
    )
    append_events(
        stream_id=order.id, expected_version=0, events=[placed], actor=actor, occurred_at=now
    )
    return order


def _transition(
    order: Order,
    target: OrderStatus,
    event: DomainEvent,
    *,
    actor: Actor,
    now: datetime.datetime,
    **changes: Any,
) -> None:
    """Move a locked order to ``target`` if the pipeline allows it, and record ``event``.

    ``changes`` are the fields the new status carries (who approved, when, why
    cancelled); only they and the status, time and version are saved.
    """
    rules.check_transition(order.status, target)
    for field, value in changes.items():
        setattr(order, field, value)
    order.status = target
    order.updated_at = now
    order.version += 1
    order.save(update_fields=["status", *changes, "updated_at", "version"])
    append_events(
        stream_id=order.id,
        expected_version=order.version - 1,
        events=[event],
        actor=actor,
        occurred_at=now,
    )
