"""The rules that need no database."""

import pytest

from orders_write import rules
from orders_write.commands import OrderLine
from orders_write.errors import CommandRejected, ErrorCode
from orders_write.models import Customer, OrderStatus
from tests.factories import ProductFactory


def rejection_code(check, *args) -> ErrorCode:
    with pytest.raises(CommandRejected) as excinfo:
        check(*args)
    return excinfo.value.code


def test_an_active_customer_with_a_usable_payment_method_can_order():
    rules.check_customer_can_order(Customer.Status.ACTIVE, payment_method_usable=True)


@pytest.mark.parametrize("payment_method_usable", [True, False])
def test_a_suspended_customer_cannot_order(payment_method_usable):
    # Suspension is reported first, whatever the payment method.
    code = rejection_code(
        lambda: rules.check_customer_can_order(
            Customer.Status.SUSPENDED, payment_method_usable=payment_method_usable
        )
    )
    assert code == ErrorCode.ACCOUNT_SUSPENDED


def test_an_unusable_payment_method_is_refused():
    code = rejection_code(
        lambda: rules.check_customer_can_order(Customer.Status.ACTIVE, payment_method_usable=False)
    )
    assert code == ErrorCode.PAYMENT_METHOD_INVALID


def test_empty_order_is_rejected_with_the_seed_code():
    assert rejection_code(rules.check_lines, ()) == ErrorCode.EMPTY_ORDER


def test_too_many_lines():
    lines = tuple(
        OrderLine(product_id=n, quantity=1) for n in range(1, rules.MAX_LINES_PER_ORDER + 2)
    )
    assert rejection_code(rules.check_lines, lines) == ErrorCode.TOO_MANY_LINES
    rules.check_lines(lines[:-1])  # exactly at the limit is fine


def test_duplicate_product_lines_are_refused():
    lines = (OrderLine(product_id=1, quantity=1), OrderLine(product_id=1, quantity=2))
    assert rejection_code(rules.check_lines, lines) == ErrorCode.DUPLICATE_PRODUCT


@pytest.mark.parametrize("quantity", [0, -1, rules.MAX_QUANTITY_PER_LINE + 1, 10**30, True, 1.5])
def test_invalid_quantities(quantity):
    lines = (OrderLine(product_id=1, quantity=quantity),)
    assert rejection_code(rules.check_lines, lines) == ErrorCode.INVALID_QUANTITY


@pytest.mark.parametrize("quantity", [1, rules.MAX_QUANTITY_PER_LINE])
def test_quantity_bounds_are_inclusive(quantity):
    rules.check_lines((OrderLine(product_id=1, quantity=quantity),))


def test_order_total_limit_is_one_million_dollars():
    rules.check_order_total(rules.MAX_ORDER_TOTAL_CENTS)
    assert (
        rejection_code(rules.check_order_total, rules.MAX_ORDER_TOTAL_CENTS + 1)
        == ErrorCode.ORDER_TOO_LARGE
    )


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (OrderStatus.PENDING, OrderStatus.APPROVED),
        (OrderStatus.PENDING, OrderStatus.CANCELLED),
        (OrderStatus.APPROVED, OrderStatus.CANCELLED),
    ],
)
def test_allowed_transitions(current, target):
    rules.check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (OrderStatus.APPROVED, OrderStatus.APPROVED),
        (OrderStatus.CANCELLED, OrderStatus.APPROVED),
        (OrderStatus.CANCELLED, OrderStatus.CANCELLED),
        (OrderStatus.APPROVED, OrderStatus.PENDING),
    ],
)
def test_refused_transitions(current, target):
    assert rejection_code(rules.check_transition, current, target) == ErrorCode.INVALID_TRANSITION


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_blank_cancel_reason(reason):
    assert rejection_code(rules.check_cancel_reason, reason) == ErrorCode.REASON_REQUIRED


def test_cancel_reason_is_trimmed():
    assert rules.check_cancel_reason("  customer asked  ") == "customer asked"


@pytest.mark.parametrize("client_price", [None, 2_500])
def test_a_catalog_line_without_a_price_or_with_the_catalog_price_is_fine(client_price):
    product = ProductFactory.build(pk=1, price_cents=2_500)
    rules.check_catalog_line(OrderLine(product_id=1, quantity=1, price_cents=client_price), product)


def test_an_unknown_product_is_refused():
    line = OrderLine(product_id=1, quantity=1)
    assert rejection_code(rules.check_catalog_line, line, None) == ErrorCode.PRODUCT_NOT_FOUND


def test_an_unavailable_product_is_refused_before_its_price_is_compared():
    product = ProductFactory.build(pk=1, price_cents=2_500, is_available=False)
    line = OrderLine(product_id=1, quantity=1, price_cents=1)
    assert rejection_code(rules.check_catalog_line, line, product) == ErrorCode.PRODUCT_UNAVAILABLE


@pytest.mark.parametrize("client_price", [0, 2_499, 2_501])
def test_a_client_price_other_than_the_catalog_price_is_refused(client_price):
    product = ProductFactory.build(pk=1, price_cents=2_500)
    line = OrderLine(product_id=1, quantity=1, price_cents=client_price)
    assert rejection_code(rules.check_catalog_line, line, product) == ErrorCode.PRICE_MISMATCH
