"""Reading the event log in commit-safe order: the contract catch-up and rebuilds rely on.

Events are read in (transaction id, position) order, and only events of
transactions older than the oldest writer still running are read. On PostgreSQL a
position is taken at INSERT but becomes visible at COMMIT, so T1 can take position
10, T2 position 11, T2 commit and T1 commit later: a reader that moved past 11
would never see 10. Waiting for the oldest running transaction closes that hole at
no cost to writers; a long-open transaction shows up as lag, never as loss.
SQLite serializes writers, so there positions commit in order and every committed
event is safe to read.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from orders_write.models import Event
from orders_write.upcasting import current_name, decode

# PostgreSQL channel notified (at COMMIT) whenever events are appended.
NOTIFY_CHANNEL = "orders_events"

MAX_BIGINT = 2**63 - 1


class LogPosition(NamedTuple):
    """A place in the log: everything at or before (transaction_id, position) is read."""

    transaction_id: int
    position: int

    def __str__(self) -> str:
        position = "end" if self.position == MAX_BIGINT else str(self.position)
        return f"(transaction {self.transaction_id}, position {position})"


START = LogPosition(0, 0)

# The log's table, for readers that fold it in SQL.
TABLE = Event._meta.db_table


class EventRecord(NamedTuple):
    """An event as a plain tuple: what projections read, without building a model instance.

    It has the attributes of ``Event`` that projections, checkpoints and dead letters
    use, so either can be passed where an event is expected. Reading tuples
    (``values_list``) instead of instances makes reading the log several times faster.
    """

    position: int
    transaction_id: int
    event_id: UUID
    stream_id: UUID
    version: int
    type: str
    data: dict[str, Any]
    occurred_at: datetime.datetime


# A stored event (what ``events_committed`` sends) or the same event read as a tuple:
# both have the attributes projections use.
AnyEvent = Event | EventRecord
# What ``after``, ``up_to`` and ``stream`` return: events to filter, order or read.
EventQuerySet = QuerySet[Event]


def records(events: EventQuerySet, chunk_size: int | None = None) -> Iterator[EventRecord]:
    """``events`` as ``EventRecord`` tuples, in the same order; streamed if ``chunk_size``.

    The one place the log's payloads are decoded: each comes out in its type's current
    name and shape, whatever version it was written in (``upcasting.decode``).
    """
    # The payload comes as text and is decoded by orjson: several times faster than
    # JSONField's json.loads, the biggest cost of reading the log after the database.
    fields = [name if name != "data" else "data_text" for name in EventRecord._fields]
    rows = events.annotate(data_text=Cast("data", TextField())).values_list(
        *fields, "schema_version"
    )
    type_at, data_at = EventRecord._fields.index("type"), EventRecord._fields.index("data")

    def record(row: tuple[Any, ...]) -> EventRecord:
        *values, schema_version = row
        values[type_at], values[data_at] = decode(
            values[type_at], schema_version, orjson.loads(values[data_at])
        )
        return EventRecord._make(values)

    return map(record, rows.iterator(chunk_size=chunk_size) if chunk_size else rows)


# A header: every field of an ``EventRecord`` but its payload.
HEADER_FIELDS = [name for name in EventRecord._fields if name != "data"]
_TYPE_AT = HEADER_FIELDS.index("type")


def _header(row: tuple[Any, ...]) -> EventRecord:
    """``HEADER_FIELDS`` values as an ``EventRecord``: the type's current name, no payload."""
    name = current_name(row[_TYPE_AT])
    return EventRecord(*row[:_TYPE_AT], name, {}, *row[_TYPE_AT + 1 :])


def headers(events: EventQuerySet) -> list[EventRecord]:
    """``events`` as ``EventRecord`` tuples without their payloads (``data`` is empty).

    Enough to tell which of them a projection reflects (type, stream, version, id),
    several times cheaper than ``records``: the status reads up to thousands of
    events on every ``/health``, and decoding their payloads was most of its cost.
    """
    return [_header(row) for row in events.values_list(*HEADER_FIELDS)]


# The lag's window (``headers_after``) written out for PostgreSQL: every status and
# stats request reads it, mostly to find it empty, and compiling the ORM's queryset for
# it cost several times the CPU of running it.
HEADERS_AFTER_SQL = (
    'SELECT {columns} FROM "{table}" WHERE ("transaction_id", "position") > (%s, %s) '
    'ORDER BY "transaction_id", "position" LIMIT %s'
).format(
    columns=", ".join(f'"{Event._meta.get_field(name).column}"' for name in HEADER_FIELDS),
    table=TABLE,
)


def headers_after(checkpoint: LogPosition, limit: int) -> list[EventRecord]:
    """The ``headers`` of the first ``limit`` committed events after ``checkpoint``, safe
    to read yet or not: ``headers(after(checkpoint, horizon=MAX_BIGINT)[:limit])``.

    On PostgreSQL one written-out statement (``HEADERS_AFTER_SQL``), whose columns the
    driver returns as the ORM would (UUIDs, aware datetimes); elsewhere through the
    ORM, which converts SQLite's text columns.
    """
    connection = connections[router.db_for_read(Event)]
    if connection.vendor != "postgresql":
        return headers(after(checkpoint, horizon=MAX_BIGINT)[:limit])
    with connection.cursor() as cursor:
        cursor.execute(HEADERS_AFTER_SQL, [checkpoint.transaction_id, checkpoint.position, limit])
        return [_header(row) for row in cursor.fetchall()]


