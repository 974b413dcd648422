"""Dashboard reads from a streaming replica of the read database (READ_REPLICA_URLS)."""

import contextlib
import time

import pytest
from django.conf import settings
from django.db import connections
from django.test.utils import CaptureQueriesContext

from orders_read import replicas
from orders_read.models import OrderSummary
from tests.api.test_outages import database_down
from tests.conftest import replicas_only

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    replicas_only("reads from a hot standby kept by streaming replication"),
]


@pytest.fixture
def replica():
    alias = settings.ORDERS_READ_REPLICAS[0]
    replicas._down_until.clear()  # no earlier test's outage carries over
    yield alias
    replicas._down_until.clear()


def replicated(alias, order_id, version=1, timeout=10.0):
    """Wait until the replica holds the order's row at ``version``."""
    deadline = time.monotonic() + timeout
    rows = OrderSummary.objects.using(alias).filter(pk=order_id, version__gte=version)
    while not rows.exists():
        assert time.monotonic() < deadline, "the replica did not replay the row in time"
        time.sleep(0.01)


@contextlib.contextmanager
def queries_on(*aliases):
    """The SQL each database ran in the block, by alias."""
    contexts = {alias: CaptureQueriesContext(connections[alias]) for alias in aliases}
    with contextlib.ExitStack() as stack:
        for context in contexts.values():
            stack.enter_context(context)
        captured = {alias: [] for alias in aliases}
        yield captured
    for alias, context in contexts.items():
        captured[alias] = [query["sql"] for query in context.captured_queries]


@contextlib.contextmanager
def replay_paused(alias):
    """The standby receives WAL but applies none of it: it falls behind."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_wal_replay_resume()")


def summary_reads(queries):
    return [sql for sql in queries if "orders_read_ordersummary" in sql]


def test_a_dashboard_read_goes_to_the_replica_and_never_to_the_read_primary(
    api_client, place, replica
):
    order = place()
    replicated(replica, order.id)
    with queries_on(replica, "read") as queries:
        listed = api_client.get("/orders/dashboard")
        row = api_client.get(f"/orders/dashboard/{order.id}")
        mine = api_client.get(f"/customers/{order.customer_id}/orders")

    assert [r.status_code for r in (listed, row, mine)] == [200, 200, 200]
    assert listed.json()["results"][0]["order_id"] == str(order.id)
    assert len(summary_reads(queries[replica])) == 3
    assert queries["read"] == []


def test_a_replica_that_is_down_is_skipped_for_the_read_primary(api_client, place, replica):
    order = place()
    with database_down(replica), queries_on("read") as queries:
        listed = api_client.get("/orders/dashboard")
    assert listed.status_code == 200
    assert listed.json()["results"][0]["order_id"] == str(order.id)
    assert summary_reads(queries["read"])


def test_a_replica_too_far_behind_is_skipped_for_the_read_primary(
    api_client, place, replica, settings
):
    settings.ORDERS_REPLICA_MAX_LAG = 0.0
    with replay_paused(replica):
        order = place()  # on the primary; the replica has received it, not replayed it
        with queries_on(replica, "read") as queries:
            listed = api_client.get("/orders/dashboard")
    assert listed.json()["results"][0]["order_id"] == str(order.id)
    assert summary_reads(queries["read"])
    assert not summary_reads(queries[replica])


def test_read_your_writes_is_never_stale_when_the_primary_has_the_version(
    api_client, order_body, replica, settings
):
    settings.ORDERS_REPLICA_MAX_LAG = 3600.0  # the lagging replica still serves reads
    with replay_paused(replica):
        placed = api_client.post("/orders", order_body, format="json").json()["data"]
        fresh = api_client.get(f"/orders/dashboard/{placed['order_id']}?min_version=1&wait=0")
        # The client's other reads stay on the replica: it did not ask for min_version.
        listed = api_client.get("/orders/dashboard")

    assert fresh.status_code == 200
    assert "Read-Model-Stale" not in fresh.headers
    assert fresh.json()["version"] == 1
    assert listed.status_code == 200
    assert placed["order_id"] not in [row["order_id"] for row in listed.json()["results"]]
