"""A log mixing event versions (and a renamed type) reads as the current shape everywhere."""

import pytest

from orders_read.engine.catchup import catch_up, read_database
from orders_read.engine.rebuild import can_fold_in_sql, rebuild
from orders_read.models import OrderSummary, ProjectionCheckpoint
from orders_read.order_summary.projection import order_summary
from orders_read.verify import find_drift
from orders_write import upcasting
from orders_write.admin.events import stream_history
from orders_write.events import EVENT_TYPES, OrderPlaced
from orders_write.models import Event
from tests.read_model import summary_rows, varied_history

# The rebuild swaps tables: DDL that SQLite only allows outside a transaction.
pytestmark = pytest.mark.django_db(transaction=True)

# The name a test pretends ``OrderPlaced`` had before a rename.
OLD_NAME = "OrderCreated"


@pytest.fixture
def mixed_log(place, actor, monkeypatch):
    """Orders placed by today's code, then half their placements made as old code wrote them.

    Every third order's placement is version 1 (no currency); every third is also stored
    under the type's old name. The rows the inline path wrote are returned: what every
    way of reading the log must give back.
    """
    monkeypatch.setitem(upcasting.ALIASES, OLD_NAME, OrderPlaced.type)
    orders = varied_history(place, actor, count=9)
    inline = summary_rows()
    for number, order in enumerate(orders):
        if number % 3 == 0:
            continue
        event = Event.objects.get(stream_id=order.id, type=OrderPlaced.type)
        del event.data["currency"]
        event.schema_version = 1
        if number % 3 == 2:
            event.type = OLD_NAME
        event.save(update_fields=["data", "schema_version", "type"])
    assert Event.objects.filter(schema_version=1, type=OLD_NAME).count() == 3
    return inline


def test_commands_write_each_event_in_its_current_version(place, actor):
    varied_history(place, actor, count=4)

    assert set(Event.objects.values_list("type", "schema_version").distinct()) == {
        (name, cls.schema_version) for name, cls in EVENT_TYPES.items()
    }


def test_the_mixed_log_has_rows_in_dollars(mixed_log):
    assert {row["currency"] for row in mixed_log.values()} == {"USD"}


@pytest.mark.parametrize("set_based", [True, False], ids=["sql", "python"])
def test_a_mixed_log_rebuilds_to_exactly_the_rows_the_inline_path_wrote(mixed_log, set_based):
    if set_based and not can_fold_in_sql(read_database()):
        pytest.skip("the set-based fold needs the log and the read model in one PostgreSQL")

    result = rebuild(order_summary, set_based=set_based)

    assert result.method == ("sql" if set_based else "python")
    assert result.failures == []
    assert summary_rows() == mixed_log


def test_an_upcaster_without_sql_sends_the_rebuild_to_the_python_fold(
    mixed_log, upcaster_without_sql
):
    result = rebuild(order_summary)

    assert result.method == "python"
    assert summary_rows() == mixed_log


def test_catch_up_from_scratch_reads_every_version(mixed_log):
    OrderSummary.objects.all().delete()
    ProjectionCheckpoint.objects.all().delete()

    catch_up(order_summary)

    assert summary_rows() == mixed_log
    assert list(find_drift()) == []


def test_the_admin_history_shows_an_old_event_in_the_current_shape(mixed_log):
    renamed = Event.objects.filter(type=OLD_NAME).first()

    placed = stream_history(renamed.stream_id)[0]

    assert placed["type"] == OrderPlaced.type
    assert placed["details"].endswith(
        ", " + OrderSummary.objects.get(pk=renamed.stream_id).formatted_total
    )
