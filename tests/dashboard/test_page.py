"""The dashboard page over HTTP (no browser): who sees it, what it shows, what it refuses."""

import datetime
import re

import pytest

from orders_read.models import DailySales
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder
from orders_write.models import Event, Order
from tests.conftest import ALL_ORDER_PERMISSIONS, CommittingClient
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def client_for(*permissions, username="someone"):
    client = CommittingClient()
    client.force_login(UserFactory(username=username, permissions=list(permissions)))
    return client


@pytest.fixture
def clerk():
    return client_for(*ALL_ORDER_PERMISSIONS, username="clerk-page")


def test_a_visitor_is_sent_to_log_in_and_back():
    response = CommittingClient().get("/dashboard/?status=PENDING")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/%3Fstatus%3DPENDING"


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/figures", "/dashboard/queue"])
def test_without_the_view_permission_it_is_forbidden(path):
    assert client_for("orders_write.add_order").get(path).status_code == 403


def test_the_counts_and_the_queue(clerk, place, actor, django_capture_on_commit_callbacks):
    first, approved, big = place(1), place(2), place(0, 0, 1)
    with django_capture_on_commit_callbacks(execute=True):
        dispatch(ApproveOrder(order_id=approved.id), actor=actor)
    html = clerk.get("/dashboard/").content.decode()

    assert re.search(r'data-testid="count-PENDING">2<', html)
    assert re.search(r'data-testid="count-APPROVED">1<', html)
    queue = html[html.index('data-testid="approval-queue"') : html.index('id="orders"')]
    # Oldest first, the approved one gone, the high-value one marked.
    assert queue.index(str(first.id)) < queue.index(str(big.id))
    assert str(approved.id) not in queue
    assert queue.count('data-testid="high-value"') == 1


def test_thousands_are_separated(clerk):
    DailySales.objects.create(day="2026-01-05", placed_count=1_234_567, placed_cents=1)
    html = clerk.get("/dashboard/").content.decode()
    assert 'data-testid="count-PENDING">1,234,567<' in html


def test_a_bad_filter_or_cursor_is_said_not_a_500(clerk, place):
    place(1)
    bad_date = clerk.get("/dashboard/", {"placed_after": "12/02/2026"})
    assert bad_date.status_code == 200
    assert 'data-testid="filter-errors"' in bad_date.content.decode()
    bad_cursor = clerk.get("/dashboard/", {"cursor": "not-a-cursor"})
    assert bad_cursor.status_code == 200
    assert "not valid any more" in bad_cursor.content.decode()


def test_the_data_as_of_line_shows_only_when_behind(clerk, place, settings, monkeypatch):
    place(1)
    settings.ORDERS_INLINE_PROJECTION = False
    late = place(1)
    missing_since = Event.objects.get(stream_id=late.id).occurred_at
    # Looked at half a second, then two seconds after the order that is not counted yet.
    for seconds, shown in ((0.5, False), (2, True)):
        later = missing_since + datetime.timedelta(seconds=seconds)
        monkeypatch.setattr("django.utils.timezone.now", lambda later=later: later)
        html = clerk.get("/dashboard/figures").content.decode()
        assert ("Data as of" in html) is shown, seconds
    assert f"Data as of {missing_since:%Y-%m-%d %H:%M:%S} UTC" in html


def test_approve_runs_once_per_key_and_a_second_key_is_refused_in_plain_words(clerk, place):
    order = place(1)
    url = f"/dashboard/orders/{order.id}/approve"
    first = clerk.post(url, {"idempotency_key": "key-1"}, headers={"HX-Request": "true"})
    again = clerk.post(url, {"idempotency_key": "key-1"}, headers={"HX-Request": "true"})
    other = clerk.post(url, {"idempotency_key": "key-2"}, headers={"HX-Request": "true"})

    assert 'data-testid="status">APPROVED<' in first.content.decode()
    assert again.content == first.content  # the stored answer, nothing run again
    assert Event.objects.filter(stream_id=order.id, type="OrderApproved").count() == 1
    assert "someone else has already approved or cancelled it" in other.content.decode()
    assert Order.objects.get(pk=order.id).status == "APPROVED"


def test_cancel_without_a_reason_is_refused_and_without_javascript_redirects(clerk, place):
    order = place(1)
    response = clerk.post(f"/dashboard/orders/{order.id}/cancel", {"reason": " "}, follow=True)
    assert response.redirect_chain == [("/dashboard/", 302)]
    assert "Say why the order is cancelled." in response.content.decode()
    assert Order.objects.get(pk=order.id).status == "PENDING"

    done = clerk.post(
        f"/dashboard/orders/{order.id}/cancel",
        {"reason": "customer called", "next": "https://elsewhere.example/"},
    )
    assert done["Location"] == "/dashboard/"  # never off-site
    assert Order.objects.get(pk=order.id).status == "CANCELLED"


@pytest.mark.parametrize(("action", "permission"), [("approve", "approve"), ("cancel", "cancel")])
def test_the_actions_need_their_permission(place, action, permission):
    order = place(1)
    viewer = client_for("orders_read.view_ordersummary")
    response = viewer.post(f"/dashboard/orders/{order.id}/{action}", {"reason": "r"})
    assert response.status_code == 403
    assert Order.objects.get(pk=order.id).status == "PENDING"
    html = viewer.get("/dashboard/").content.decode()
    assert f'data-testid="{action}"' not in html
