"""seed_demo: idempotent through the bus, bulk above the threshold, always consistent."""

import io

import pytest
from django.core.management import call_command

from demo.management.commands import seed_demo
from orders_read.engine.catchup import get_checkpoint
from orders_read.engine.status import projection_status
from orders_read.models import OrderSummary
from orders_write import event_log
from orders_write.events import EVENT_TYPES
from orders_write.models import Event, Order
from tests.read_model import summary_rows

pytestmark = pytest.mark.django_db(transaction=True)


def seed(*args):
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def verify():
    out = io.StringIO()
    call_command("verify_projections", stdout=out)
    return out.getvalue()


def test_seed_demo_is_idempotent_and_prints_a_login():
    first = seed("--orders", "12")
    again = seed("--orders", "12")
    assert Order.objects.count() == 12
    assert "Demo admin login (local use only): admin / admin" in first
    assert "(0 placed now)" in again
    assert "No drift" in verify()
    assert projection_status("order_summary").lag_events == 0


def test_bulk_load_writes_orders_events_and_the_read_model(monkeypatch):
    monkeypatch.setattr(seed_demo, "BULK_THRESHOLD", 10)
    out = seed("--orders", "250", "--batch-size", "100")

    assert Order.objects.count() == 250
    assert "rebuilt 250 rows" in out
    # Every order has its stream, and the read model is exactly the projection of it.
    versions = dict(Order.objects.values_list("id", "version"))
    streams = {}
    for stream_id, version in Event.objects.values_list("stream_id", "version"):
        streams[stream_id] = max(version, streams.get(stream_id, 0))
    assert streams == versions
    # Each event in its type's current schema version, as the command handlers write it.
    assert set(Event.objects.values_list("type", "schema_version").distinct()) == {
        (name, cls.schema_version) for name, cls in EVENT_TYPES.items()
    }
    assert "No drift" in verify()
    assert get_checkpoint("order_summary") >= event_log.position_of(
        Event.objects.order_by("-position").first()
    )
    assert {row["status"] for row in summary_rows().values()} == {
        "PENDING",
        "APPROVED",
        "CANCELLED",
    }
    assert OrderSummary.objects.count() == 250
