"""The OrderSummary projection: each order's events folded into its dashboard row.

Rows are idempotent by stream version: each row remembers the version it reflects,
an event at or below it changes nothing (``evolve``), and every write is an upsert
that only replaces an older version (``engine.upsert``), so the inline path and
catch-up delivering the same events can neither double count nor move a row
backwards. A rebuild folds each stream in memory, stream by stream, or on PostgreSQL
runs the same fold as one set-based statement (``fold.fold_sql``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from orders_read.engine.projection import LIVE, SQL, AnyEvent, Projection, Row, Tables
from orders_read.engine.set_based import EVERY_STREAM, Streams
from orders_read.engine.upsert import copy_rows, newer_conflict, newer_statement, write_newer
from orders_read.models import OrderSummary
from orders_read.order_summary.fold import COLUMNS, EVENT_TYPES, evolve, fold_sql, status_sql
from orders_write import event_log
from orders_write.event_log import LogPosition
from orders_write.events import OrderPlaced

if TYPE_CHECKING:
    from orders_read.engine.rebuild import Replay


class OrderSummaryProjection(Projection):
    """Keeps ``OrderSummary`` (or a rebuild's copy of its table) from the event log."""

    name = "order_summary"
    models = (OrderSummary,)
    event_types = EVENT_TYPES
    # Its one write is a single upsert guarded by each row's version: a transaction
    # around the inline path's read and write would add two round trips, and nothing.
    atomic_inline = False
    # A row is its order's events folded: a rebuild folds ranges of orders side by side.
    rows_per_stream = True

    def apply(self, events: Sequence[AnyEvent], tables: Tables = LIVE) -> int:
        """Apply events (in log order) to their rows in the database; returns rows written."""
        model = tables[OrderSummary]
        unknown = _streams_to_read(events)
        before = (
            {
                row["order_id"]: row
                for row in model._default_manager.filter(order_id__in=unknown).values(*COLUMNS)
            }
            if unknown
            else {}
        )
        return self.write(_changed(before, events), model)

    def inline_statements(
        self, connection: BaseDatabaseWrapper, events: list[AnyEvent]
    ) -> list[SQL] | None:
        """The rows of orders placed in ``events`` as one upsert; None if a row must be read."""
        if _streams_to_read(events):
            return None
        rows = _changed({}, events)
        return (
            [newer_statement(OrderSummary, rows, columns=COLUMNS, key="order_id")] if rows else []
        )

    def unapplied(self, events: Sequence[AnyEvent]) -> list[AnyEvent]:
        """Events newer than their order's row: a row reflects every version up to its own."""
        versions = dict(
            OrderSummary.objects.filter(
                order_id__in={event.stream_id for event in events}
            ).values_list("order_id", "version")
        )
        return [event for event in events if versions.get(event.stream_id, 0) < event.version]

    def write(self, rows: Sequence[Row], model: type[Model] = OrderSummary) -> int:
        """Upsert rows, each only over an older version of itself; returns rows changed."""
        return write_newer(model, rows, columns=COLUMNS, key="order_id")

    def fold(self, replay: Replay) -> int:
        """Fold each stream into its row and write the rows to the copy in batches.

        The log is read in stream order, as tuples, so one row is in memory at a time
        besides the batch waiting to be written (with COPY on PostgreSQL: the copy
        starts empty).
        """
        copy = replay.tables[OrderSummary]
        connection = connections[router.db_for_write(copy)]
        write = _copy_rows if connection.vendor == "postgresql" else self.write
        rows: list[Row] = []
        written = 0
        stream_id = row = None
        ordered = replay.events.order_by("stream_id", "version")
        for event in event_log.records(ordered, chunk_size=replay.batch_size):
            if event.stream_id != stream_id:
                if row is not None:
                    rows.append(row)
                    if len(rows) >= replay.batch_size:
                        written += write(rows, copy)
                        rows = []
                stream_id, row = event.stream_id, None
            try:
                row = evolve(row, event)
            except Exception as error:
                replay.fail(event, error)
            replay.advance()
        if row is not None:
            rows.append(row)
        written += write(rows, copy)
        replay.finish()
        return written

    def set_based_rebuild(
        self,
        connection: BaseDatabaseWrapper,
        tables: Tables,
        end: LogPosition,
        streams: Streams = EVERY_STREAM,
    ) -> SQL | None:
        return fold_sql(connection, tables[OrderSummary]._meta.db_table, end, streams=streams)

    def range_statements(
        self, connection: BaseDatabaseWrapper, after: LogPosition, end: LogPosition
    ) -> list[SQL] | None:
        """The same fold over catch-up's range: the orders placed in it folded whole and
        upserted over older rows, then the later status of the orders placed before it."""
        if connection.vendor != "postgresql":
            return None
        table = OrderSummary._meta.db_table
        conflict = newer_conflict(OrderSummary, COLUMNS, "order_id")
        placed = fold_sql(connection, table, end, after=after, conflict=conflict)
        if placed is None:
            return None
        return [placed, status_sql(connection, table, after, end)]


def _copy_rows(rows: list[Row], copy: type[Model]) -> int:
    """Binary COPY of new rows into the copy table (PostgreSQL; the copy starts empty)."""
    if not rows:
        return 0
    connection = connections[router.db_for_write(copy)]
    with connection.cursor() as cursor:
        copy_rows(cursor, copy, connection.ops.quote_name(copy._meta.db_table), rows, COLUMNS)
    return len(rows)


def _streams_to_read(events: Sequence[AnyEvent]) -> list[Any]:
    """The orders whose rows must be read before ``events`` fold into them.

    A stream whose first event here is its OrderPlaced (version 1) folds to the same row
    whatever the table holds (the guarded upsert keeps a newer row), so only the other
    streams' rows are read: a new order costs no SELECT.
    """
    first: dict[Any, AnyEvent] = {}
    for event in events:
        first.setdefault(event.stream_id, event)
    return [
        stream_id
        for stream_id, event in first.items()
        if not (event.type == OrderPlaced.type and event.version == 1)
    ]


def _changed(before: dict[Any, Row], events: Sequence[AnyEvent]) -> list[Row]:
    """The rows ``events`` change, folded over ``before`` (the rows read, by order id)."""
    after = dict(before)
    for event in events:
        after[event.stream_id] = evolve(after.get(event.stream_id), event)
    return [
        row
        for stream_id, row in after.items()
        if row is not None and row is not before.get(stream_id)
    ]


order_summary = OrderSummaryProjection()
