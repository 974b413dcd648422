"""Rebuild a projection from the whole event log with zero downtime.

The new rows are built in a copy of the table while the dashboard keeps reading
the old one. On PostgreSQL one set-based statement folds the whole log in the
server (``fold_sql``: the rows ``evolve`` gives, for the event types it knows);
should it fail (an event it cannot read), or elsewhere, Python folds the streams
one at a time (the log is read in stream order, as tuples), so memory stays flat
at any log size, and writes the rows with COPY on PostgreSQL. The copy is then
caught up with the events committed meanwhile, and one transaction swaps the
tables and sets the checkpoint (``_swap_in`` says how no committed event is left
out, even one the inline path wrote to the old table). Interrupted at any point
before that, the copy is dropped and the old rows keep serving. One rebuild of a
projection runs at a time (``rebuild_lock``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps.registry import Apps
from django.db import DatabaseError, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from orders_read.catchup import DEFAULT_BATCH_SIZE, apply_batch, record_dead_letter
from orders_read.models import DeadLetter, ProjectionCheckpoint
from orders_read.projections import COLUMNS, OrderSummaryProjection, Row, copy_rows, evolve
from orders_read.rebuild_lock import rebuild_lock
from orders_write import event_log
from orders_write.event_log import EventRecord, LogPosition
from orders_write.events import OrderApproved, OrderCancelled, OrderPlaced
from orders_write.models import Event, OrderStatus

logger = logging.getLogger(__name__)

SHADOW_SUFFIX = "_rebuild"
INDEX_SUFFIX = "_rb"

# Called with (events done, events in total) as the fold goes.
Progress = Callable[[int, int], None]


@dataclass
class RebuildResult:
    projection: str
    events: int = 0
    rows: int = 0
    caught_up: int = 0
    seconds: float = 0.0
    checkpoint: LogPosition = event_log.START
    failures: list[tuple[Event | EventRecord, Exception]] = field(default_factory=list)
    # "sql" (one set-based statement on PostgreSQL) or "python" (evolve, stream by stream).
    method: str = ""


def shadow_model(live: type[models.Model]) -> type[models.Model]:
    """A model for a copy of ``live``'s table: same columns, no secondary indexes yet."""
    meta = type(
        "Meta",
        (),
        {
            "app_label": live._meta.app_label,
            "db_table": live._meta.db_table + SHADOW_SUFFIX,
            # A registry of its own: the copy never joins the project's models.
            "apps": Apps(),
        },
    )
    attrs: dict[str, object] = {"__module__": __name__, "Meta": meta}
    for model_field in live._meta.local_fields:
        attrs[model_field.name] = model_field.clone()
    return type(f"{live.__name__}Rebuild", (models.Model,), attrs)


def _temporary(index: models.Index) -> models.Index:
    """The same index (fields, condition, opclasses...) under the copy's name."""
    temporary = index.clone()
    temporary.name = index.name + INDEX_SUFFIX
    return temporary


def _drop(connection: BaseDatabaseWrapper, model: type[models.Model]) -> None:
    table = model._meta.db_table
    if table in connection.introspection.table_names():
        with connection.schema_editor() as editor:
            editor.delete_model(model)


def _catch_up_copy(
    projection: OrderSummaryProjection,
    copy: type[models.Model],
    position: LogPosition,
    result: RebuildResult,
    batch_size: int,
    horizon: int | None = None,
) -> LogPosition:
    """Apply to the copy the events after ``position``; returns where it got to.

    ``horizon`` as in ``event_log.after``: the safe events by default, every
    committed one with ``MAX_BIGINT``.
    """
    for batch in event_log.iter_batches(position, batch_size, horizon):
        apply_batch(
            projection,
            batch,
            lambda event, error: result.failures.append((event, error)),
            model=copy,
        )
        result.caught_up += len(batch)
        position = event_log.position_of(batch[-1])
    return position


def _swap(
    connection: BaseDatabaseWrapper, live: type[models.Model], copy: type[models.Model]
) -> None:
    live_table, copy_table = live._meta.db_table, copy._meta.db_table
    with connection.schema_editor() as editor:
        # No CASCADE (Django's delete_model would add it): a view or key that depends
        # on the table makes the swap fail loudly instead of vanishing with it.
        editor.execute(f"DROP TABLE {editor.quote_name(live_table)}")
        editor.alter_db_table(copy, copy_table, live_table)
        if connection.vendor == "postgresql":
            # Constraints keep the copy's names (primary key, checks): give them the live ones.
            with connection.cursor() as cursor:
                constraints = connection.introspection.get_constraints(cursor, live_table)
            for name in constraints:
                if name.startswith(copy_table):
                    editor.execute(
                        f"ALTER TABLE {editor.quote_name(live_table)} RENAME CONSTRAINT "
                        f"{editor.quote_name(name)} TO "
                        f"{editor.quote_name(live_table + name[len(copy_table) :])}"
                    )
        for index in live._meta.indexes:
            editor.rename_index(live, _temporary(index), index)


