"""Request ids: echoed in X-Request-ID, on the log lines, in the event metadata."""

import logging

import pytest
from rest_framework.test import APIClient

from config.request_id import MAX_REQUEST_ID_LENGTH, RequestIdFilter
from orders_write.models import Event

pytestmark = pytest.mark.django_db


def test_the_clients_request_id_is_echoed_and_reaches_the_event_metadata(api_client, order_body):
    response = api_client.post(
        "/orders", order_body, format="json", HTTP_X_REQUEST_ID="trace-4711.a:b"
    )

    assert response.status_code == 201, response.json()
    assert response["X-Request-ID"] == "trace-4711.a:b"
    event = Event.objects.get(stream_id=response.json()["data"]["order_id"])
    assert event.metadata["request_id"] == "trace-4711.a:b"
    assert event.metadata["actor"] == "clerk"


def test_each_transition_records_its_own_request_id(api_client, place):
    order = place()
    api_client.post(f"/orders/{order.id}/approve", format="json", HTTP_X_REQUEST_ID="approve-1")
    api_client.post(
        f"/orders/{order.id}/cancel", {"reason": "x"}, format="json", HTTP_X_REQUEST_ID="cancel-1"
    )
    assert list(
        Event.objects.filter(stream_id=order.id, version__gt=1).values_list(
            "type", "metadata__request_id"
        )
    ) == [("OrderApproved", "approve-1"), ("OrderCancelled", "cancel-1")]


def test_without_a_client_id_the_server_makes_one(api_client, order_body):
    first = api_client.post("/orders", order_body, format="json")
    second = api_client.get("/orders/dashboard")

    ids = [first["X-Request-ID"], second["X-Request-ID"]]
    assert all(len(request_id) == 32 for request_id in ids)
    assert ids[0] != ids[1]
    event = Event.objects.get(stream_id=first.json()["data"]["order_id"])
    assert event.metadata["request_id"] == ids[0]


@pytest.mark.parametrize(
    "unsafe",
    [
        "x" * (MAX_REQUEST_ID_LENGTH + 1),
        "two words",
        "line\\nbreak",
        "semi;colon",
        "<script>",
        'quote"d',
    ],
)
def test_an_unsafe_client_id_is_replaced(api_client, unsafe):
    response = api_client.get("/orders/dashboard", HTTP_X_REQUEST_ID=unsafe)
    assert response.status_code == 200
    assert response["X-Request-ID"] != unsafe
    assert len(response["X-Request-ID"]) == 32


def test_error_responses_and_non_api_paths_carry_the_id(db):
    client = APIClient()
    assert client.get("/orders/dashboard", HTTP_X_REQUEST_ID="anon-1")["X-Request-ID"] == "anon-1"
    assert client.get("/no/such/path", HTTP_X_REQUEST_ID="missing-1")["X-Request-ID"] == (
        "missing-1"
    )
    assert client.get("/health", HTTP_X_REQUEST_ID="health-1")["X-Request-ID"] == "health-1"


def test_log_lines_of_a_request_carry_its_id(api_client, order_body, caplog):
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO, logger="config.requests"):
        response = api_client.post("/orders", order_body, format="json", HTTP_X_REQUEST_ID="log-1")
    access = [record for record in caplog.records if record.name == "config.requests"]
    assert len(access) == 1
    assert access[0].request_id == "log-1"
    assert access[0].getMessage().startswith("POST /orders 201 ")
    assert response["X-Request-ID"] == "log-1"

    # Outside a request the filter still gives the format something to print.
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "outside", None, None)
    RequestIdFilter().filter(record)
    assert record.request_id == "-"


def test_djangos_own_log_line_for_an_error_answer_carries_the_id(db, caplog):
    """django.request logs 4xx/5xx after the middleware returned: the id comes from the record."""
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        APIClient().get("/orders/dashboard", HTTP_X_REQUEST_ID="denied-1")
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Unauthorized: /orders/dashboard"
    assert record.request_id == "denied-1"
