"""order_summary's set-based rebuild folds ranges of orders side by side.

Each summary is one order's fold, so on PostgreSQL the rebuild splits the orders into
disjoint ranges of stream ids and folds each range in a statement of its own, on a
connection of its own. The ranges must hold every order exactly once; the rows must
be the ones the inline path wrote whatever the number of ranges; and one range
failing must leave the whole to the Python fold, with nothing of the others left.
The copies' indexes are then built side by side too.
"""

import logging
import threading

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from orders_read.engine import rebuild as rebuild_module
from orders_read.engine.catchup import read_database
from orders_read.engine.rebuild import rebuild
from orders_read.engine.set_based import stream_ranges
from orders_read.models import DeadLetter, OrderSummary
from orders_read.order_summary.projection import order_summary
from orders_write.events import OrderPlaced
from orders_write.models import Event
from tests.conftest import one_postgres_only, postgres_only
from tests.read_model import summary_rows, varied_history

pytestmark = pytest.mark.django_db(transaction=True)
set_based_only = one_postgres_only("the set-based rebuild runs there")


def is_fold(statement):
    """A range's statement (an INSERT), not the count of the events beside them."""
    return statement[0].lstrip().startswith("INSERT")


def ranges_holding(stream_id, ranges):
    return [
        streams
        for streams in ranges
        if (streams.start is None or streams.start <= stream_id)
        and (streams.stop is None or stream_id < streams.stop)
    ]


def test_the_ranges_hold_every_order_once(place, actor):
    orders = varied_history(place, actor, count=12)

    ranges = stream_ranges(3)

    assert len(ranges) == 3
    for order in orders:
        assert len(ranges_holding(order.id, ranges)) == 1
    # About as many events each: every range holds some orders.
    assert all(any(ranges_holding(order.id, [streams]) for order in orders) for streams in ranges)
    # More ranges than orders: no range repeats another.
    many = stream_ranges(100)
    assert len(many) <= len(orders) + 1
    for order in orders:
        assert len(ranges_holding(order.id, many)) == 1


@set_based_only
def test_the_ranges_fold_side_by_side_each_on_a_connection_of_its_own(place, actor, monkeypatch):
    varied_history(place, actor, count=12)
    inline = summary_rows()
    # Each range's statement waits for the others: one at a time, the first would wait in vain.
    all_folding = threading.Barrier(rebuild_module.SERVER_CORES, timeout=10)
    sessions, written = set(), []
    real_execute = rebuild_module._execute

    def execute_beside_the_others(alias, statement):
        if not is_fold(statement):
            return real_execute(alias, statement)  # the count beside them
        all_folding.wait()
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            sessions.add(cursor.fetchone()[0])
        written.append(real_execute(alias, statement))
        return written[-1]

    monkeypatch.setattr(rebuild_module, "_execute", execute_beside_the_others)
    result = rebuild(order_summary)

    assert result.method == "sql"
    assert len(sessions) == rebuild_module.SERVER_CORES
    assert len(written) == rebuild_module.SERVER_CORES and all(written)
    assert result.rows == sum(written) == len(inline)
    assert summary_rows() == inline


@set_based_only
@pytest.mark.parametrize("parts", [1, 5])
def test_any_number_of_ranges_gives_the_inline_rows(place, actor, monkeypatch, parts):
    varied_history(place, actor, count=15)
    inline = summary_rows()
    written = []
    real_execute = rebuild_module._execute

    def execute(alias, statement):
        done = real_execute(alias, statement)
        if is_fold(statement):
            written.append(done)
        return done

    monkeypatch.setattr(rebuild_module, "SERVER_CORES", parts)
    monkeypatch.setattr(rebuild_module, "_execute", execute)
    result = rebuild(order_summary)

    assert result.method == "sql"
    assert len(written) == parts and all(written)
    assert summary_rows() == inline


@set_based_only
def test_the_fold_statements_run_without_jit(place, actor, monkeypatch):
    """At a million orders the fold statements' estimated cost passes
    jit_optimize_above_cost, and optimizing and inlining took about 0.25 s a statement,
    for no faster run. Here: each statement runs with JIT off, though the server's
    default is on."""
    varied_history(place, actor, count=6)
    inline = summary_rows()
    settings = []
    real_execute = rebuild_module._execute

    def noting_the_setting(alias, statement):
        def note(execute, sql, params, many, context):
            if sql == statement[0]:
                context["cursor"].execute("SELECT current_setting('jit')")
                settings.append(context["cursor"].fetchone()[0])
            return execute(sql, params, many, context)

        with connections[alias].execute_wrapper(note):
            return real_execute(alias, statement)

    monkeypatch.setattr(rebuild_module, "_execute", noting_the_setting)
    result = rebuild(order_summary)

    assert result.method == "sql"
    assert settings == ["off"] * (rebuild_module.SERVER_CORES + 1)  # the ranges, the count
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT current_setting('jit')")
        assert cursor.fetchone()[0] == "on"
    assert summary_rows() == inline


