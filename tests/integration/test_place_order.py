"""PlaceOrder through the bus: every rule, and a rejection writes nothing."""

import pytest
from django.test import TestCase

from orders_write.bus import dispatch
from orders_write.commands import OrderLine, PlaceOrder
from orders_write.errors import ErrorCode
from orders_write.models import Customer, Event, Order, OrderItem, OrderStatus
from orders_write.signals import events_committed
from tests.factories import CustomerFactory, PaymentMethodFactory, ProductFactory

pytestmark = pytest.mark.django_db


def place(customer_id, payment_method_id, *lines, actor=None):
    command = PlaceOrder(
        customer_id=customer_id, payment_method_id=payment_method_id, items=tuple(lines)
    )
    return dispatch(command, actor=actor) if actor else dispatch(command)


def assert_nothing_written():
    assert Order.objects.count() == 0
    assert OrderItem.objects.count() == 0
    assert Event.objects.count() == 0


def test_places_an_order_priced_from_the_catalog(payment_method, products, actor):
    result = place(
        payment_method.customer_id,
        payment_method.pk,
        OrderLine(product_id=products[0].pk, quantity=3),
        OrderLine(product_id=products[1].pk, quantity=1, price_cents=50_000),
        actor=actor,
    )

    assert result.success, result
    order = Order.objects.get(pk=result.data["order_id"])
    assert order.status == OrderStatus.PENDING
    assert order.total_cents == 3 * 1_999 + 50_000 == result.data["total_cents"]
    assert order.version == 1 == result.data["version"]
    assert order.placed_by_id == actor.user_id
    assert sorted(order.items.values_list("quantity", "unit_price_cents")) == [
        (1, 50_000),
        (3, 1_999),
    ]
    (event,) = Event.objects.all()
    assert (event.stream_id, event.version, event.type) == (order.id, 1, "OrderPlaced")
    assert event.data["total_cents"] == order.total_cents
    assert event.data["customer_email"] == payment_method.customer.email
    assert event.metadata == {
        "actor_id": actor.user_id,
        "actor": "clerk",
        "request_id": "test-request",
        "idempotency_key": None,
    }


def test_the_events_published_after_commit_are_the_rows_the_log_holds(
    payment_method, products, actor
):
    """The read side gets the appended rows as the log stores them: position, transaction
    id and every other column, as if each had been read back."""
    published = []

    def receive(sender, events, **kwargs):
        published.extend(events)

    events_committed.connect(receive)
    try:
        with TestCase.captureOnCommitCallbacks(execute=True):
            place(
                payment_method.customer_id,
                payment_method.pk,
                OrderLine(product_id=products[0].pk, quantity=1),
                actor=actor,
            )
    finally:
        events_committed.disconnect(receive)

    (event,) = published
    stored = Event.objects.get(pk=event.pk)
    for field in Event._meta.concrete_fields:
        assert getattr(event, field.attname) == getattr(stored, field.attname), field.name
    assert not event._state.adding


def test_unknown_customer(payment_method, products):
    result = place(10**9, payment_method.pk, OrderLine(product_id=products[0].pk, quantity=1))
    assert result.code == ErrorCode.CUSTOMER_NOT_FOUND
    assert_nothing_written()


def test_suspended_customer(payment_method, products):
    Customer.objects.filter(pk=payment_method.customer_id).update(status=Customer.Status.SUSPENDED)
    result = place(
        payment_method.customer_id,
        payment_method.pk,
        OrderLine(product_id=products[0].pk, quantity=1),
    )
    assert (result.success, result.code) == (False, ErrorCode.ACCOUNT_SUSPENDED)
    assert_nothing_written()


@pytest.mark.parametrize("case", ["unknown", "other_customer", "disabled"])
def test_invalid_payment_method(case, customer, products):
    if case == "unknown":
        payment_method_id = 10**9
    elif case == "other_customer":
        payment_method_id = PaymentMethodFactory(customer=CustomerFactory()).pk
    else:
        payment_method_id = PaymentMethodFactory(customer=customer, is_enabled=False).pk
    result = place(customer.pk, payment_method_id, OrderLine(product_id=products[0].pk, quantity=1))
    assert result.code == ErrorCode.PAYMENT_METHOD_INVALID
    assert_nothing_written()


def test_empty_order(payment_method):
    result = place(payment_method.customer_id, payment_method.pk)
    assert result.code == ErrorCode.EMPTY_ORDER
    assert result.error == "Order must have at least one item"
    assert_nothing_written()


def test_unknown_product(payment_method, products):
    result = place(
        payment_method.customer_id,
        payment_method.pk,
        OrderLine(product_id=products[0].pk, quantity=1),
        OrderLine(product_id=10**9, quantity=1),
    )
    assert result.code == ErrorCode.PRODUCT_NOT_FOUND
    assert_nothing_written()


def test_unavailable_product(payment_method):
    product = ProductFactory(is_available=False)
    result = place(
        payment_method.customer_id, payment_method.pk, OrderLine(product_id=product.pk, quantity=1)
    )
    assert result.code == ErrorCode.PRODUCT_UNAVAILABLE
    assert_nothing_written()


def test_invalid_quantity(payment_method, products):
    result = place(
        payment_method.customer_id,
        payment_method.pk,
        OrderLine(product_id=products[0].pk, quantity=0),
    )
    assert result.code == ErrorCode.INVALID_QUANTITY
    assert_nothing_written()


def test_client_price_that_differs_from_the_catalog_is_refused(payment_method, products):
    result = place(
        payment_method.customer_id,
        payment_method.pk,
        OrderLine(product_id=products[0].pk, quantity=1, price_cents=1),
    )
    assert result.code == ErrorCode.PRICE_MISMATCH
    assert_nothing_written()


def test_order_over_one_million_dollars(payment_method):
    product = ProductFactory(price_cents=50_000_001)  # two of them: $1,000,000.02
    result = place(
        payment_method.customer_id, payment_method.pk, OrderLine(product_id=product.pk, quantity=2)
    )
    assert result.code == ErrorCode.ORDER_TOO_LARGE
    assert_nothing_written()


def test_order_of_exactly_one_million_dollars_is_accepted(payment_method):
    product = ProductFactory(price_cents=50_000_000)
    result = place(
        payment_method.customer_id, payment_method.pk, OrderLine(product_id=product.pk, quantity=2)
    )
    assert result.success, result
    assert Order.objects.get().total_cents == 100_000_000
