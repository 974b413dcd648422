"""The dashboard: read-model rows only, filters, cursor pages, bad filters are 400s."""

import datetime
import json
import uuid
from unittest import mock

import pytest
from django.test import TestCase, override_settings
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from orders_read.filters import OrderSummaryFilter
from orders_read.models import OrderSummary
from orders_read.serializers import OrderSummarySerializer
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder
from tests.conftest import all_queries
from tests.factories import PaymentMethodFactory

pytestmark = pytest.mark.django_db

ROW_FIELDS = {
    "order_id",
    "customer_id",
    "customer_name",
    "customer_email",
    "status",
    "item_count",
    "total_cents",
    "formatted_total",
    "currency",
    "placed_at",
    "last_updated",
    "is_high_value",
    "day_placed",
    "version",
}


@pytest.fixture
def history(place, actor):
    """Five orders: two pending, one approved, one cancelled, one approved high value."""
    orders = [place(1), place(2), place(3), place(4), place(0, 3)]
    with TestCase.captureOnCommitCallbacks(execute=True):
        dispatch(ApproveOrder(order_id=orders[2].id), actor=actor)
        dispatch(CancelOrder(order_id=orders[3].id, reason="fraud"), actor=actor)
        dispatch(ApproveOrder(order_id=orders[4].id), actor=actor)
    return orders


def ids(response):
    assert response.status_code == 200, response.json()
    return [row["order_id"] for row in response.json()["results"]]


@pytest.mark.parametrize("path", ["/orders/dashboard", "/orders/dashboard/"])
def test_lists_rows_newest_first(api_client, history, path):
    response = api_client.get(path)
    body = response.json()
    assert set(body) >= {"results", "next", "previous"}
    assert ids(response) == [str(order.id) for order in reversed(history)]
    assert set(body["results"][0]) == ROW_FIELDS
    assert body["results"][0]["status"] == "APPROVED"
    assert body["results"][0]["is_high_value"] is True
    assert body["results"][0]["formatted_total"] == "$1,500.00"


def test_reads_only_the_read_model(api_client, history):
    with all_queries() as queries:
        api_client.get("/orders/dashboard")
    tables = " ".join(query["sql"] for query in queries)
    assert "orders_read_ordersummary" in tables
    assert "orders_write_" not in tables


def test_filters(api_client, history):
    def filtered(**params):
        return set(ids(api_client.get("/orders/dashboard", params)))

    as_ids = lambda *orders: {str(order.id) for order in orders}  # noqa: E731
    assert filtered(status="PENDING") == as_ids(history[0], history[1])
    assert filtered(status="APPROVED") == as_ids(history[2], history[4])
    assert filtered(status="CANCELLED") == as_ids(history[3])
    assert filtered(is_high_value="true") == as_ids(history[4])
    assert filtered(is_high_value="false") == as_ids(*history[:4])
    email = history[0].customer.email
    assert filtered(customer_email=email) == as_ids(*history)
    assert filtered(customer_email="nobody@example.com") == set()
    placed = history[2].placed_at
    assert filtered(placed_after=placed.isoformat()) == as_ids(*history[2:])
    assert filtered(placed_before=placed.isoformat()) == as_ids(*history[:2])
    tomorrow = (placed + datetime.timedelta(days=1)).date().isoformat()
    assert filtered(placed_after=tomorrow) == set()


@pytest.mark.parametrize(
    "params",
    [
        {"status": "SHIPPED"},
        {"is_high_value": "maybe"},
        {"placed_after": "yesterday"},
        {"placed_before": "2026-13-40"},
        {"cursor": "garbage"},
    ],
)
def test_bad_filter_values_are_400(api_client, history, params):
    response = api_client.get("/orders/dashboard", params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["success"], body["code"]) == (False, "VALIDATION_ERROR")
    assert set(params) <= set(body["details"])


def test_cursor_pages_walk_every_row_once(api_client, place):
    placed = {str(place(1).id) for _ in range(7)}
    seen = []
    url = "/orders/dashboard?page_size=3"
    while url:
        response = api_client.get(url)
        page = ids(response)
        assert len(page) <= 3
        seen.extend(page)
        url = response.json()["next"]
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == placed


def test_page_size_is_capped_at_200(api_client, place):
    for _ in range(3):
        place()
    response = api_client.get("/orders/dashboard", {"page_size": 10_000})
    assert len(ids(response)) == 3
    assert response.wsgi_request.GET["page_size"] == "10000"
    assert OrderSummary.objects.count() == 3


def test_detail(api_client, history):
    order = history[3]
    response = api_client.get(f"/orders/dashboard/{order.id}")
    assert response.status_code == 200
    assert response.json()["status"] == "CANCELLED"
    assert response.json()["version"] == 2


