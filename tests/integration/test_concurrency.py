"""Two commands on one order at once: the row lock lets exactly one transition win."""

import threading

import pytest
from django.db import connections

from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder
from orders_write.errors import ErrorCode
from orders_write.models import Event, Order, OrderStatus
from tests.conftest import requires_postgres

pytestmark = [pytest.mark.django_db(transaction=True), requires_postgres]


def run_concurrently(*commands, actor):
    """Dispatch each command in its own thread and connection, released together."""
    barrier = threading.Barrier(len(commands))
    results = [None] * len(commands)

    def worker(index, command):
        try:
            barrier.wait(timeout=10)
            results[index] = dispatch(command, actor=actor)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=worker, args=(index, command))
        for index, command in enumerate(commands)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_concurrent_approvals_have_exactly_one_winner(place, actor):
    order = place()

    results = run_concurrently(*[ApproveOrder(order_id=order.id)] * 4, actor=actor)

    assert sum(result.success for result in results) == 1
    assert (
        sorted(result.code for result in results if not result.success)
        == [ErrorCode.INVALID_TRANSITION] * 3
    )
    order.refresh_from_db()
    assert (order.status, order.version) == (OrderStatus.APPROVED, 2)
    assert Event.objects.filter(stream_id=order.id).count() == 2


def test_concurrent_cancellations_have_exactly_one_winner(place, actor):
    order = place()

    results = run_concurrently(
        CancelOrder(order_id=order.id, reason="a"),
        CancelOrder(order_id=order.id, reason="b"),
        actor=actor,
    )

    assert sum(result.success for result in results) == 1
    assert Order.objects.get(pk=order.id).version == 2
    assert list(Event.objects.filter(stream_id=order.id).values_list("version", flat=True)) == [
        1,
        2,
    ]
