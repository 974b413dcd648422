"""The OrderSummary fold in Python (``evolve``) and its description, without a database."""

import datetime
import uuid

import pytest

from orders_read.order_summary.fold import (
    COLUMNS,
    DERIVED,
    EVENT_TYPES,
    FROM_PAYLOAD,
    STATUS_AFTER,
    evolve,
)
from orders_write.event_log import EventRecord
from orders_write.events import OrderApproved, OrderCancelled, OrderPlaced, PricedLine, payload
from orders_write.money import format_cents
from orders_write.statuses import OrderStatus
from tests.factories import CustomerFactory

ORDER_ID = uuid.UUID("0190b2b8-8c3e-7a61-9a54-0b3c5d7e9f11")
PLACED_AT = datetime.datetime(2026, 11, 26, 18, 1, 5, 128625, tzinfo=datetime.UTC)
LINES = [PricedLine(1, 2, 12_900), PricedLine(3, 1, 32_900)]  # 2 x $129 + $329


def record(event_type: str, version: int, data: dict | None = None, *, minutes: int = 0):
    return EventRecord(
        position=version,
        transaction_id=1,
        event_id=uuid.uuid4(),
        stream_id=ORDER_ID,
        version=version,
        type=event_type,
        data=data or {},
        occurred_at=PLACED_AT + datetime.timedelta(minutes=minutes),
    )


def placed(version: int = 1):
    customer = CustomerFactory.build(pk=42, name="Ada Lovelace", email="ada@example.com")
    event = OrderPlaced.create(
        order_id=ORDER_ID, customer=customer, payment_method_id=7, items=LINES, placed_at=PLACED_AT
    )
    return record(OrderPlaced.type, version, payload(event))


def approved(version: int = 2):
    return record(OrderApproved.type, version, minutes=5)


def cancelled(version: int = 3):
    return record(OrderCancelled.type, version, minutes=9)


def test_placed_makes_the_row_from_the_payload_pending():
    assert evolve(None, placed()) == {
        "order_id": ORDER_ID,
        "customer_id": 42,
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "item_count": len(LINES),
        "total_cents": 2 * 12_900 + 32_900,
        "formatted_total": format_cents(2 * 12_900 + 32_900),
        "placed_at": PLACED_AT,
        "currency": "USD",
        "status": OrderStatus.PENDING.value,
        "last_updated": PLACED_AT,
        "version": 1,
    }


def test_the_row_holds_every_column_the_projection_writes():
    assert set(evolve(None, placed())) == set(COLUMNS)


@pytest.mark.parametrize(
    ("events", "status", "event"),
    [
        ([approved()], OrderStatus.APPROVED, approved()),
        ([cancelled(version=2)], OrderStatus.CANCELLED, cancelled(version=2)),
        ([approved(), cancelled()], OrderStatus.CANCELLED, cancelled()),
    ],
    ids=["approved", "cancelled", "approved-then-cancelled"],
)
def test_a_status_event_sets_status_last_updated_and_version_only(events, status, event):
    row = evolve(None, placed())
    before = dict(row)
    for later in events:
        row = evolve(row, later)
    assert row == {
        **before,
        "status": status.value,
        "last_updated": event.occurred_at,
        "version": event.version,
    }


@pytest.mark.parametrize("event", [placed(version=2), approved(), cancelled()])
def test_an_event_at_or_below_the_rows_version_changes_nothing(event):
    row = evolve(evolve(evolve(None, placed()), approved()), cancelled())  # version 3
    assert evolve(row, event) is row


def test_a_second_placed_event_does_not_replace_the_row():
    row = evolve(None, placed())
    assert evolve(row, placed(version=2)) is row


@pytest.mark.parametrize("event", [approved(version=1), cancelled(version=1)])
def test_a_status_event_before_the_order_is_placed_makes_no_row(event):
    assert evolve(None, event) is None


def test_an_unknown_event_type_changes_nothing():
    row = evolve(None, placed())
    assert evolve(row, record("OrderShipped", 2)) is row
    assert evolve(None, record("OrderShipped", 1)) is None


def test_the_description_covers_the_handled_events_and_every_column_once():
    assert {OrderPlaced.type, OrderApproved.type, OrderCancelled.type} == EVENT_TYPES
    assert set(STATUS_AFTER) == EVENT_TYPES - {OrderPlaced.type}
    assert len(COLUMNS) == len(set(COLUMNS))
    # A derived column is computed from a column the payload fills.
    assert {column.source for column in DERIVED} <= {column.name for column in FROM_PAYLOAD}