@pytest.mark.parametrize("order_id", [uuid.uuid4(), "not-a-uuid"])
def test_unknown_detail_is_404(api_client, db, order_id):
    response = api_client.get(f"/orders/dashboard/{order_id}")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_customer_orders(api_client, history, products):
    other = PaymentMethodFactory()
    customer_id = history[0].customer_id
    response = api_client.get(f"/customers/{customer_id}/orders")
    assert set(ids(response)) == {str(order.id) for order in history}
    assert ids(api_client.get(f"/customers/{other.customer_id}/orders/")) == []
    assert set(ids(api_client.get(f"/customers/{customer_id}/orders", {"status": "PENDING"}))) == {
        str(history[0].id),
        str(history[1].id),
    }


def test_dashboard_needs_authentication(db):
    response = APIClient().get("/orders/dashboard")
    assert response.status_code == 401


def test_rows_match_the_write_side(api_client, history):
    for order in history:
        order.refresh_from_db()
        summary = OrderSummary.objects.get(pk=order.id)
        assert (summary.status, summary.total_cents, summary.version) == (
            order.status,
            order.total_cents,
            order.version,
        )


def test_keyset_pages_walk_rows_that_share_placed_at_both_ways(api_client, place):
    # Bulk imports give many orders one timestamp: DRF's CursorPagination would page
    # them with an OFFSET; the keyset on (placed_at, order_id) pages them directly.
    placed = [place(1) for _ in range(11)]
    same = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    OrderSummary.objects.filter(pk__in=[order.id for order in placed[:8]]).update(placed_at=same)
    expected = [
        str(row.order_id) for row in OrderSummary.objects.order_by("-placed_at", "-order_id")
    ]

    forward, pages, url = [], [], "/orders/dashboard?page_size=3"
    while url:
        body = api_client.get(url).json()
        pages.append(body)
        forward.extend(row["order_id"] for row in body["results"])
        url = body["next"]
    assert forward == expected
    assert pages[0]["previous"] is None
    assert len(pages) == 4

    backward, url = [], pages[-1]["previous"]
    while url:
        body = api_client.get(url).json()
        backward = [row["order_id"] for row in body["results"]] + backward
        url = body["previous"]
    assert backward == expected[: len(expected) - len(pages[-1]["results"])]


def test_a_cursor_page_reads_from_the_key_without_an_offset(api_client, place):
    for _ in range(4):
        place(1)
    first = api_client.get("/orders/dashboard?page_size=2").json()
    with all_queries() as queries:
        api_client.get(first["next"])
    page_query = [query["sql"] for query in queries if "ordersummary" in query["sql"]][-1]
    assert "OFFSET" not in page_query.upper()
    # One row comparison, which the (placed_at, order_id) index starts its scan at.
    assert '("orders_read_ordersummary"."placed_at", "orders_read_ordersummary"."order_id") <' in (
        page_query
    )


