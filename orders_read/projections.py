"""The OrderSummary projection: each event applied to its row, idempotently.

Every row remembers the stream version it reflects. An event at or below that
version changes nothing, so the inline path (signals) and a replay from the event
log can both deliver the same event without double counting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.utils.dateparse import parse_datetime

from orders_read.models import OrderSummary
from orders_write.events import OrderApproved, OrderCancelled, OrderPlaced
from orders_write.models import Event, OrderStatus
from orders_write.money import format_cents

logger = logging.getLogger(__name__)


def _order_placed(event: Event) -> bool:
    if OrderSummary.objects.filter(order_id=event.stream_id).exists():
        return False
    data = event.data
    row = OrderSummary(
        order_id=event.stream_id,
        customer_id=data["customer_id"],
        customer_name=data["customer_name"],
        customer_email=data["customer_email"],
        status=OrderStatus.PENDING,
        item_count=len(data["items"]),
        total_cents=data["total_cents"],
        formatted_total=format_cents(data["total_cents"]),
        placed_at=parse_datetime(data["placed_at"]),
        last_updated=event.occurred_at,
        version=event.version,
    )
    # A concurrent projector of the same event may insert first: that is fine.
    OrderSummary.objects.bulk_create([row], ignore_conflicts=True)
    return True


def _status_change(status: str) -> Callable[[Event], bool]:
    def apply(event: Event) -> bool:
        updated = OrderSummary.objects.filter(
            order_id=event.stream_id, version__lt=event.version
        ).update(status=status, last_updated=event.occurred_at, version=event.version)
        return updated == 1

    return apply


HANDLERS: dict[str, Callable[[Event], bool]] = {
    OrderPlaced.type: _order_placed,
    OrderApproved.type: _status_change(OrderStatus.APPROVED),
    OrderCancelled.type: _status_change(OrderStatus.CANCELLED),
}


def apply_event(event: Event) -> bool:
    """Apply one event to the read model; True if it changed a row."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        return False
    return handler(event)


def apply_events(events: Iterable[Event]) -> int:
    """Apply events in order; returns how many changed a row."""
    return sum(apply_event(event) for event in events)
