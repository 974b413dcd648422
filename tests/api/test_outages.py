"""Each side survives the other's outage (the split topology: READ_DATABASE_URL set)."""

import contextlib
import io
import os
import shlex
import socket
import subprocess
import threading
import time

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.databases import READ, WRITE, replica_aliases
from orders_read.engine import registry
from orders_read.engine.follower import Follower
from orders_read.engine.status import all_statuses
from orders_read.models import OrderSummary
from orders_write.models import Event, Order
from tests.conftest import ALL_ORDER_PERMISSIONS, split_only
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    split_only("one database down while the other serves"),
]

# An outage must be answered within this many seconds, never hang.
ANSWER_WITHIN = 2.0


def unused_port() -> int:
    """A port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def database_down(alias):
    """``alias`` refuses connections in this thread until the block ends."""
    database = connections[alias]
    database.close()
    port = database.settings_dict["PORT"]
    database.settings_dict["PORT"] = unused_port()
    try:
        yield
    finally:
        database.close()
        database.settings_dict["PORT"] = port


@contextlib.contextmanager
def read_side_down():
    """The read primary and every replica refuse connections (in this thread)."""
    with contextlib.ExitStack() as stack:
        for alias in [READ, *replica_aliases(settings.DATABASES)]:
            stack.enter_context(database_down(alias))
        yield


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


@pytest.fixture
def clerk_client(staff):
    return token_client(staff)


def test_commands_go_on_while_the_read_database_is_down(clerk_client, order_body):
    with read_side_down():
        placed = [clerk_client.post("/orders", order_body, format="json") for _ in range(3)]
        order_ids = [response.json()["data"]["order_id"] for response in placed]
        approved = clerk_client.post(f"/orders/{order_ids[0]}/approve", {}, format="json")
        cancelled = clerk_client.post(
            f"/orders/{order_ids[1]}/cancel", {"reason": "changed"}, format="json"
        )
        dashboard, dashboard_seconds = timed(lambda: clerk_client.get("/orders/dashboard"))
        row, row_seconds = timed(
            lambda: clerk_client.get(f"/orders/dashboard/{order_ids[2]}?min_version=1")
        )
        health = APIClient().get("/health")

    assert [response.status_code for response in placed] == [201, 201, 201]
    assert (approved.status_code, cancelled.status_code) == (200, 200)
    assert Event.objects.count() == 5  # nothing lost on the write side
    for response, seconds in [(dashboard, dashboard_seconds), (row, row_seconds)]:
        assert response.status_code == 503
        assert response.json()["code"] == "READ_MODEL_UNAVAILABLE"
        assert response.json()["success"] is False
        assert seconds < ANSWER_WITHIN
    assert health.status_code == 503
    assert health.json()["databases"] == {WRITE: "ok", READ: "error"}

    # Back: catch-up restores every row the inline path could not write.
    assert not OrderSummary.objects.exists()
    call_command("catch_up_projections", stdout=io.StringIO())
    assert set(OrderSummary.objects.values_list("order_id", flat=True)) == set(
        Order.objects.values_list("id", flat=True)
    )
    out = io.StringIO()
    call_command("verify_projections", stdout=out)  # raises CommandError on drift
    assert "No drift" in out.getvalue()


def test_commands_answer_503_while_the_write_database_is_down(clerk_client, order_body, place):
    order = place()
    with database_down(WRITE):
        responses = [
            timed(lambda: clerk_client.post("/orders", order_body, format="json")),
            timed(lambda: clerk_client.post(f"/orders/{order.id}/approve", {}, format="json")),
        ]
    for response, seconds in responses:
        assert response.status_code == 503
        assert response.json()["code"] == "WRITE_SIDE_UNAVAILABLE"
        assert seconds < ANSWER_WITHIN
    assert Order.objects.count() == 1  # nothing half-written


READ_DOWN = os.environ.get("ORDERS_TEST_READ_DOWN")
READ_UP = os.environ.get("ORDERS_TEST_READ_UP")


@pytest.mark.skipif(
    not (READ_DOWN and READ_UP),
    reason="ORDERS_TEST_READ_DOWN/UP (commands that stop and start the read cluster) are "
    "not set; .ci/run sets them",
)
def test_the_running_follower_restores_what_was_missed_while_the_read_server_was_stopped(
    clerk_client, order_body, settings
):
    settings.ORDERS_READ_REPLICAS = []  # a replica would go on serving what it has
    caught_up = threading.Event()

    def on_pass(results):
        rows_back = OrderSummary.objects.count() == Order.objects.count()
        if rows_back and all(status.lag_events == 0 for status in all_statuses()):
            caught_up.set()

    # Every projection, as `catch_up_projections --follow` runs them.
    follower = Follower(registry.names(), poll_interval=0.05, reconnect_delay=0.05)
    follower.on_pass = on_pass
    thread = threading.Thread(target=_run_then_close, args=(follower,), daemon=True)
    thread.start()
    try:
        subprocess.run(shlex.split(READ_DOWN), check=True)
        try:
            connections[READ].close()
            caught_up.clear()
            placed = [clerk_client.post("/orders", order_body, format="json") for _ in range(3)]
            dashboard, seconds = timed(lambda: clerk_client.get("/orders/dashboard"))
        finally:
            subprocess.run(shlex.split(READ_UP), check=True)
        assert [response.status_code for response in placed] == [201, 201, 201]
        assert (dashboard.status_code, dashboard.json()["code"]) == (503, "READ_MODEL_UNAVAILABLE")
        assert seconds < ANSWER_WITHIN
        connections[READ].close()
        assert caught_up.wait(timeout=30), "the follower did not restore the missed rows"
    finally:
        follower.stop.set()
        thread.join(timeout=30)
    out = io.StringIO()
    call_command("verify_projections", stdout=out)
    assert "No drift" in out.getvalue()


def _run_then_close(follower):
    try:
        follower.run()
    finally:
        connections.close_all()


def test_dashboard_reads_go_on_for_recent_credentials_while_the_write_database_is_down(
    staff, place, settings
):
    settings.ORDERS_AUTH_CACHE_SECONDS = 60
    settings.ORDERS_READ_REPLICAS = []  # the row at once, not once a replica has it
    order = place()
    by_token = token_client(staff)
    by_session = APIClient()
    by_session.force_login(staff)
    never_seen = token_client(UserFactory(permissions=ALL_ORDER_PERMISSIONS))
    for client in (by_token, by_session):  # seen once while the write side was up
        assert client.get("/orders/dashboard").status_code == 200

    with database_down(WRITE):
        reads = [client.get(f"/orders/dashboard/{order.id}") for client in (by_token, by_session)]
        unknown, seconds = timed(lambda: never_seen.get("/orders/dashboard"))

    assert [read.status_code for read in reads] == [200, 200]
    assert all(read.json()["order_id"] == str(order.id) for read in reads)
    # A credential this process never saw needs the write side.
    assert (unknown.status_code, unknown.json()["code"]) == (503, "WRITE_SIDE_UNAVAILABLE")
    assert seconds < ANSWER_WITHIN


def test_without_the_authentication_memory_reads_need_the_write_side(staff, place, settings):
    settings.ORDERS_AUTH_CACHE_SECONDS = 0
    client = token_client(staff)
    assert client.get("/orders/dashboard").status_code == 200
    with database_down(WRITE):
        response = client.get("/orders/dashboard")
    assert (response.status_code, response.json()["code"]) == (503, "WRITE_SIDE_UNAVAILABLE")


def test_a_revoked_token_is_refused_at_once_while_the_write_side_is_up(staff, settings):
    settings.ORDERS_AUTH_CACHE_SECONDS = 60
    client = token_client(staff)
    assert client.get("/orders/dashboard").status_code == 200
    Token.objects.filter(user=staff).delete()
    assert client.get("/orders/dashboard").status_code == 401


def token_client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_pages_outside_the_api_answer_503_naming_the_side_that_is_down(staff):
    browser = Client()
    with database_down(WRITE):
        login, seconds = timed(
            lambda: browser.post("/admin/login/", {"username": staff.username, "password": "x"})
        )
    browser.force_login(staff)
    with read_side_down():
        page = browser.get("/dashboard/")

    assert (login.status_code, login.json()["code"]) == (503, "WRITE_SIDE_UNAVAILABLE")
    assert seconds < ANSWER_WITHIN
    assert login["Retry-After"]
    assert (page.status_code, page.json()["code"]) == (503, "READ_MODEL_UNAVAILABLE")
