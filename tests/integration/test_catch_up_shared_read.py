"""Catch-up reads the log once for every projection, and daily_sales answers from the batch.

Reading and decoding the log was most of what catch-up cost: one read per projection
paid it again for each, and daily_sales read every order's stream again for its
histories. These tests pin that each projection still gets exactly its events, and
that daily_sales still counts exactly, whatever the batches hold.
"""

import math
import threading

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from orders_read.daily_sales import projection as daily_module
from orders_read.daily_sales.projection import COUNTERS, daily_sales
from orders_read.daily_sales.verify import find_drift
from orders_read.engine import catchup, registry
from orders_read.engine.catchup import catch_up, catch_up_all, get_checkpoint
from orders_read.models import (
    DailySales,
    DailySalesApplied,
    DeadLetter,
    OrderSummary,
    ProjectionCheckpoint,
)
from orders_read.order_summary.projection import order_summary
from orders_write import event_log
from orders_write.bus import dispatch
from orders_write.commands import CancelOrder
from orders_write.event_log import LogPosition
from orders_write.ids import uuid7
from orders_write.models import Event
from tests.conftest import one_postgres_only, split_only
from tests.read_model import summary_rows, varied_history

# Real commits: on PostgreSQL, catch-up waits for every open writer transaction.
pytestmark = pytest.mark.django_db(transaction=True)

# Ranges of the log are applied in SQL only where the log and the read model share
# one PostgreSQL database.
ranges_in_sql = one_postgres_only("catch-up applies ranges of the log in SQL there")


def test_one_read_gives_each_projection_exactly_the_events_after_its_checkpoint(
    place, actor, monkeypatch
):
    varied_history(place, actor, count=8, project=False)
    log = list(event_log.records(event_log.after(event_log.START)))
    # order_summary is a third of the way in; daily_sales at the start.
    ahead = len(log) // 3
    checkpoint = event_log.position_of(log[ahead - 1])
    ProjectionCheckpoint.objects.update_or_create(
        name=order_summary.name,
        defaults={"transaction_id": checkpoint.transaction_id, "position": checkpoint.position},
    )
    given: dict[str, list[int]] = {order_summary.name: [], daily_sales.name: []}
    apply_batch = catchup.apply_batch

    def recording(projection, events, on_failure, *args):
        given[projection.name] += [event.position for event in events]
        return apply_batch(projection, events, on_failure, *args)

    reads = []
    after = event_log.after

    def counted(*args, **kwargs):
        reads.append(args)
        return after(*args, **kwargs)

    monkeypatch.setattr(catchup, "apply_batch", recording)
    monkeypatch.setattr(event_log, "after", counted)
    # Batches only (no range in SQL), and the log's reads are the batches' own.
    monkeypatch.setattr(catchup, "next_range", lambda *args: None)

    catch_up_all([daily_sales.name, order_summary.name], batch_size=5)

    positions = [event.position for event in log]
    assert given[daily_sales.name] == positions
    assert given[order_summary.name] == positions[ahead:]
    # One read per batch of the log for both (and the empty one that ends the pass).
    assert len(reads) == math.ceil(len(log) / 5) + 1
    head = event_log.position_of(log[-1])
    assert get_checkpoint(order_summary.name) == get_checkpoint(daily_sales.name) == head


def test_daily_sales_reads_the_log_only_for_histories_its_batch_lacks(place, actor, monkeypatch):
    varied_history(place, actor, count=8, project=False)
    asked: list[object] = []
    histories = daily_module.histories

    def recording(stream_ids):
        stream_ids = list(stream_ids)
        asked.extend(stream_ids)
        return histories(stream_ids)

    monkeypatch.setattr(daily_module, "histories", recording)
    transitions = Event.objects.exclude(type="OrderPlaced")
    assert transitions.exists()

    # The whole log in one batch: every history is at hand.
    catch_up(daily_sales, batch_size=1000)
    assert asked == []
    assert DailySales.objects.exists()
    assert find_drift() == []

    # One event per batch: no transition has its order's placement at hand.
    DailySales.objects.all().delete()
    DailySalesApplied.objects.all().delete()
    ProjectionCheckpoint.objects.filter(name=daily_sales.name).delete()
    catch_up(daily_sales, batch_size=1)
    assert sorted(asked) == sorted(transitions.values_list("stream_id", flat=True))
    assert find_drift() == []


def empty_projections():
    for projection in registry.projections():
        for model in projection.models:
            model._default_manager.all().delete()
    ProjectionCheckpoint.objects.all().delete()
    DeadLetter.objects.all().delete()


def projected():
    """Every projection's rows and dead letters."""
    return (
        summary_rows(),
        sorted(DailySales.objects.values_list("day", *COUNTERS)),
        sorted(DeadLetter.objects.values_list("projection", "position")),
    )


def catch_up_in_ranges(monkeypatch, size):
    """Catch every projection up, applying ranges of ``size`` events in SQL; the number of
    ranges each applied that way."""
    ranges = {name: 0 for name in registry.names()}
    with monkeypatch.context() as patch:
        for projection in registry.projections():
            statements = projection.range_statements

            def counted(connection, after, end, statements=statements, name=projection.name):
                ranges[name] += 1
                return statements(connection, after, end)

            patch.setattr(projection, "range_statements", counted)
        patch.setattr(catchup, "RANGE_SIZE", size)
        catch_up_all()
    return ranges


