"""Helpers for tests of the read model: its rows as comparable data, a varied history."""

from django.test import TestCase, override_settings

from orders_read.models import OrderSummary
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder


def summary_rows() -> dict:
    """Every OrderSummary row as a dict, by order id (generated columns included)."""
    return {row["order_id"]: row for row in OrderSummary.objects.values()}


def varied_history(place, actor, count: int = 12, *, project: bool = True) -> list:
    """Orders of every shape: pending, approved, cancelled, approved then cancelled.

    With ``project=False`` the inline projection is off: as if every process died
    right after COMMIT.
    """
    orders = []
    for n in range(count):
        with (
            override_settings(ORDERS_INLINE_PROJECTION=project),
            # Inside a test transaction, run the hooks a real COMMIT would run.
            TestCase.captureOnCommitCallbacks(execute=True),
        ):
            order = place(n % 4 + 1, n % 2, n % 3)
            if n % 4 == 1:
                dispatch(ApproveOrder(order_id=order.id), actor=actor)
            elif n % 4 == 2:
                dispatch(CancelOrder(order_id=order.id, reason="out of stock"), actor=actor)
            elif n % 4 == 3:
                dispatch(ApproveOrder(order_id=order.id), actor=actor)
                dispatch(CancelOrder(order_id=order.id, reason="fraud"), actor=actor)
        orders.append(order)
    return orders