def _hold_off_inline_writes(connection: BaseDatabaseWrapper, live: type[models.Model]) -> None:
    """Until this transaction ends, no inline write reads or writes the live table.

    The inline path writes a row after its command has committed, so once the
    writes in flight have finished, every event behind a row in the old table is
    committed, and the copy can take it from the log. On PostgreSQL this is the
    ACCESS EXCLUSIVE lock the swap's DROP TABLE takes anyway, taken a moment
    earlier (readers wait a few milliseconds more). EXCLUSIVE would not do: the
    inline path reads a row before it writes it, and a row read from the old table
    now would carry its errors (the drift a rebuild repairs) into the new one. A
    writer waiting for the lock looks the table up by name again once it has it,
    so it reads and writes the new table. On SQLite the transaction began
    IMMEDIATE (settings): it holds the write lock, and every writer waits.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"LOCK TABLE {connection.ops.quote_name(live._meta.db_table)} "
                "IN ACCESS EXCLUSIVE MODE"
            )


def _swap_in(
    projection: OrderSummaryProjection,
    connection: BaseDatabaseWrapper,
    copy: type[models.Model],
    position: LogPosition,
    result: RebuildResult,
    batch_size: int,
) -> LogPosition:
    """Apply the last events to the copy and swap it in, in one transaction.

    Returns the checkpoint set. On PostgreSQL the safe events (below the horizon)
    do not include an event that a later transaction committed while an older one
    is still open, though the inline path may already have written it to the old
    table. So once inline writes are held off, every committed event is applied
    too, whatever the horizon: a stream's versions commit in order (each command
    locks its order row), and the rows remember their version, so catch-up
    applying these events again later changes nothing. The checkpoint stays at
    the last safe event, never past one that may still commit before it.
    """
    live = projection.model
    with connection.constraint_checks_disabled(), transaction.atomic(using=connection.alias):
        checkpoint, _ = ProjectionCheckpoint.objects.select_for_update().get_or_create(
            name=projection.name
        )
        # Under the checkpoint lock no catch-up runner moves; apply the last safe events.
        position = _catch_up_copy(projection, copy, position, result, batch_size)
        _hold_off_inline_writes(connection, live)
        _catch_up_copy(projection, copy, position, result, batch_size, event_log.MAX_BIGINT)
        _swap(connection, live, copy)
        checkpoint.transaction_id, checkpoint.position = position
        checkpoint.save(update_fields=["transaction_id", "position", "updated_at"])
        DeadLetter.objects.filter(projection=projection.name).delete()
        for event, error in result.failures:
            record_dead_letter(projection.name, event, error)
    return position


def rebuild(
    projection: OrderSummaryProjection,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    set_based: bool = True,
) -> RebuildResult:
    """Replay the whole log into a copy of the projection's table, then swap it in.

    Raises ``RebuildInProgress`` if another rebuild of the projection is running.
    ``set_based=False`` folds in Python even on PostgreSQL.
    """
    connection = connections[router.db_for_write(projection.model)]
    with rebuild_lock(connection, projection.name):
        return _rebuild(projection, connection, batch_size, progress, set_based)


def _rebuild(
    projection: OrderSummaryProjection,
    connection: BaseDatabaseWrapper,
    batch_size: int,
    progress: Progress | None,
    set_based: bool,
) -> RebuildResult:
    """The rebuild itself, under the projection's rebuild lock."""
    started = time.monotonic()
    result = RebuildResult(projection=projection.name)
    live = projection.model
    copy = shadow_model(live)
    # Left over from an interrupted rebuild: the lock says no other rebuild uses it.
    _drop(connection, copy)
    with connection.schema_editor() as editor:
        editor.create_model(copy)
    try:
        end = event_log.safe_end()
        events = event_log.up_to(end)
        total = events.count()
        # PostgreSQL streams a server-side cursor inside a transaction; SQLite streams
        # in autocommit (a transaction there would hold the write lock throughout).
        streaming = (
            transaction.atomic(using=connection.alias)
            if connection.vendor == "postgresql"
            else contextlib.nullcontext()
        )
        folded = None
        if set_based and connection.vendor == "postgresql":
            folded = _fold_in_sql(connection, copy, end)
        if folded is not None:
            result.method = "sql"
            result.events, result.rows = total, folded
            if progress:
                progress(total, total)
        else:
            result.method = "python"
            with streaming:
                result.events, result.rows = _fold_into(
                    projection, copy, events, total, batch_size, progress, result
                )
        with connection.schema_editor() as editor:
            if connection.vendor == "postgresql":
                # Index builds sort in memory (the server's default is 64 MB).
                editor.execute("SET maintenance_work_mem = '512MB'")
            for index in live._meta.indexes:
                editor.add_index(copy, _temporary(index))
            if connection.vendor == "postgresql":
                editor.execute("RESET maintenance_work_mem")
        position = _catch_up_copy(projection, copy, end, result, batch_size)
        result.checkpoint = _swap_in(projection, connection, copy, position, result, batch_size)
    except BaseException:
        _drop(connection, copy)
        raise
    result.seconds = time.monotonic() - started
    return result


