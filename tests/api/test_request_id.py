"""Request ids: echoed in X-Request-ID, on the log lines, in the event metadata."""

import io
import logging
from urllib.parse import quote

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from common.request_id import MAX_REQUEST_ID_LENGTH, RequestIdFilter
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


FORGED_LINE = "INFO config.requests [forged-1] POST /orders 201 3ms"


@pytest.fixture
def log_output(caplog):
    """What the server's log format writes for the access and ``django.request`` loggers."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"]))
    handler.addFilter(RequestIdFilter())
    loggers = [logging.getLogger(name) for name in ("config.requests", "django.request")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="config.requests"):
            yield output
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("line_break", "escaped"),
    [("\r\n", r"\r\n"), ("\n", r"\n"), ("\r", r"\r"), ("\x85", r"\x85"), ("\u2028", r"\u2028")],
    ids=["CRLF", "LF", "CR", "NEL", "LINE SEPARATOR"],
)
def test_a_line_break_in_the_path_cannot_forge_a_log_line(log_output, line_break, escaped):
    """The decoded path is logged escaped: one request, one line, whatever the path holds."""
    path = quote(f"/health{line_break}{FORGED_LINE}")

    response = APIClient().get(path, HTTP_X_REQUEST_ID="real-1")

    assert response.status_code == 404
    lines = log_output.getvalue().splitlines()  # every separator a log reader honours
    # The access line and Django's "Not Found" line, each whole and under the real id.
    assert len(lines) == 2, lines
    assert all(" [real-1] " in line for line in lines)
    (access,) = [line for line in lines if " INFO config.requests [real-1] " in line]
    forged_escaped = FORGED_LINE.replace(" ", r"\x20")
    assert f"[real-1] GET /health{escaped}{forged_escaped} 404 " in access


def test_the_method_is_logged_escaped_too(log_output):
    """A WSGI server may pass on any method token; the test client passes anything."""
    APIClient().generic("GET\nINFO", "/health", HTTP_X_REQUEST_ID="real-2")

    lines = log_output.getvalue().splitlines()
    assert all(" [real-2] " in line for line in lines), lines
    (access,) = [line for line in lines if " INFO config.requests [real-2] " in line]
    assert r"[real-2] GET\nINFO /health 405 " in access
