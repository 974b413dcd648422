"""The event log and the read model are shown, never edited, added or deleted."""

import pytest
from django.test import TestCase
from django.urls import reverse

from orders_read.models import OrderSummary
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder
from orders_write.models import Event
from tests.admin.conftest import action_names, staff_user

pytestmark = pytest.mark.django_db

READ_ONLY = [
    ("orders_write", "event", "orders_write.view_event"),
    ("orders_read", "ordersummary", "orders_read.view_ordersummary"),
]


def the_row(model_name, order):
    if model_name == "event":
        return Event.objects.get(stream_id=order.pk, version=1)
    return OrderSummary.objects.get(pk=order.pk)


def url(app_label, model_name, view, *args):
    return reverse(f"admin:{app_label}_{model_name}_{view}", args=args)


@pytest.mark.parametrize(("app_label", "model_name", "view_perm"), READ_ONLY)
@pytest.mark.parametrize("who", ["superuser", "viewer_of_this"])
def test_can_be_viewed(login, superuser, place, app_label, model_name, view_perm, who):
    order = place()
    user = superuser if who == "superuser" else staff_user("reader", view_perm)
    row = the_row(model_name, order)
    client = login(user)

    listing = client.get(url(app_label, model_name, "changelist"))
    page = client.get(url(app_label, model_name, "change", row.pk))

    assert listing.status_code == 200
    assert [obj.pk for obj in listing.context["cl"].result_list] == [row.pk]
    assert action_names(listing) == set()  # no delete_selected
    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}
    assert str(order.pk) in page.content.decode()
    assert 'name="_save"' not in page.content.decode()


@pytest.mark.parametrize(("app_label", "model_name", "view_perm"), READ_ONLY)
def test_refuse_add_change_and_delete(login, superuser, place, app_label, model_name, view_perm):
    order = place()
    row = the_row(model_name, order)
    before = list(type(row).objects.values())
    client = login(superuser)

    assert client.get(url(app_label, model_name, "add")).status_code == 403
    assert client.post(url(app_label, model_name, "add"), {"type": "Forged"}).status_code == 403
    changed = client.post(url(app_label, model_name, "change", row.pk), {"status": "APPROVED"})
    deleted = client.post(url(app_label, model_name, "delete", row.pk), {"post": "yes"})
    assert (changed.status_code, deleted.status_code) == (403, 403)
    assert list(type(row).objects.values()) == before


def test_event_log_search_by_order_id_shows_its_stream(login, superuser, place):
    mine = place()
    place()  # another stream, which must not show
    response = login(superuser).get(url("orders_write", "event", "changelist"), {"q": str(mine.pk)})

    assert [event.stream_id for event in response.context["cl"].result_list] == [mine.pk]


def test_order_summary_search_by_order_id_or_email(login, superuser, place):
    order = place()
    client = login(superuser)
    changelist = url("orders_read", "ordersummary", "changelist")

    by_id = client.get(changelist, {"q": str(order.pk)}).context["cl"].result_list
    by_email = client.get(changelist, {"q": order.customer.email}).context["cl"].result_list
    by_other = client.get(changelist, {"q": "nobody@example.com"}).context["cl"].result_list

    assert [row.pk for row in by_id] == [order.pk]
    assert [row.pk for row in by_email] == [order.pk]
    assert list(by_other) == []


def test_event_log_filters_by_event_type(login, superuser, place, actor):
    order = place()
    dispatch(ApproveOrder(order_id=order.pk), actor=actor)
    client = login(superuser)
    changelist = url("orders_write", "event", "changelist")

    approvals = client.get(changelist, {"type": "OrderApproved"}).context["cl"].result_list

    assert [(event.stream_id, event.type) for event in approvals] == [(order.pk, "OrderApproved")]


def test_order_summary_filters_by_status(login, superuser, place, actor):
    pending, approved = place(), place()
    with TestCase.captureOnCommitCallbacks(execute=True):
        dispatch(ApproveOrder(order_id=approved.pk), actor=actor)
    changelist = url("orders_read", "ordersummary", "changelist")
    client = login(superuser)

    for status, order in [("PENDING", pending), ("APPROVED", approved)]:
        rows = client.get(changelist, {"status": status}).context["cl"].result_list
        assert [row.pk for row in rows] == [order.pk]