@pytest.mark.parametrize("cursor", ["cD0xJm89Mg==", "cD0yMDIwLTAxLTAxJm89eA==", "%%%"])
def test_a_forged_cursor_is_400(api_client, history, cursor):
    response = api_client.get("/orders/dashboard", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "cursor" in response.json()["details"]


def test_list_rows_are_what_the_serializer_gives(api_client, history):
    # The list reads .values() and renders with orjson; the JSON must not change.
    rows = api_client.get("/orders/dashboard").json()["results"]
    expected = OrderSummarySerializer(
        OrderSummary.objects.order_by("-placed_at", "-order_id"), many=True
    ).data
    assert rows == json.loads(JSONRenderer().render(expected))
    assert set(rows[0]) == ROW_FIELDS


def test_the_filters_form_class_is_built_once():
    """django-filter built a new form class for every request."""
    first = OrderSummaryFilter({"status": "PENDING"}).get_form_class()
    second = OrderSummaryFilter({"status": "BOGUS"}).get_form_class()

    assert first is second
    # Each request still validates with its own form.
    assert OrderSummaryFilter({"status": "PENDING"}).is_valid()
    assert not OrderSummaryFilter({"status": "BOGUS"}).is_valid()


# Each accepted or refused by the form, alone or together, repeated, empty, odd.
QUERIES = [
    "status=PENDING",
    "status=APPROVED&status=PENDING",
    "status=",
    "status=SHIPPED",
    "is_high_value=true",
    "is_high_value=false&customer_email=a%40example.com",
    "is_high_value=True",
    "placed_after=2026-11-02&placed_before=2026-11-09",
    "placed_after=2026-11-02T10:00:00%2B05:30",
    "placed_after=2026-11-02T10:00:00",
    "placed_before=2026-13-40",
    "customer_email=" + "x" * 255,
    "customer_email=%20spaced%40example.com%20",
    "customer_email=a%00b",
    "unknown=1&page_size=10",
]


@pytest.mark.parametrize("query", QUERIES)
def test_the_fast_path_filters_as_the_filterset_does(db, query):
    """``filter_valid_query`` takes what the FilterSet's form takes and filters the same."""
    from django.http import QueryDict

    data, rows = QueryDict(query), OrderSummary.objects.all()
    filterset = OrderSummaryFilter(data, rows)

    filtered = OrderSummaryFilter.filter_valid_query(data, rows)

    if filterset.is_valid():
        assert str(filtered.query) == str(filterset.qs.query)
    else:
        assert filtered is None


@pytest.mark.parametrize(
    ("query", "newest_first"),
    [("status=PENDING", [1, 0]), ("customer_email={email}&is_high_value=false", [3, 2, 1, 0])],
)
def test_a_filtered_read_builds_no_filterset_and_no_form(api_client, history, query, newest_first):
    """django-filter's FilterSet and form per request cost more than the page query."""
    url = "/orders/dashboard?" + query.format(email=history[0].customer.email)
    expected = ids(api_client.get(url))  # the form class is built once, here

    with (
        mock.patch.object(OrderSummaryFilter, "__init__", side_effect=AssertionError),
        mock.patch("django.forms.BaseForm.__init__", side_effect=AssertionError),
    ):
        response = api_client.get(url)

    assert ids(response) == expected
    assert expected == [str(history[index].id) for index in newest_first]


def test_a_refused_value_is_answered_by_the_forms_own_errors(api_client, history):
    form = OrderSummaryFilter({"status": "SHIPPED"}).form
    assert not form.is_valid()

    response = api_client.get("/orders/dashboard", {"status": "SHIPPED"})

    assert response.status_code == 400, response.content
    assert response.json()["details"] == {"status": form.errors["status"]}


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/orders/dashboard", ""),
        ("/orders/dashboard", "page_size=10"),
        ("/customers/{customer_id}/orders", ""),
        ("/orders/dashboard/{order_id}", ""),
    ],
)
def test_a_read_asking_for_no_filter_builds_no_form(api_client, history, path, query):
    """Without any filter parameter every filter keeps the rows: no form is validated."""

    order = history[0]
    url = path.format(customer_id=order.customer_id, order_id=order.id) + f"?{query}"

    with mock.patch.object(OrderSummaryFilter, "get_form_class", side_effect=AssertionError):
        response = api_client.get(url)

    assert response.status_code == 200, response.content
    assert response.json()


def test_a_row_is_read_as_the_serializer_shapes_it_without_running_it(api_client, history):
    """The row's answer is ``.values()`` shaped by ``represent`` (as the list's rows)."""
    row = OrderSummary.objects.get(pk=history[4].id)
    expected = json.loads(JSONRenderer().render(OrderSummarySerializer(row).data))

    with mock.patch.object(OrderSummarySerializer, "to_representation", side_effect=AssertionError):
        response = api_client.get(f"/orders/dashboard/{row.pk}")

    assert response.status_code == 200, response.content
    assert response.json() == expected


# Paris in 1850 was 9 minutes 21 seconds ahead of UTC: an offset with seconds.
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Europe/Paris"])
def test_the_list_and_the_row_are_the_serializers_json_byte_for_byte(api_client, history, zone):
    first, second = history[0].id, history[1].id
    OrderSummary.objects.filter(pk=first).update(
        placed_at=datetime.datetime(1850, 7, 1, 12, 0, tzinfo=datetime.UTC),
        last_updated=datetime.datetime(2026, 12, 2, 5, 54, 44, tzinfo=datetime.UTC),
    )
    OrderSummary.objects.filter(pk=second).update(
        last_updated=datetime.datetime(2026, 12, 2, 5, 54, 44, 120, tzinfo=datetime.UTC)
    )

    with override_settings(TIME_ZONE=zone):
        listed = api_client.get("/orders/dashboard").content
        row = api_client.get(f"/orders/dashboard/{first}").content
        rows = OrderSummary.objects.order_by("-placed_at", "-order_id")
        expected_list = JSONRenderer().render(
            {
                "next": None,
                "previous": None,
                "results": OrderSummarySerializer(rows, many=True).data,
            }
        )
        expected_row = JSONRenderer().render(OrderSummarySerializer(rows.get(pk=first)).data)

    assert listed == expected_list
    assert row == expected_row


def test_in_utc_the_rows_are_written_as_read(api_client, history):
    """orjson writes UUIDs, dates and UTC datetimes as DRF does: no Python work per value."""
    with mock.patch("orders_read.rendering._datetime", side_effect=AssertionError):
        listed = api_client.get("/orders/dashboard")
        row = api_client.get(f"/orders/dashboard/{history[0].id}")

    assert listed.status_code == 200, listed.content
    assert row.status_code == 200, row.content
    assert len(listed.json()["results"]) == len(history)
