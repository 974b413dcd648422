"""Rebuild a projection from the whole event log with zero downtime.

The new rows are built in a copy of the table while the dashboard keeps reading
the old one. Streams are folded one at a time (the log is read in stream order),
so memory stays flat at any log size. The copy is then caught up with the events
committed meanwhile, and one transaction swaps the tables and sets the
checkpoint. Interrupted at any point before that, the copy is dropped and the old
rows keep serving.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps.registry import Apps
from django.db import connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from orders_read.catchup import DEFAULT_BATCH_SIZE, apply_batch, record_dead_letter
from orders_read.models import DeadLetter, ProjectionCheckpoint
from orders_read.projections import OrderSummaryProjection, Row, evolve
from orders_write import event_log
from orders_write.event_log import LogPosition
from orders_write.models import Event

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
    failures: list[tuple[Event, Exception]] = field(default_factory=list)


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
    return models.Index(fields=index.fields, name=index.name + INDEX_SUFFIX)


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
) -> LogPosition:
    """Apply to the copy the safe events after ``position``; returns where it got to."""
    for batch in event_log.iter_batches(position, batch_size):
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
        editor.delete_model(live)
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


def rebuild(
    projection: OrderSummaryProjection,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> RebuildResult:
    """Replay the whole log into a copy of the projection's table, then swap it in."""
    started = time.monotonic()
    result = RebuildResult(projection=projection.name)
    live = projection.model
    copy = shadow_model(live)
    connection = connections[router.db_for_write(live)]
    _drop(connection, copy)  # left over from an interrupted rebuild
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
        with streaming:
            result.events, result.rows = _fold_into(
                projection, copy, events, total, batch_size, progress, result
            )
        with connection.schema_editor() as editor:
            for index in live._meta.indexes:
                editor.add_index(copy, _temporary(index))
        position = _catch_up_copy(projection, copy, end, result, batch_size)

        with connection.constraint_checks_disabled(), transaction.atomic(using=connection.alias):
            checkpoint, _ = ProjectionCheckpoint.objects.select_for_update().get_or_create(
                name=projection.name
            )
            # Under the checkpoint lock no catch-up runner moves; apply the last events.
            position = _catch_up_copy(projection, copy, position, result, batch_size)
            _swap(connection, live, copy)
            checkpoint.transaction_id, checkpoint.position = position
            checkpoint.save(update_fields=["transaction_id", "position", "updated_at"])
            DeadLetter.objects.filter(projection=projection.name).delete()
            for event, error in result.failures:
                record_dead_letter(projection.name, event, error)
        result.checkpoint = position
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
    rows: list[Row] = []
    written = done = 0
    stream_id = row = None
    for event in events.order_by("stream_id", "version").iterator(chunk_size=batch_size):
        if event.stream_id != stream_id:
            if row is not None:
                rows.append(row)
                if len(rows) >= batch_size:
                    written += projection.write(rows, copy)
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
    written += projection.write(rows, copy)
    if progress:
        progress(done, total)
    return done, written
