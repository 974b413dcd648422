"""The OrderPlaced event's one constructor, from built (unsaved) models: no database."""

import datetime
import json
import uuid

import pytest

from orders_write.events import OrderPlaced, PricedLine, order_total_cents, payload
from tests.factories import CustomerFactory, OrderItemFactory, ProductFactory

ORDER_ID = uuid.UUID("0190b2b8-8c3e-7a61-9a54-0b3c5d7e9f11")
PLACED_AT = datetime.datetime(2026, 11, 26, 18, 1, 5, 128625, tzinfo=datetime.UTC)


@pytest.fixture
def customer():
    return CustomerFactory.build(pk=42, name="Ada Lovelace", email="ada@example.com")


@pytest.fixture
def items():
    keyboard = ProductFactory.build(pk=1, price_cents=12_900)
    monitor = ProductFactory.build(pk=3, price_cents=32_900)
    return [
        OrderItemFactory.build(product=keyboard, quantity=2),
        OrderItemFactory.build(product=monitor, quantity=1),
    ]


def place(customer, items):
    return OrderPlaced.create(
        order_id=ORDER_ID,
        customer=customer,
        payment_method_id=7,
        items=items,
        placed_at=PLACED_AT,
    )


def test_the_payload_holds_the_customer_the_priced_lines_and_their_total(customer, items):
    assert payload(place(customer, items)) == {
        "order_id": str(ORDER_ID),
        "customer_id": 42,
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "payment_method_id": 7,
        "items": [
            {"product_id": 1, "quantity": 2, "unit_price_cents": 12_900},
            {"product_id": 3, "quantity": 1, "unit_price_cents": 32_900},
        ],
        "total_cents": 2 * 12_900 + 32_900,
        "placed_at": "2026-11-26T18:01:05.128625+00:00",
        "currency": "USD",
    }


def test_a_line_keeps_its_price_at_placement_not_the_products_current_one(customer):
    product = ProductFactory.build(pk=1, price_cents=12_900)
    item = OrderItemFactory.build(product=product, quantity=1)
    product.price_cents = 99_900  # the catalog changes after the line was priced

    (line,) = payload(place(customer, [item]))["items"]
    assert line["unit_price_cents"] == 12_900


def test_items_and_bulk_loaded_lines_give_the_same_event(customer, items):
    # The handler passes OrderItems, the bulk loader PricedLines: one shape for both.
    lines = [PricedLine(item.product_id, item.quantity, item.unit_price_cents) for item in items]
    assert place(customer, lines) == place(customer, items)


def test_the_total_is_the_sum_of_quantity_times_unit_price(items):
    assert order_total_cents(items) == sum(item.line_total_cents for item in items)
    assert order_total_cents([]) == 0


def test_the_payload_is_plain_json_and_rebuilds_the_event(customer, items):
    event = place(customer, items)
    data = json.loads(json.dumps(payload(event)))
    assert OrderPlaced(**data) == event
