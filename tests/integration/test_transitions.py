"""ApproveOrder and CancelOrder: the pipeline, the actor, the event log."""

import uuid

import pytest

from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder
from orders_write.errors import ErrorCode
from orders_write.models import Event, OrderStatus

pytestmark = pytest.mark.django_db


def test_approve_records_the_actor_and_appends_an_event(place, actor, staff):
    order = place()
    result = dispatch(ApproveOrder(order_id=order.id), actor=actor)

    assert result.success, result
    assert result.data["version"] == 2
    order.refresh_from_db()
    assert (order.status, order.version, order.approved_by) == (OrderStatus.APPROVED, 2, staff)
    assert order.approved_at is not None
    event = Event.objects.get(stream_id=order.id, version=2)
    assert event.type == "OrderApproved"
    assert event.data["approved_by"] == "clerk"


def test_cancel_a_pending_order(place, actor, staff):
    order = place()
    result = dispatch(CancelOrder(order_id=order.id, reason="  out of stock "), actor=actor)

    assert result.success, result
    order.refresh_from_db()
    assert (order.status, order.cancel_reason, order.cancelled_by) == (
        OrderStatus.CANCELLED,
        "out of stock",
        staff,
    )
    assert Event.objects.get(stream_id=order.id, version=2).data["reason"] == "out of stock"


def test_cancel_an_approved_order(place, actor):
    order = place()
    dispatch(ApproveOrder(order_id=order.id), actor=actor)
    result = dispatch(CancelOrder(order_id=order.id, reason="fraud"), actor=actor)
    assert result.success, result
    assert list(Event.objects.filter(stream_id=order.id).values_list("version", "type")) == [
        (1, "OrderPlaced"),
        (2, "OrderApproved"),
        (3, "OrderCancelled"),
    ]


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (ApproveOrder, ApproveOrder),
        (CancelOrder, ApproveOrder),
        (CancelOrder, CancelOrder),
    ],
)
def test_invalid_transitions_write_nothing(place, actor, first, then):
    order = place()

    def command(kind):
        if kind is ApproveOrder:
            return ApproveOrder(order_id=order.id)
        return CancelOrder(order_id=order.id, reason="changed my mind")

    assert dispatch(command(first), actor=actor).success
    before = (Event.objects.count(), order.__class__.objects.get(pk=order.pk).version)
    result = dispatch(command(then), actor=actor)
    assert result.code == ErrorCode.INVALID_TRANSITION
    assert (Event.objects.count(), order.__class__.objects.get(pk=order.pk).version) == before


@pytest.mark.parametrize("command_type", [ApproveOrder, CancelOrder])
def test_unknown_order(db, actor, command_type):
    kwargs = {"reason": "x"} if command_type is CancelOrder else {}
    result = dispatch(command_type(order_id=uuid.uuid4(), **kwargs), actor=actor)
    assert result.code == ErrorCode.ORDER_NOT_FOUND


def test_blank_reason_is_required(place, actor):
    order = place()
    result = dispatch(CancelOrder(order_id=order.id, reason="  "), actor=actor)
    assert result.code == ErrorCode.REASON_REQUIRED
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
    assert Event.objects.filter(stream_id=order.id).count() == 1