@ranges_in_sql
def test_ranges_in_sql_leave_what_batches_leave(place, actor, monkeypatch):
    orders = varied_history(place, actor, count=8, project=False)
    catch_up_in_ranges(monkeypatch, 3)
    # Later events of orders placed before the next ranges, and new orders.
    with override_settings(ORDERS_INLINE_PROJECTION=False):
        for order in orders[:4]:
            dispatch(CancelOrder(order_id=order.id, reason="late"), actor=actor)
        varied_history(place, actor, count=5, project=False)

    ranges = catch_up_in_ranges(monkeypatch, 2)
    in_ranges = projected()
    empty_projections()
    catch_up_all()  # in batches only: the log is shorter than a range

    assert all(count > 1 for count in ranges.values())
    assert in_ranges == projected()
    assert in_ranges[1] and find_drift() == []


@ranges_in_sql
def test_a_poison_event_in_a_range_is_still_dead_lettered(place, actor, monkeypatch, caplog):
    orders = varied_history(place, actor, count=8, project=False)
    placed = Event.objects.get(stream_id=orders[3].id, type="OrderPlaced")
    Event.objects.filter(pk=placed.pk).update(data={**placed.data, "total_cents": "lots"})

    catch_up_in_ranges(monkeypatch, 4)
    in_ranges = projected()
    empty_projections()
    catch_up_all()

    assert "applying it in batches" in caplog.text
    assert in_ranges == projected()
    letters = DeadLetter.objects.values_list("projection", "stream_id", "event_type")
    assert {(name, orders[3].id, "OrderPlaced") for name in registry.names()} <= set(letters)
    assert {stream_id for _, stream_id, _ in letters} == {orders[3].id}
    assert len(in_ranges[0]) == len(orders) - 1


@ranges_in_sql
def test_a_ranges_status_update_finds_its_rows_by_key(place, actor):
    """Most of a range's status events are for orders placed in it, already folded by
    its INSERT; the UPDATE for the others, planned for a row each, read every row of
    the table, a little more at each range of a catch-up from empty."""
    approved = varied_history(place, actor, count=2, project=False)[1]
    history = list(Event.objects.filter(stream_id=approved.id))
    # Many orders placed and approved in the range, many rows in the table.
    Event.objects.bulk_create(
        Event(
            stream_id=stream_id,
            version=event.version,
            type=event.type,
            data=event.data,
            schema_version=event.schema_version,
            occurred_at=event.occurred_at,
        )
        for stream_id in [uuid7() for _ in range(500)]
        for event in history
    )
    now = timezone.now()
    OrderSummary.objects.bulk_create(
        OrderSummary(
            order_id=uuid7(),
            customer_id=1,
            customer_name="Earlier",
            customer_email="earlier@example.com",
            item_count=1,
            total_cents=100,
            formatted_total="$1.00",
            currency="USD",
            placed_at=now,
            status="PENDING",
            last_updated=now,
            version=1,
        )
        for _ in range(5_000)
    )
    end = LogPosition(*Event.objects.values_list("transaction_id", "position").last())
    _, (sql, params) = order_summary.range_statements(connection, event_log.START, end)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Event._meta.db_table}, {OrderSummary._meta.db_table}")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    table = OrderSummary._meta.db_table
    assert f"Index Scan using {table}_pkey on {table}" in plan
    assert f"Seq Scan on {table}" not in plan


@ranges_in_sql
def test_a_ranges_statements_run_without_sequential_scans(place, actor, monkeypatch):
    """The planner estimates each of the row comparisons that bound a range on its own,
    so a range in the middle of a long log looks like a large share of it: at a million
    orders it read the whole log for each range (0.7 s of every 1.2 s range; a log that
    long is for ``bench.catchup``). Here: a range runs with sequential scans off, and
    only its own transaction does."""
    varied_history(place, actor, count=6, project=False)
    statements = order_summary.range_statements

    def noting_the_setting(connection, after, end):
        # A session setting (not LOCAL): it outlives the range's transaction.
        note = "SELECT set_config('orders.range_seqscan', current_setting('enable_seqscan'), false)"
        return [*statements(connection, after, end), (note, [])]

    monkeypatch.setattr(order_summary, "range_statements", noting_the_setting)
    monkeypatch.setattr(catchup, "RANGE_SIZE", 3)
    catch_up(order_summary)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('orders.range_seqscan', true), "
            "current_setting('enable_seqscan')"
        )
        assert cursor.fetchone() == ("off", "on")
    assert len(summary_rows()) == 6


@ranges_in_sql
def test_each_projection_applies_its_ranges_in_a_thread_of_its_own(place, actor, monkeypatch):
    """A pass took the sum of the projections' range times; side by side, about the longest."""
    varied_history(place, actor, count=6, project=False)
    threads = {name: set() for name in registry.names()}
    for projection in registry.projections():
        statements = projection.range_statements

        def recorded(connection, after, end, statements=statements, name=projection.name):
            threads[name].add(threading.get_ident())
            return statements(connection, after, end)

        monkeypatch.setattr(projection, "range_statements", recorded)
    monkeypatch.setattr(catchup, "RANGE_SIZE", 3)
    catch_up_all()

    assert all(len(found) == 1 for found in threads.values())
    assert len(set.union(*threads.values())) == len(threads)
    assert threading.get_ident() not in set.union(*threads.values())
    assert len(summary_rows()) == 6
    assert find_drift() == []

    # Fewer events behind than a range (a follower's pass): no thread is started.
    pools = []
    monkeypatch.setattr(catchup, "ThreadPoolExecutor", lambda **options: pools.append(options))
    varied_history(place, actor, count=1, project=False)
    catch_up_all()
    assert pools == []
    assert len(summary_rows()) == 7


@split_only("the log and the read model in two databases")
def test_two_databases_catch_up_in_batches_only(place, actor, monkeypatch):
    varied_history(place, actor, count=4, project=False)

    ranges = catch_up_in_ranges(monkeypatch, 2)

    assert ranges == dict.fromkeys(registry.names(), 0)
    assert len(summary_rows()) == 4
    assert find_drift() == []
