"""The OrderSummary projection: events folded into rows, idempotently.

One pure function, ``evolve``, says what an event does to a row. Every path uses
it: the inline path and catch-up apply batches of events to rows in the database,
a rebuild folds whole streams in memory. Each row remembers the stream version it
reflects: an event at or below that version changes nothing, and every write is an
upsert guarded by ``version < new version``, so concurrent paths delivering the same
events can neither double count nor move a row backwards.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model
from django.utils.dateparse import parse_datetime

from orders_read.models import DASHBOARD_FIELDS, GENERATED_FIELDS, OrderSummary
from orders_write.event_log import EventRecord
from orders_write.events import OrderApproved, OrderCancelled, OrderPlaced
from orders_write.models import Event, OrderStatus
from orders_write.money import format_cents

Row = dict[str, Any]
# A stored event or the same event read as a tuple: ``evolve`` reads the same attributes.
AnyEvent = Event | EventRecord

# The columns a projection writes (the generated ones are computed by the database).
COLUMNS = [field for field in DASHBOARD_FIELDS if field not in GENERATED_FIELDS]

# From this many rows a write goes through COPY (catch-up and rebuild batches);
# fewer (the inline path's one row) take a single statement.
COPY_THRESHOLD = 500

_STATUS_AFTER = {
    OrderApproved.type: OrderStatus.APPROVED,
    OrderCancelled.type: OrderStatus.CANCELLED,
}


def evolve(row: Row | None, event: AnyEvent) -> Row | None:
    """The row after ``event``; ``row`` itself when the event changes nothing."""
    if row is not None and row["version"] >= event.version:
        return row  # already reflected
    if event.type == OrderPlaced.type:
        if row is not None:
            return row
        data = event.data
        return {
            "order_id": event.stream_id,
            "customer_id": data["customer_id"],
            "customer_name": data["customer_name"],
            "customer_email": data["customer_email"],
            "status": OrderStatus.PENDING.value,
            "item_count": len(data["items"]),
            "total_cents": data["total_cents"],
            "formatted_total": format_cents(data["total_cents"]),
            "placed_at": parse_datetime(data["placed_at"]),
            "last_updated": event.occurred_at,
            "version": event.version,
        }
    if event.type in _STATUS_AFTER:
        if row is None:
            # The order's creation is not projected yet; catch-up replays it in order.
            return None
        return {
            **row,
            "status": _STATUS_AFTER[event.type].value,
            "last_updated": event.occurred_at,
            "version": event.version,
        }
    return row  # an event type this projection does not use


class OrderSummaryProjection:
    """Keeps ``OrderSummary`` (or a rebuild's copy of its table) from the event log."""

    name = "order_summary"
    model = OrderSummary

    def fold(self, events: Iterable[AnyEvent], row: Row | None = None) -> Row | None:
        """Fold one stream's events, in version order, onto ``row``."""
        for event in events:
            row = evolve(row, event)
        return row

    def apply(self, events: Sequence[AnyEvent], model: type[Model] | None = None) -> int:
        """Apply events (in log order) to their rows in the database; returns rows written."""
        model = model or self.model
        first: dict[Any, AnyEvent] = {}
        for event in events:
            first.setdefault(event.stream_id, event)
        if not first:
            return 0
        # A stream whose first event here is its OrderPlaced (version 1) folds to the
        # same row whatever the table holds (the guarded upsert keeps a newer row), so
        # only the other streams' rows are read: a new order costs no SELECT.
        unknown = [
            stream_id
            for stream_id, event in first.items()
            if not (event.type == OrderPlaced.type and event.version == 1)
        ]
        before = (
            {
                row["order_id"]: row
                for row in model._default_manager.filter(order_id__in=unknown).values(*COLUMNS)
            }
            if unknown
            else {}
        )
        after = dict(before)
        for event in events:
            after[event.stream_id] = evolve(after.get(event.stream_id), event)
        changed = [
            row
            for stream_id, row in after.items()
            if row is not None and row is not before.get(stream_id)
        ]
        return self.write(changed, model)

    def write(self, rows: Sequence[Row], model: type[Model] | None = None) -> int:
        """Upsert rows, each only over an older version of itself; returns rows changed."""
        if not rows:
            return 0
        model = model or self.model
        alias = router.db_for_write(model)
        connection = connections[alias]
        sql = _upsert_statements(model, alias)
        postgres = connection.vendor == "postgresql"
        if postgres and len(rows) >= COPY_THRESHOLD:
            return self._copy_upsert(rows, model, connection, sql)
        with connection.cursor() as cursor:
            if len(rows) == 1:
                # The inline path's one row: a plain VALUES statement is the cheapest.
                cursor.execute(sql.one_row, sql.values(rows[0], connection))
            elif postgres:
                # One statement of one array per column, whatever the number of rows,
                # where executemany would send a statement per row.
                cursor.execute(sql.arrays, [[row[column] for row in rows] for column in COLUMNS])
            else:
                cursor.executemany(sql.one_row, [sql.values(row, connection) for row in rows])
            return cursor.rowcount

    def _copy_upsert(
        self,
        rows: Sequence[Row],
        model: type[Model],
        connection: BaseDatabaseWrapper,
        sql: _UpsertStatements,
    ) -> int:
        """A big batch: binary COPY into a session-local staging table, then one upsert.

        Text-quoting thousands of values into arrays costs more than the upsert itself;
        binary COPY skips the quoting.
        """
        quote = connection.ops.quote_name
        table = quote(model._meta.db_table)
        staging = quote(f"{model._meta.db_table}_staging")
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
                f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            copy_rows(cursor, model, staging, rows)
            cursor.execute(
                f"INSERT INTO {table} ({sql.columns}) SELECT {sql.columns} FROM {staging} "
                + sql.conflict
            )
            written = cursor.rowcount
            cursor.execute(f"TRUNCATE {staging}")
        return written


@dataclass(frozen=True)
class _UpsertStatements:
    """The guarded upsert's SQL for one table on one database, built once."""

    columns: str
    conflict: str
    one_row: str
    arrays: str
    fields: tuple[Field, ...]

    def values(self, row: Row, connection: BaseDatabaseWrapper) -> list[Any]:
        return [field.get_db_prep_save(row[field.name], connection) for field in self.fields]


@functools.lru_cache(maxsize=32)
def _upsert_statements(model: type[Model], alias: str) -> _UpsertStatements:
    connection = connections[alias]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    fields = tuple(model._meta.get_field(column) for column in COLUMNS)
    columns = ", ".join(quote(column) for column in COLUMNS)
    updates = ", ".join(f"{quote(column)} = EXCLUDED.{quote(column)}" for column in COLUMNS[1:])
    conflict = (
        f"ON CONFLICT ({quote('order_id')}) DO UPDATE SET {updates} "
        f"WHERE {table}.{quote('version')} < EXCLUDED.{quote('version')}"
    )
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    return _UpsertStatements(
        columns=columns,
        conflict=conflict,
        one_row=(
            f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
            + conflict
        ),
        arrays=f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) {conflict}",
        fields=fields,
    )


def copy_rows(cursor: CursorWrapper, model: type[Model], table: str, rows: Sequence[Row]) -> None:
    """Binary COPY of rows into ``table`` (quoted; columns shaped like ``model``'s)."""
    connection = cursor.db
    columns = ", ".join(connection.ops.quote_name(column) for column in COLUMNS)
    # Type names without their modifiers: psycopg knows "varchar", not "varchar(200)".
    types = [model._meta.get_field(column).db_type(connection).split("(")[0] for column in COLUMNS]
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as stream:
        stream.set_types(types)
        for row in rows:
            stream.write_row([row[column] for column in COLUMNS])


order_summary = OrderSummaryProjection()

PROJECTIONS: dict[str, OrderSummaryProjection] = {order_summary.name: order_summary}


def apply_events(events: Iterable[AnyEvent]) -> int:
    """Apply events to every projection (the inline path); returns rows written."""
    events = list(events)
    return sum(projection.apply(events) for projection in PROJECTIONS.values())