def _fold_into(
    projection: OrderSummaryProjection,
    copy: type[models.Model],
    events: models.QuerySet[Event],
    total: int,
    batch_size: int,
    progress: Progress | None,
    result: RebuildResult,
) -> tuple[int, int]:
    """Fold each stream into its row and write the rows to the copy in batches."""
    connection = connections[router.db_for_write(copy)]
    write = _copy_rows if connection.vendor == "postgresql" else projection.write
    rows: list[Row] = []
    written = done = 0
    stream_id = row = None
    ordered = events.order_by("stream_id", "version")
    for event in event_log.records(ordered, chunk_size=batch_size):
        if event.stream_id != stream_id:
            if row is not None:
                rows.append(row)
                if len(rows) >= batch_size:
                    written += write(rows, copy)
                    rows = []
            stream_id, row = event.stream_id, None
        try:
            row = evolve(row, event)
        except Exception as error:
            result.failures.append((event, error))
        done += 1
        if progress and done % batch_size == 0:
            progress(done, total)
    if row is not None:
        rows.append(row)
    written += write(rows, copy)
    if progress:
        progress(done, total)
    return done, written


def _copy_rows(rows: list[Row], copy: type[models.Model]) -> int:
    """Binary COPY of new rows into the copy table (PostgreSQL; the copy starts empty)."""
    if not rows:
        return 0
    connection = connections[router.db_for_write(copy)]
    with connection.cursor() as cursor:
        copy_rows(cursor, copy, connection.ops.quote_name(copy._meta.db_table), rows)
    return len(rows)


# The set-based fold: each stream's row is its first OrderPlaced (by version) and the
# last status event after it, exactly as ``evolve`` folds them (other event types change
# nothing; a status event before the order is placed is ignored). A value ``evolve``
# would not accept (a missing key, a wrong JSON type) makes the statement fail instead
# of guessing, and the rebuild falls back to folding in Python, which dead-letters it.
_FOLD_SQL = """
INSERT INTO {table} ({columns})
SELECT
    p.stream_id,
    CASE WHEN jsonb_typeof(p.data -> 'customer_id') = 'number'
        THEN (p.data ->> 'customer_id')::bigint END,
    p.data ->> 'customer_name',
    p.data ->> 'customer_email',
    CASE WHEN s.version > p.version
        THEN CASE s.type WHEN %(approved)s THEN %(approved_status)s
            ELSE %(cancelled_status)s END
        ELSE %(pending_status)s END,
    jsonb_array_length(p.data -> 'items'),
    t.total,
    CASE WHEN t.total < 0 THEN '-' ELSE '' END || '$'
        || to_char(abs(t.total) / 100, 'FM999,999,999,999,999,990')
        || '.' || lpad((abs(t.total) %% 100)::text, 2, '0'),
    (p.data ->> 'placed_at')::timestamptz,
    CASE WHEN s.version > p.version THEN s.occurred_at ELSE p.occurred_at END,
    CASE WHEN s.version > p.version THEN s.version ELSE p.version END
FROM (
    SELECT DISTINCT ON (stream_id) stream_id, version, data, occurred_at
    FROM {events}
    WHERE type = %(placed)s AND (transaction_id, position) <= (%(txid)s, %(position)s)
    ORDER BY stream_id, version
) p
CROSS JOIN LATERAL (
    SELECT CASE WHEN jsonb_typeof(p.data -> 'total_cents') = 'number'
        THEN (p.data ->> 'total_cents')::bigint END AS total
) t
LEFT JOIN (
    SELECT DISTINCT ON (stream_id) stream_id, version, type, occurred_at
    FROM {events}
    WHERE type IN (%(approved)s, %(cancelled)s)
        AND (transaction_id, position) <= (%(txid)s, %(position)s)
    ORDER BY stream_id, version DESC
) s ON s.stream_id = p.stream_id
ORDER BY p.stream_id
"""


def fold_sql(connection: BaseDatabaseWrapper, table: str) -> str:
    """The set-based fold of the log into ``table`` (PostgreSQL)."""
    quote = connection.ops.quote_name
    return _FOLD_SQL.format(
        table=quote(table),
        columns=", ".join(quote(column) for column in COLUMNS),
        events=quote(Event._meta.db_table),
    )


def _fold_in_sql(
    connection: BaseDatabaseWrapper, copy: type[models.Model], end: LogPosition
) -> int | None:
    """Fold the log up to ``end`` into the copy in one statement; None if it cannot."""
    params = {
        "placed": OrderPlaced.type,
        "approved": OrderApproved.type,
        "cancelled": OrderCancelled.type,
        "pending_status": OrderStatus.PENDING.value,
        "approved_status": OrderStatus.APPROVED.value,
        "cancelled_status": OrderStatus.CANCELLED.value,
        "txid": end.transaction_id,
        "position": end.position,
    }
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            # Sorts and hashes in memory: the fold reads the whole log once.
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute(fold_sql(connection, copy._meta.db_table), params)
            return cursor.rowcount
    except DatabaseError as error:
        logger.warning("Set-based rebuild failed (%r); folding in Python instead", error)
        return None
