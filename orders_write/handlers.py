"""Command handlers: one plain function per command, each one transaction.

Each handler loads and locks what its rules need, checks the rules (a
``CommandRejected`` rolls the whole transaction back), changes the write models
and appends its events to the log in the same transaction.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from orders_write import rules
from orders_write.bus import register
from orders_write.commands import Actor, ApproveOrder, CancelOrder, CommandResult, PlaceOrder
from orders_write.errors import CommandRejected, ErrorCode
from orders_write.events import OrderApproved, OrderCancelled, OrderPlaced, append_events
from orders_write.models import Customer, Order, OrderItem, OrderStatus, PaymentMethod, Product
from orders_write.money import format_cents


@register(PlaceOrder)
@transaction.atomic
def place_order(command: PlaceOrder, actor: Actor) -> CommandResult:
    # Lock the customer so a concurrent suspension cannot slip between check and write;
    # the same query says whether the payment method is one of theirs and usable.
    customer = (
        Customer.objects.select_for_update()
        .filter(pk=command.customer_id)
        .annotate(
            payment_method_usable=Exists(
                PaymentMethod.objects.filter(
                    pk=command.payment_method_id, customer=OuterRef("pk"), is_enabled=True
                )
            )
        )
        .first()
    )
    if customer is None:
        raise CommandRejected(ErrorCode.CUSTOMER_NOT_FOUND, "Customer not found")
    if customer.status == Customer.Status.SUSPENDED:
        raise CommandRejected(ErrorCode.ACCOUNT_SUSPENDED, "Account suspended")
    if not customer.payment_method_usable:
        raise CommandRejected(
            ErrorCode.PAYMENT_METHOD_INVALID,
            "Payment method not found, disabled, or not the customer's",
        )
    rules.check_lines(command.items)

    products = Product.objects.in_bulk([line.product_id for line in command.items])
    items = []
    for line in command.items:
        product = products.get(line.product_id)
        if product is None:
            raise CommandRejected(
                ErrorCode.PRODUCT_NOT_FOUND, f"Product {line.product_id} not found"
            )
        if not product.is_available:
            raise CommandRejected(
                ErrorCode.PRODUCT_UNAVAILABLE, f"Product {product.sku} is not available"
            )
        # Prices come from the catalog; a client price is only ever compared, never used.
        if line.price_cents is not None and line.price_cents != product.price_cents:
            raise CommandRejected(
                ErrorCode.PRICE_MISMATCH,
                f"Product {product.sku} costs {product.price_cents} cents, not {line.price_cents}",
            )
        items.append(
            OrderItem(product=product, quantity=line.quantity, unit_price_cents=product.price_cents)
        )
    total_cents = sum(item.line_total_cents for item in items)
    rules.check_order_total(total_cents)

    now = timezone.now()
    order = Order.objects.create(
        customer=customer,
        customer_name=customer.name,
        customer_email=customer.email,
        payment_method_id=command.payment_method_id,
        status=OrderStatus.PENDING,
        total_cents=total_cents,
        version=1,
        placed_at=now,
        updated_at=now,
        placed_by_id=actor.user_id,
    )
    for item in items:
        item.order = order
    OrderItem.objects.bulk_create(items)
    append_events(
        stream_id=order.id,
        expected_version=0,
        events=[
            OrderPlaced(
                order_id=str(order.id),
                customer_id=customer.pk,
                customer_name=order.customer_name,
                customer_email=order.customer_email,
                payment_method_id=command.payment_method_id,
                items=[
                    {
                        "product_id": item.product_id,
                        "quantity": item.quantity,
                        "unit_price_cents": item.unit_price_cents,
                    }
                    for item in items
                ],
                total_cents=total_cents,
                placed_at=now.isoformat(),
            )
        ],
        actor=actor,
        occurred_at=now,
    )
    return CommandResult.ok(
        {
            "order_id": str(order.id),
            "status": order.status,
            "customer_id": customer.pk,
            "item_count": len(items),
            "total_cents": total_cents,
            "formatted_total": format_cents(total_cents),
            "placed_at": now.isoformat(),
            "version": order.version,
        }
    )


def _lock_order(order_id: object) -> Order:
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise CommandRejected(ErrorCode.ORDER_NOT_FOUND, "Order not found")
    return order


@register(ApproveOrder)
@transaction.atomic
def approve_order(command: ApproveOrder, actor: Actor) -> CommandResult:
    order = _lock_order(command.order_id)
    rules.check_transition(order.status, OrderStatus.APPROVED)

    now = timezone.now()
    order.status = OrderStatus.APPROVED
    order.approved_by_id = actor.user_id
    order.approved_at = now
    order.updated_at = now
    order.version += 1
    order.save(update_fields=["status", "approved_by", "approved_at", "updated_at", "version"])
    append_events(
        stream_id=order.id,
        expected_version=order.version - 1,
        events=[
            OrderApproved(
                order_id=str(order.id), approved_by=actor.username, approved_at=now.isoformat()
            )
        ],
        actor=actor,
        occurred_at=now,
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
    rules.check_transition(order.status, OrderStatus.CANCELLED)

    now = timezone.now()
    order.status = OrderStatus.CANCELLED
    order.cancelled_by_id = actor.user_id
    order.cancelled_at = now
    order.cancel_reason = reason
    order.updated_at = now
    order.version += 1
    order.save(
        update_fields=[
            "status",
            "cancelled_by",
            "cancelled_at",
            "cancel_reason",
            "updated_at",
            "version",
        ]
    )
    append_events(
        stream_id=order.id,
        expected_version=order.version - 1,
        events=[
            OrderCancelled(
                order_id=str(order.id),
                reason=reason,
                cancelled_by=actor.username,
                cancelled_at=now.isoformat(),
            )
        ],
        actor=actor,
        occurred_at=now,
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
