"""daily_sales' set-based rebuild: the same days and the same ledger as the Python fold.

On PostgreSQL the rebuild folds the log in one statement; the figures must be the ones
the inline path wrote and the Python fold gives, for a log that mixes placements,
approvals and cancellations over several days with old event versions and a renamed
type; the ledger must hold every folded event (a re-delivery counts nothing); and a
statement that fails leaves the rebuild to the Python fold.
"""

import io
import logging
import random
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from orders_read.daily_sales.projection import daily_sales
from orders_read.engine import rebuild as rebuild_module
from orders_read.engine.catchup import catch_up, read_database
from orders_read.engine.inline import apply_events
from orders_read.engine.rebuild import rebuild, side_by_side
from orders_read.models import DailySalesApplied, ProjectionCheckpoint
from orders_read.order_summary.projection import order_summary
from orders_write import event_log, upcasting
from orders_write.events import OrderPlaced
from orders_write.models import Event
from orders_write.upcasting import stored_names
from tests.conftest import one_postgres_only
from tests.integration.test_daily_sales import daily_rows, random_history
from tests.read_model import summary_rows

pytestmark = [
    pytest.mark.django_db(transaction=True),
    one_postgres_only("the set-based rebuild runs there"),
]

# The name a test pretends ``OrderPlaced`` had before a rename.
OLD_NAME = "OrderCreated"


@pytest.fixture
def mixed_log(place, actor, monkeypatch):
    """A random history over many days, then a third of its placements as old code wrote
    them (version 1, no currency; half of those under the type's old name). Returns the
    days the inline path wrote: what every rebuild must give back."""
    monkeypatch.setitem(upcasting.ALIASES, OLD_NAME, OrderPlaced.type)
    random_history(random.Random(21), place, actor, steps=40)
    inline = daily_rows()
    assert len(inline) > 3  # several days
    placements = Event.objects.filter(type=OrderPlaced.type).order_by("position")
    for number, event in enumerate(placements):
        if number % 3:
            continue
        del event.data["currency"]
        event.schema_version = 1
        if number % 2:
            event.type = OLD_NAME
        event.save(update_fields=["data", "schema_version", "type"])
    assert Event.objects.filter(type=OLD_NAME).exists()
    assert Event.objects.filter(type="OrderApproved").exists()
    assert Event.objects.filter(type="OrderCancelled").exists()
    return inline


def handled_event_ids():
    names = stored_names(daily_sales.event_types)
    return set(Event.objects.filter(type__in=names).values_list("event_id", flat=True))


def ledger():
    return set(DailySalesApplied.objects.values_list("event_id", flat=True))


def test_the_set_based_rebuild_gives_the_python_fold_and_the_inline_rows(mixed_log):
    python = rebuild(daily_sales, set_based=False)
    assert python.method == "python"
    assert daily_rows() == mixed_log

    result = rebuild(daily_sales)

    assert result.method == "sql"
    assert result.failures == []
    assert daily_rows() == mixed_log
    assert ledger() == handled_event_ids()


def test_the_ledger_fill_says_how_many_events_were_folded(mixed_log, statements_side_by_side):
    """No count of the log: the ledger copy takes a row for every event folded."""
    with CaptureQueriesContext(read_database()) as queries:
        result = rebuild(daily_sales)

    assert result.method == "sql"
    assert result.events == len(handled_event_ids())
    assert [sql.split()[:3] for sql in statements_side_by_side] == [
        ["INSERT", "INTO", '"orders_read_dailysales_rebuild"'],
        ["INSERT", "INTO", '"orders_read_dailysalesapplied_rebuild"'],
    ]
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_the_ledger_copy_holds_every_event_so_a_redelivery_counts_nothing(mixed_log):
    result = rebuild(daily_sales)
    assert result.method == "sql"

    # The inline path delivers every event again, then catch-up reads the whole log.
    apply_events(event_log.records(Event.objects.order_by("position")))
    ProjectionCheckpoint.objects.filter(name=daily_sales.name).delete()
    catch_up(daily_sales)

    assert daily_rows() == mixed_log


def test_an_upcaster_without_sql_sends_the_rebuild_to_the_python_fold(
    mixed_log, upcaster_without_sql
):
    result = rebuild(daily_sales)

    assert result.method == "python"
    assert daily_rows() == mixed_log
    assert ledger() == handled_event_ids()


def test_a_failing_statement_falls_back_to_the_python_fold(mixed_log, caplog):
    # A total as a string: the Python fold reads it (``int``), the statement refuses it.
    placed = Event.objects.filter(type=OrderPlaced.type).order_by("position").last()
    placed.data["total_cents"] = str(placed.data["total_cents"])
    placed.save(update_fields=["data"])

    with caplog.at_level(logging.WARNING, logger="orders_read.engine.rebuild"):
        result = rebuild(daily_sales)

    assert "Set-based rebuild failed" in caplog.text
    assert result.method == "python"
    assert result.failures == []
    assert daily_rows() == mixed_log
    # Nothing of the failed statement is left: the ledger holds each event once.
    assert DailySalesApplied.objects.count() == len(handled_event_ids())


def test_the_projections_rebuild_side_by_side_each_on_a_connection_of_its_own(
    mixed_log, monkeypatch
):
    summaries = summary_rows()
    # Each fold waits for the other to start: one at a time, the first would wait in vain.
    both_folding = threading.Barrier(2, timeout=10)
    sessions = set()
    real_fold = rebuild_module._fold_in_sql

    def fold_beside_the_other(connection, *args):
        both_folding.wait()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            sessions.add(cursor.fetchone()[0])
        return real_fold(connection, *args)

    monkeypatch.setattr(rebuild_module, "_fold_in_sql", fold_beside_the_other)
    assert side_by_side([daily_sales, order_summary])

    out = io.StringIO()
    call_command("rebuild_projections", stdout=out)

    assert out.getvalue().count("rebuilt") == 2
    assert len(sessions) == 2
    assert daily_rows() == mixed_log
    assert summary_rows() == summaries


def test_one_at_a_time_inside_a_transaction_or_when_asked(mixed_log):
    with transaction.atomic():
        # A thread's connection would not see this transaction's rows.
        assert not side_by_side([daily_sales, order_summary])
    assert not side_by_side([daily_sales])
    with pytest.raises(CommandError, match="--jobs must be at least 1"):
        call_command("rebuild_projections", "--jobs", "0", stdout=io.StringIO())
    call_command("rebuild_projections", "--jobs", "1", stdout=io.StringIO())
    assert daily_rows() == mixed_log
