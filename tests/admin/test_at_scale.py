"""The admin's list pages at a million orders: no whole-table COUNT, no date hierarchy,
searches that are index lookups. The figures are in bench/admin.py; these tests pin the
queries that make them."""

import re

import pytest
from django.urls import reverse

from common.admin import COUNT_LIMIT, EstimatedCountPaginator
from orders_read.engine.catchup import read_database
from orders_read.models import OrderSummary
from tests.conftest import all_queries, postgres_only

pytestmark = pytest.mark.django_db

# Each list page and one of its filters.
LISTS = {
    "admin:orders_write_order_changelist": {"status__exact": "PENDING"},
    "admin:orders_write_event_changelist": {"type": "OrderPlaced"},
    "admin:orders_read_ordersummary_changelist": {"status": "PENDING"},
    "admin:orders_write_customer_changelist": {"status__exact": "active"},
}


def list_queries(client, url, **query):
    with all_queries() as queries:
        response = client.get(url, query)
    assert response.status_code == 200
    return [q["sql"] for q in queries]


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize("how", ["all", "filtered", "searched"])
def test_a_list_page_never_counts_a_whole_table(login, superuser, place, name, how):
    place(1)
    query = {"all": {}, "filtered": LISTS[name], "searched": {"q": "someone@example.com"}}[how]
    queries = list_queries(login(superuser), reverse(name), **query)
    counts = [sql for sql in queries if "COUNT(" in sql.upper()]
    assert counts, "the page shows how many rows it found"
    for sql in counts:
        assert re.search(r"\bLIMIT\b", sql), sql  # counted up to COUNT_LIMIT rows at most
    # No date hierarchy: it reads every row's date to draw its links.
    assert not any(re.search(r"date_?trunc|MIN\(|MAX\(", sql, re.I) for sql in queries)


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("admin:orders_write_order_changelist", "customer_email"),
        ("admin:orders_read_ordersummary_changelist", "customer_email"),
        ("admin:orders_write_customer_changelist", "email"),
    ],
)
def test_an_email_search_is_an_exact_lookup(login, superuser, place, name, column):
    order = place(1)
    queries = list_queries(login(superuser), reverse(name), q=order.customer_email)
    page = [sql for sql in queries if f'"{column}" = ' in sql]
    assert page, queries
    assert not any(f'"{column}" LIKE' in sql for sql in queries)


def test_a_filtered_count_stops_at_the_limit(place, settings):
    place(1)
    assert EstimatedCountPaginator(OrderSummary.objects.filter(status="PENDING"), 50).count == 1
    big = EstimatedCountPaginator(OrderSummary.objects.all(), 50)
    sql = str(big.object_list.order_by()[:COUNT_LIMIT].query)
    assert f"LIMIT {COUNT_LIMIT}" in sql


@postgres_only("the planner's row estimate (pg_class.reltuples)")
def test_an_unfiltered_list_reports_the_planners_estimate(place, monkeypatch):
    from common import admin as common_admin

    monkeypatch.setattr(common_admin, "COUNT_LIMIT", 2)
    for _ in range(5):
        place(1)
    with read_database().cursor() as cursor:
        cursor.execute("ANALYZE orders_read_ordersummary")
    with all_queries() as queries:
        count = EstimatedCountPaginator(OrderSummary.objects.all(), 50).count
    assert count == 5
    assert not any("COUNT(" in q["sql"].upper() for q in queries)
