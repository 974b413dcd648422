"""One trace from the request through the command and its events to each projection."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from common import tracing
from orders_read.engine.catchup import catch_up
from orders_read.order_summary.projection import order_summary
from orders_write.models import Event
from tests.conftest import postgres_only

# Real commits: the inline projection runs at the command's COMMIT, inside the request.
pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def exporter():
    """The in-memory exporter of the test process's one tracer provider."""
    return InMemorySpanExporter()


@pytest.fixture
def spans(exporter):
    """Tracing on for one test; returns the spans finished so far, by name."""
    exporter.clear()
    tracing.start(exporter=exporter)
    yield lambda: {span.name: span for span in exporter.get_finished_spans()}
    tracing.stop()


def test_one_trace_from_request_to_command_event_and_inline_projection(
    spans, api_client, order_body
):
    response = api_client.post("/orders", order_body, format="json")
    assert response.status_code == 201

    finished = spans()
    request = next(span for span in finished.values() if span.name.startswith("POST"))
    command = finished["command PlaceOrder"]
    # "project order_summary", or on PostgreSQL "project order_summary, daily_sales":
    # one query applied both.
    projected = next(
        span
        for name, span in finished.items()
        if name.startswith("project ") and "order_summary" in name.split(" ", 1)[1].split(", ")
    )
    trace_id = request.context.trace_id
    assert command.parent.span_id == request.context.span_id
    assert command.attributes["orders.command.outcome"] == "ok"
    # The event carries the command's span context, and the projection links to it.
    event = Event.objects.get()
    traceparent = event.metadata[tracing.TRACE_CONTEXT_KEY]["traceparent"]
    assert traceparent.split("-")[1:3] == [f"{trace_id:032x}", f"{command.context.span_id:016x}"]
    assert projected.context.trace_id == trace_id
    assert [link.context.span_id for link in projected.links] == [command.context.span_id]


@postgres_only("psycopg is the PostgreSQL driver")
def test_the_database_statements_are_spans_of_the_request(spans, api_client, order_body):
    api_client.post("/orders", order_body, format="json")

    finished = spans()
    command = finished["command PlaceOrder"]
    statements = [
        span
        for span in finished.values()
        if span.kind.name == "CLIENT" and span.context.trace_id == command.context.trace_id
    ]
    assert statements


def test_a_rejected_command_span_carries_its_code(spans, api_client, order_body):
    order_body["customer_id"] = 999_999  # no such customer
    response = api_client.post("/orders", order_body, format="json")

    assert finished_outcome(spans()) == response.json()["code"]


def finished_outcome(finished):
    return finished["command PlaceOrder"].attributes["orders.command.outcome"]


def test_catch_up_links_its_batch_to_the_commands_that_wrote_it(
    spans, api_client, order_body, settings
):
    settings.ORDERS_INLINE_PROJECTION = False
    api_client.post("/orders", order_body, format="json")
    command = spans()["command PlaceOrder"]

    catch_up(order_summary)

    batch = spans()["catch up order_summary"]
    assert batch.attributes["orders.events"] == 1
    assert [(link.context.trace_id, link.context.span_id) for link in batch.links] == [
        (command.context.trace_id, command.context.span_id)
    ]


def test_off_by_default_no_sdk_no_trace_context():
    """A command in a fresh process with no OTEL_* set: the SDK is never imported."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    script = (
        "import sys, django; django.setup();"
        "from common import tracing; from orders_write.events import append_events;"
        "print(tracing.start(), tracing.trace_context(),"
        " any(name.startswith('opentelemetry.sdk') for name in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert out.split() == ["False", "{}", "False"]