@set_based_only
def test_the_events_are_counted_beside_the_folds_not_before_them(
    place, actor, statements_side_by_side
):
    """A count of the log reads all of it (about a tenth of the rebuild at a million
    orders): run first, it held everything back. The summaries have no ledger to say
    how many events were folded, so a count runs beside the ranges."""
    varied_history(place, actor, count=8)
    Event.objects.create(  # a status event before its order: counted, not folded
        stream_id=Event.objects.first().stream_id, version=0, type="OrderApproved", data={}
    )
    beside = statements_side_by_side
    with CaptureQueriesContext(read_database()) as before_and_after:
        result = rebuild(order_summary)

    assert result.method == "sql"
    assert result.events == Event.objects.count()
    assert result.rows == OrderSummary.objects.count() == 8
    counts = [sql for sql in beside if not sql.lstrip().startswith("INSERT")]
    assert len(counts) == 1 and counts[0].startswith("SELECT count(*)")
    assert len(beside) == rebuild_module.SERVER_CORES + 1
    # Before and after the folds, no count of the events they fold (the ranges' cuts
    # count the whole log, from its smallest index).
    counts_before = [q["sql"] for q in before_and_after.captured_queries if "COUNT(" in q["sql"]]
    assert not [sql for sql in counts_before if "WHERE" in sql]


@set_based_only
def test_a_failing_range_leaves_the_whole_fold_to_python(place, actor, caplog):
    orders = varied_history(place, actor, count=12)
    expected = summary_rows()
    # The newest order (the last range): its placement lacks a column the row needs.
    poisoned = orders[-1].id
    placed = Event.objects.get(stream_id=poisoned, type=OrderPlaced.type)
    del placed.data["customer_email"]
    placed.save(update_fields=["data"])
    del expected[poisoned]

    with caplog.at_level(logging.WARNING, logger=rebuild_module.__name__):
        result = rebuild(order_summary)

    assert "folding in Python instead" in caplog.text
    assert result.method == "python"
    # The other ranges' rows, committed before the failure, were not kept beside the
    # Python fold's: every order once.
    assert OrderSummary.objects.count() == len(expected)
    assert summary_rows() == expected
    assert set(DeadLetter.objects.values_list("stream_id", flat=True)) == {poisoned}


@postgres_only("the indexes are built side by side there")
def test_the_indexes_are_built_side_by_side_each_on_a_connection_of_its_own(
    place, actor, monkeypatch
):
    varied_history(place, actor, count=4)
    inline = summary_rows()
    # The first two builds wait for each other: one at a time, the first would wait in vain.
    first_two = threading.Barrier(2, timeout=10)
    started, sessions = [], set()
    lock = threading.Lock()
    real_add_index = rebuild_module._add_index

    workers = []

    def note_the_workers(execute, sql, params, many, context):
        if sql.startswith("CREATE INDEX"):
            context["cursor"].execute("SELECT current_setting('max_parallel_maintenance_workers')")
            workers.append(context["cursor"].fetchone()[0])
        return execute(sql, params, many, context)

    def add_beside_another(alias, copy_and_index, **options):
        with lock:
            started.append(copy_and_index)
            first = len(started) <= 2
        if first:
            first_two.wait()
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                sessions.add(cursor.fetchone()[0])
        with connections[alias].execute_wrapper(note_the_workers):
            real_add_index(alias, copy_and_index, **options)

    monkeypatch.setattr(rebuild_module, "_add_index", add_beside_another)
    rebuild(order_summary)

    assert len(started) == len(OrderSummary._meta.indexes)
    assert len(sessions) == 2
    # Every core is busy with a build: none takes parallel workers besides.
    assert workers == ["0"] * len(OrderSummary._meta.indexes)
    assert summary_rows() == inline
    with read_database().cursor() as cursor:
        built = read_database().introspection.get_constraints(cursor, "orders_read_ordersummary")
    assert {index.name for index in OrderSummary._meta.indexes} <= set(built)
