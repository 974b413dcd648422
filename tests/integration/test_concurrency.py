"""Commands at once: the row lock lets exactly one transition of an order win, and an
order placed while its customer is being suspended waits for the suspension."""

import threading

import pytest
from django.db import connections, transaction

from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder, OrderLine, PlaceOrder
from orders_write.errors import ErrorCode
from orders_write.models import Customer, Event, Order, OrderStatus
from tests.conftest import requires_postgres
from tests.threads import InThread, backends_waiting_for_locks, wait_until

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


def test_an_order_placed_during_a_suspension_waits_for_it_and_is_refused(
    payment_method, products, actor
):
    """PlaceOrder locks the customer row: it cannot read the status from before a
    suspension in flight and place an order the suspended customer should not have."""
    suspended, release = threading.Event(), threading.Event()

    def suspend():
        with transaction.atomic():
            Customer.objects.filter(pk=payment_method.customer_id).update(
                status=Customer.Status.SUSPENDED
            )
            suspended.set()
            release.wait(timeout=10)

    suspension = InThread(suspend)
    suspension.start()
    assert suspended.wait(timeout=10)
    command = PlaceOrder(
        customer_id=payment_method.customer_id,
        payment_method_id=payment_method.pk,
        items=(OrderLine(product_id=products[0].pk, quantity=1),),
    )
    placing = InThread(lambda: dispatch(command, actor=actor))
    placing.start()
    wait_until(lambda: backends_waiting_for_locks() == 1)
    release.set()
    suspension.outcome()

    assert placing.outcome().code == ErrorCode.ACCOUNT_SUSPENDED
    assert not Order.objects.exists()
