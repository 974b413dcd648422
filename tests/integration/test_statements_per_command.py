"""The statements each command sends, inline projection included: a regression fails here.

Every statement is a round trip, and on the write path round trips are most of the
time a command takes beside plain Django's (README, Performance). So the statements
are pinned, each as its verb and first table, BEGIN, COMMIT and SAVEPOINT included,
on the write database and the read primary together: an added query, transaction or
savepoint shows up here as a difference to read.
"""

import re
from collections import Counter

import pytest
from django.db import connection
from django.test import TestCase

from orders_read.engine import inline
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder, OrderLine, PlaceOrder
from tests.conftest import all_queries

# Real commits: the inline projection runs after COMMIT, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

TABLE = re.compile(r'"((?:orders_write|orders_read)_\w+)"')

# The write transaction, then, after its COMMIT, both projections in one transaction of
# their own (one COMMIT for the read model), daily_sales (a day's row, shared) last.
# PostgreSQL writes its claim and counts in one statement; a new order's statements
# need nothing read first, so they go as one query (one round trip, one transaction),
# and the transaction commits without waiting for the disk (a SET LOCAL first).
WRITE = {
    "PlaceOrder": [
        "BEGIN",
        "SELECT orders_write_customer",  # locked, its payment method checked in the same query
        "SELECT orders_write_product",
        "INSERT orders_write_order",
        "INSERT orders_write_orderitem",
        "INSERT orders_write_event",
        "COMMIT",
    ],
    "transition": [
        "BEGIN",
        "SELECT orders_write_order",
        "UPDATE orders_write_order",
        "INSERT orders_write_event",
        "COMMIT",
    ],
}
POSTGRESQL = {
    "PlaceOrder": [
        *WRITE["PlaceOrder"],
        # Committed without waiting for the disk (inline.ASYNCHRONOUS_COMMIT).
        "SET; INSERT orders_read_ordersummary; WITH orders_read_dailysalesapplied",
    ],
    "transition": [
        *WRITE["transition"],
        "BEGIN",
        "SET",
        "SELECT orders_read_ordersummary",
        "INSERT orders_read_ordersummary",
        "SELECT orders_write_event",  # the order's status before, from its stream
        "WITH orders_read_dailysalesapplied",  # the claim and the day's counts
        "COMMIT",
    ],
}
# SQLite cannot write in a WITH, nor send statements as one query: daily_sales claims,
# then counts, in the projections' transaction.
SQLITE = {
    "PlaceOrder": [
        *WRITE["PlaceOrder"],
        "BEGIN",
        "INSERT orders_read_ordersummary",
        "INSERT orders_read_dailysalesapplied",
        "INSERT orders_read_dailysales",
        "COMMIT",
    ],
    "transition": [
        *WRITE["transition"],
        "BEGIN",
        "SELECT orders_read_ordersummary",
        "INSERT orders_read_ordersummary",
        "SELECT orders_write_event",
        "INSERT orders_read_dailysalesapplied",
        "INSERT orders_read_dailysales",
        "COMMIT",
    ],
}


def statement(sql: str) -> str:
    """``sql`` as its verb and first table (``INSERT orders_write_event``); a query of
    several statements as each one's, joined by "; "."""
    return "; ".join(_one_statement(part) for part in sql.split("; "))


def _one_statement(sql: str) -> str:
    verb = sql.split(None, 1)[0].upper()
    table = TABLE.search(sql)
    return f"{verb} {table.group(1)}" if table else verb


def statements_of(run) -> Counter:
    with all_queries() as queries, TestCase.captureOnCommitCallbacks(execute=True):
        run()
    return Counter(statement(query["sql"]) for query in queries)


def expected(command: str) -> Counter:
    return Counter((POSTGRESQL if connection.vendor == "postgresql" else SQLITE)[command])


@pytest.fixture(autouse=True)
def checkpoint_stays(monkeypatch):
    """The inline checkpoint advance runs at most once a second, whichever command comes
    then (``inline.ADVANCE_EVERY_SECONDS``): left out here, so the count is the command's."""
    monkeypatch.setattr(inline, "_time_to_advance", lambda projection: False)


def test_place_order(payment_method, products, actor):
    command = PlaceOrder(
        customer_id=payment_method.customer_id,
        payment_method_id=payment_method.pk,
        items=(OrderLine(product_id=products[0].pk, quantity=2),),
    )
    assert statements_of(lambda: dispatch(command, actor=actor)) == expected("PlaceOrder")


def test_approve_order(place, actor):
    order = place()
    assert statements_of(
        lambda: dispatch(ApproveOrder(order_id=order.id), actor=actor)
    ) == expected("transition")


def test_cancel_order(place, actor):
    order = place()
    assert statements_of(
        lambda: dispatch(CancelOrder(order_id=order.id, reason="changed mind"), actor=actor)
    ) == expected("transition")
