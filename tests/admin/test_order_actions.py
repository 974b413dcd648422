"""The order change list: what it shows, its filters and search, and the two actions."""

import pytest

from orders_read.models import OrderSummary
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder, OrderLine, PlaceOrder
from orders_write.models import Event, Order, OrderStatus
from orders_write.money import format_cents
from tests.admin.conftest import CHANGELIST_URL, action_names, messages_of, snapshot
from tests.factories import PaymentMethodFactory

pytestmark = pytest.mark.django_db


def run_action(client, action, orders, **extra):
    """Post an action as the list's "Go" button does (with ``post``: as its confirmation)."""
    data = {"action": action, "_selected_action": [str(order.pk) for order in orders]}
    if "post" not in extra:
        data["index"] = "0"
    return client.post(CHANGELIST_URL, {**data, **extra}, follow=True)


def test_change_list_shows_status_customer_formatted_total_and_placed_at(login, superuser, place):
    order = place(3, 1)

    response = login(superuser).get(CHANGELIST_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert str(order.pk) in html
    assert format_cents(order.total_cents) in html  # "$50,059.97"
    assert order.customer.email in html
    assert "Pending" in html
    assert list(response.context["cl"].list_display) == [
        "action_checkbox",
        "short_id",
        "status",
        "customer_display",
        "total",
        "placed_at",
    ]


def test_status_filter_finds_the_pending_orders(login, superuser, place, actor):
    pending = [place(), place()]
    approved = place()
    dispatch(ApproveOrder(order_id=approved.pk), actor=actor)

    response = login(superuser).get(CHANGELIST_URL, {"status__exact": "PENDING"})

    assert response.status_code == 200
    assert {order.pk for order in response.context["cl"].result_list} == {
        order.pk for order in pending
    }
    assert 'href="?status__exact=PENDING"' in response.content.decode()


def test_search_by_full_order_id_or_customer_email(login, superuser, place, products):
    mine = place()
    other_payment = PaymentMethodFactory(customer__email="someone.else@example.com")
    other = dispatch_place(other_payment, products)
    client = login(superuser)

    by_id = client.get(CHANGELIST_URL, {"q": str(mine.pk)})
    by_email = client.get(CHANGELIST_URL, {"q": "someone.else@example.com"})
    by_nonsense = client.get(CHANGELIST_URL, {"q": "no-such-thing"})

    assert [order.pk for order in by_id.context["cl"].result_list] == [mine.pk]
    assert [order.pk for order in by_email.context["cl"].result_list] == [other.pk]
    assert list(by_nonsense.context["cl"].result_list) == []


def dispatch_place(payment_method, products):
    result = dispatch(
        PlaceOrder(
            customer_id=payment_method.customer_id,
            payment_method_id=payment_method.pk,
            items=(OrderLine(product_id=products[0].pk, quantity=1),),
        )
    )
    assert result.success, result
    return Order.objects.get(pk=result.data["order_id"])


@pytest.mark.parametrize(
    ("user", "offered"),
    [
        ("approver", {"approve_orders"}),
        ("canceller", {"cancel_orders"}),
        ("viewer", set()),
        ("superuser", {"approve_orders", "cancel_orders"}),
    ],
)
def test_actions_are_offered_only_with_their_permission(login, place, request, user, offered):
    place()
    response = login(request.getfixturevalue(user)).get(CHANGELIST_URL)

    assert response.status_code == 200
    # No delete_selected either: orders are never deleted through the admin.
    assert action_names(response) == offered


def test_approve_action_dispatches_a_command_per_order_with_the_admin_as_actor(
    login, approver, place
):
    first, second = place(), place()

    response = run_action(login(approver), "approve_orders", [first, second])

    assert response.status_code == 200
    assert messages_of(response) == ["2 orders approved."]
    for order in (first, second):
        order.refresh_from_db()
        assert (order.status, order.version, order.approved_by) == (
            OrderStatus.APPROVED,
            2,
            approver,
        )
        event = Event.objects.get(stream_id=order.pk, version=2)
        assert event.type == "OrderApproved"
        assert event.metadata["actor"] == "approver"
        assert event.metadata["actor_id"] == approver.pk
        # Projected after the commit: the dashboard's row follows.
        assert OrderSummary.objects.get(pk=order.pk).status == OrderStatus.APPROVED


def test_approve_action_reports_each_refusal_with_its_code_and_writes_nothing_for_it(
    login, approver, place, actor
):
    pending = place()
    cancelled = place()
    assert dispatch(CancelOrder(order_id=cancelled.pk, reason="duplicate"), actor=actor).success
    before = snapshot(cancelled)

    response = run_action(login(approver), "approve_orders", [pending, cancelled])

    assert messages_of(response) == [
        "1 order approved.",
        f"1 order could not be approved: {cancelled.pk}: INVALID_TRANSITION",
    ]
    assert snapshot(pending).status == OrderStatus.APPROVED
    assert snapshot(cancelled) == before


def test_an_action_posted_without_its_permission_is_refused(login, canceller, viewer, place):
    order = place()
    before = snapshot(order)

    # The canceller has actions, just not this one; the viewer has none at all.
    response = run_action(login(canceller), "approve_orders", [order])
    assert messages_of(response) == ["No action selected."]
    for action, extra in [
        ("approve_orders", {}),
        ("cancel_orders", {"post": "yes", "reason": "x"}),
    ]:
        response = run_action(login(viewer), action, [order], **extra)
        assert response.status_code == 200
        assert messages_of(response) == []
    assert snapshot(order) == before


def test_cancel_action_asks_for_the_reason_first(login, canceller, place):
    first, second = place(), place()
    before = [snapshot(first), snapshot(second)]

    response = run_action(login(canceller), "cancel_orders", [first, second])

    assert response.status_code == 200
    assert response.templates[0].name == (
        "admin/orders_write/order/cancel_selected_confirmation.html"
    )
    html = response.content.decode()
    for order in (first, second):
        assert f'name="_selected_action" value="{order.pk}"' in html
    assert 'name="reason"' in html
    assert 'name="post" value="yes"' in html
    assert [snapshot(first), snapshot(second)] == before


def test_cancel_action_with_a_reason_cancels_each_order(login, canceller, place):
    first, second = place(), place()

    response = run_action(
        login(canceller), "cancel_orders", [first, second], post="yes", reason=" out of stock "
    )

    assert messages_of(response) == ["2 orders cancelled."]
    assert response.redirect_chain[-1][0] == CHANGELIST_URL
    for order in (first, second):
        order.refresh_from_db()
        assert (order.status, order.cancel_reason, order.cancelled_by) == (
            OrderStatus.CANCELLED,
            "out of stock",
            canceller,
        )
        assert Event.objects.get(stream_id=order.pk, version=2).data["reason"] == "out of stock"
        assert OrderSummary.objects.get(pk=order.pk).status == OrderStatus.CANCELLED


def test_cancel_action_without_a_reason_is_refused_by_the_handler(login, canceller, place):
    order = place()
    before = snapshot(order)

    response = run_action(login(canceller), "cancel_orders", [order], post="yes", reason="  ")

    assert messages_of(response) == [f"1 order could not be cancelled: {order.pk}: REASON_REQUIRED"]
    assert snapshot(order) == before


def test_cancel_action_keeps_the_filters_of_the_list(login, canceller, place):
    order = place()
    url = f"{CHANGELIST_URL}?status__exact=PENDING"
    response = login(canceller).post(
        url,
        {
            "action": "cancel_orders",
            "_selected_action": [str(order.pk)],
            "post": "yes",
            "reason": "customer asked",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == url
    assert snapshot(order).status == OrderStatus.CANCELLED
