"""The order change page: items, event history, and its Approve and Cancel buttons."""

import uuid

import pytest
from django.urls import reverse

from orders_read.models import OrderSummary
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder
from orders_write.models import Event, OrderStatus
from orders_write.money import format_cents
from tests.admin.conftest import CHANGELIST_URL, messages_of, snapshot

pytestmark = pytest.mark.django_db


def change_url(order_id):
    return reverse("admin:orders_write_order_change", args=[order_id])


def approve_url(order_id):
    return reverse("admin:orders_write_order_approve", args=[order_id])


def cancel_url(order_id):
    return reverse("admin:orders_write_order_cancel", args=[order_id])


def test_change_page_shows_the_items_and_the_event_history(
    login, superuser, place, products, actor
):
    order = place(3, 1)
    dispatch(ApproveOrder(order_id=order.pk), actor=actor)

    response = login(superuser).get(change_url(order.pk))

    assert response.status_code == 200
    (items,) = response.context["inline_admin_formsets"]
    assert [(form.form.instance.product_id, form.form.instance.quantity) for form in items] == [
        (products[0].pk, 3),
        (products[1].pk, 1),
    ]
    html = response.content.decode()
    for product, quantity in [(products[0], 3), (products[1], 1)]:
        assert str(product) in html
        assert format_cents(product.price_cents) in html  # unit price
        assert format_cents(quantity * product.price_cents) in html  # line total
    assert format_cents(order.total_cents) in html
    history = response.context["event_history"]
    assert [(row["version"], row["type"], row["actor"]) for row in history] == [
        (1, "OrderPlaced", "clerk"),
        (2, "OrderApproved", "clerk"),
    ]
    assert history[0]["details"] == f"2 lines, {format_cents(order.total_cents)}"
    assert 'id="event-history"' in html
    assert "OrderApproved" in html


def test_change_page_is_read_only(login, superuser, place):
    order = place()
    client = login(superuser)

    page = client.get(change_url(order.pk))
    # Not even the superuser gets a form field or a save button: every field is read-only.
    assert page.context["adminform"].form.fields == {}
    assert 'name="_save"' not in page.content.decode()
    assert page.context["has_change_permission"] is False

    before = snapshot(order)
    posted = client.post(change_url(order.pk), {"status": OrderStatus.APPROVED, "total_cents": 1})
    assert posted.status_code == 403
    assert snapshot(order) == before


def test_orders_are_never_added_or_deleted_through_the_admin(login, superuser, place):
    order = place()
    client = login(superuser)
    before = snapshot(order)

    assert client.get(reverse("admin:orders_write_order_add")).status_code == 403
    delete_url = reverse("admin:orders_write_order_delete", args=[order.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert snapshot(order) == before


@pytest.mark.parametrize(
    ("user", "status", "buttons"),
    [
        ("superuser", "PENDING", {"approve-order", "cancel-order"}),
        ("superuser", "APPROVED", {"cancel-order"}),
        ("approver", "PENDING", {"approve-order"}),
        ("approver", "APPROVED", set()),
        ("canceller", "PENDING", {"cancel-order"}),
        ("viewer", "PENDING", set()),
    ],
)
def test_buttons_follow_permission_and_status(login, place, actor, request, user, status, buttons):
    order = place()
    if status == "APPROVED":
        dispatch(ApproveOrder(order_id=order.pk), actor=actor)

    html = login(request.getfixturevalue(user)).get(change_url(order.pk)).content.decode()

    shown = {button for button in ("approve-order", "cancel-order") if f'id="{button}"' in html}
    assert shown == buttons


def test_approve_button_dispatches_the_command(login, approver, place):
    order = place()

    response = login(approver).post(approve_url(order.pk), follow=True)

    assert response.redirect_chain == [(change_url(order.pk), 302)]
    assert messages_of(response) == ["1 order approved."]
    order.refresh_from_db()
    assert (order.status, order.version, order.approved_by) == (OrderStatus.APPROVED, 2, approver)
    assert Event.objects.get(stream_id=order.pk, version=2).metadata["actor"] == "approver"
    assert OrderSummary.objects.get(pk=order.pk).status == OrderStatus.APPROVED


def test_approve_button_reports_a_refusal_and_writes_nothing(login, approver, place, actor):
    order = place()
    dispatch(ApproveOrder(order_id=order.pk), actor=actor)
    before = snapshot(order)

    response = login(approver).post(approve_url(order.pk), follow=True)

    assert messages_of(response) == [
        f"1 order could not be approved: {order.pk}: INVALID_TRANSITION"
    ]
    assert snapshot(order) == before


def test_cancel_button_dispatches_the_command_with_the_reason(login, canceller, place):
    order = place()

    response = login(canceller).post(cancel_url(order.pk), {"reason": "fraud check"}, follow=True)

    assert messages_of(response) == ["1 order cancelled."]
    order.refresh_from_db()
    assert (order.status, order.cancel_reason, order.cancelled_by) == (
        OrderStatus.CANCELLED,
        "fraud check",
        canceller,
    )
    assert OrderSummary.objects.get(pk=order.pk).status == OrderStatus.CANCELLED


def test_cancel_button_without_a_reason_is_refused(login, canceller, place):
    order = place()
    before = snapshot(order)

    response = login(canceller).post(cancel_url(order.pk), {"reason": ""}, follow=True)

    assert messages_of(response) == [f"1 order could not be cancelled: {order.pk}: REASON_REQUIRED"]
    assert snapshot(order) == before


@pytest.mark.parametrize(
    ("user", "url_for"),
    [("viewer", approve_url), ("canceller", approve_url), ("approver", cancel_url)],
)
def test_buttons_refuse_users_without_the_permission(login, place, request, user, url_for):
    order = place()
    before = snapshot(order)

    response = login(request.getfixturevalue(user)).post(url_for(order.pk), {"reason": "x"})

    assert response.status_code == 403
    assert snapshot(order) == before


@pytest.mark.parametrize("url_for", [approve_url, cancel_url])
def test_buttons_accept_post_only(login, superuser, place, url_for):
    order = place()
    before = snapshot(order)

    response = login(superuser).get(url_for(order.pk), {"reason": "x"})

    assert response.status_code == 405
    assert snapshot(order) == before


@pytest.mark.parametrize("url_for", [approve_url, cancel_url])
def test_buttons_are_csrf_protected(login, superuser, place, url_for):
    order = place()
    before = snapshot(order)

    response = login(superuser, enforce_csrf_checks=True).post(url_for(order.pk), {"reason": "x"})

    assert response.status_code == 403
    assert snapshot(order) == before


def test_buttons_need_a_staff_login(client, place):
    order = place()
    before = snapshot(order)

    response = client.post(approve_url(order.pk))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert snapshot(order) == before


@pytest.mark.parametrize("order_id", [uuid.uuid4(), "not-a-uuid"])
def test_buttons_on_an_unknown_order(login, superuser, order_id):
    response = login(superuser).post(approve_url(order_id), follow=True)

    assert response.redirect_chain == [(CHANGELIST_URL, 302)]
    assert messages_of(response) == [f"No order with id {str(order_id)!r}."]
    assert Event.objects.count() == 0