def database() -> BaseDatabaseWrapper:
    """The connection to the database the log is appended to (the write side)."""
    return connections[router.db_for_write(Event)]


def is_postgresql() -> bool:
    return database().vendor == "postgresql"


def safe_horizon() -> int | None:
    """Transaction ids below this one have all finished; None where writers are serialized.

    Taken on the write database, where the events are appended: transaction ids of
    another server (the read database) say nothing about the log's writers.
    """
    if not is_postgresql():
        return None
    with database().cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        return cursor.fetchone()[0]


def safe_end() -> LogPosition:
    """The furthest position that no transaction can still commit an event before."""
    horizon = safe_horizon()
    if horizon is not None:
        # Every transaction below the horizon has finished; none at or above it is read.
        return LogPosition(horizon - 1, MAX_BIGINT)
    last = Event.objects.order_by("-position").values_list("position", flat=True).first()
    return LogPosition(0, last or 0)


def snapshot() -> str | None:
    """The database's current snapshot (PostgreSQL): which transactions have committed.

    Pass it later as ``unseen_by`` to read only the events committed since (or by
    transactions that were still running then). None where writers are serialized.
    """
    if not is_postgresql():
        return None
    with database().cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        return cursor.fetchone()[0]


def after(
    checkpoint: LogPosition, horizon: int | None = None, unseen_by: str | None = None
) -> QuerySet[Event]:
    """Committed events after ``checkpoint`` that are safe to read, in log order.

    ``horizon`` is a ``safe_horizon()`` taken before this query runs (taken now if
    not given): every event it lets through belongs to a finished transaction.
    Pass ``MAX_BIGINT`` to count what is committed but not yet safe (lag).
    ``unseen_by`` (a ``snapshot()``) keeps only the events that snapshot did not see.
    """
    if horizon is None:
        horizon = safe_horizon()
    events = Event.objects.filter(
        RawSQL(
            "(transaction_id, position) > (%s, %s)",
            (checkpoint.transaction_id, checkpoint.position),
            output_field=BooleanField(),
        )
    ).order_by("transaction_id", "position")
    if horizon is not None:
        events = events.filter(transaction_id__lt=horizon)
    if unseen_by is not None:
        events = events.filter(
            RawSQL(
                "NOT pg_visible_in_snapshot(transaction_id::text::xid8, %s::pg_snapshot)",
                (unseen_by,),
                output_field=BooleanField(),
            )
        )
    return events


def up_to(end: LogPosition) -> QuerySet[Event]:
    """Every event at or before ``end`` (a position from ``safe_end()``)."""
    return Event.objects.filter(
        RawSQL(
            "(transaction_id, position) <= (%s, %s)",
            (end.transaction_id, end.position),
            output_field=BooleanField(),
        )
    )


def stream_cuts(parts: int) -> list[UUID]:
    """Stream ids cutting the log into ``parts`` ranges of streams with about as many
    events each (ascending, no repeats; fewer where the log has too few streams).

    Read from the (stream id, version) index alone, one OFFSET per cut.
    """
    total = Event.objects.count()
    ids = Event.objects.order_by("stream_id").values_list("stream_id", flat=True)
    return sorted({ids[total * part // parts] for part in range(1, parts) if total})


def stream(stream_id: object) -> QuerySet[Event]:
    """One order's events, in version order (read them through ``records`` to project)."""
    return Event.objects.filter(stream_id=stream_id).order_by("version")


def streams(stream_ids: Iterable[object], types: Iterable[str]) -> QuerySet[Event]:
    """The events of ``types`` in these orders' streams (one query for a batch of orders)."""
    return Event.objects.filter(stream_id__in=list(stream_ids), type__in=list(types))


def metadata_of(events: Iterable[Event | EventRecord]) -> QuerySet[Event, dict[str, Any]]:
    """The metadata of ``events`` (actor, trace context), read apart from their payloads."""
    positions = [event.position for event in events]
    return Event.objects.filter(position__in=positions).values_list("metadata", flat=True)


def head() -> Event | None:
    """The last event appended (committed and visible)."""
    return Event.objects.order_by("-position").first()


def position_of(event: Event | EventRecord) -> LogPosition:
    return LogPosition(event.transaction_id, event.position)


def iter_batches(
    checkpoint: LogPosition,
    batch_size: int,
    horizon: int | None = None,
    unseen_by: str | None = None,
) -> Iterator[list[EventRecord]]:
    """Successive batches of events after ``checkpoint`` (one horizon for all, as in ``after``)."""
    if horizon is None:
        horizon = safe_horizon()
    while True:
        batch = list(records(after(checkpoint, horizon, unseen_by)[:batch_size]))
        if not batch:
            return
        yield batch
        checkpoint = position_of(batch[-1])
