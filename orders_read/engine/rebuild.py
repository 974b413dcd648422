"""Rebuild a projection from the whole event log with zero downtime.

The new rows are built in copies of every table the projection owns while the
dashboard keeps reading the old ones. On PostgreSQL a projection may offer a
set-based statement that folds the whole log in the server (one per range of streams,
run side by side, where each row is one stream's fold; the engine fills a ledger
beside it with every event folded, and builds the keys after the fill); should it
fail (an event it cannot read), or where there is none, the projection's ``fold``
replays the log into the copies (by default every event in log order through
``apply``; a projection can fold faster its own way, flat in memory at any log
size). The copies are then
caught up with the events committed meanwhile, and one transaction swaps the tables
and sets the checkpoint (``_swap_in`` says how no committed event is left out, even
one the inline path wrote to an old table). Interrupted at any point before that,
the copies are dropped and the old rows keep serving. One rebuild of a projection
runs at a time (``rebuild_lock``). Other projections are not touched: they keep
serving and following. Several projections rebuild side by side (``rebuild_each``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from django.apps.registry import Apps
from django.db import DatabaseError, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from orders_read.engine.catchup import DEFAULT_BATCH_SIZE, apply_batch, record_dead_letter
from orders_read.engine.ledger import AppliedEvents
from orders_read.engine.projection import SQL, AnyEvent, Projection, Tables
from orders_read.engine.rebuild_lock import rebuild_lock
from orders_read.engine.set_based import stream_ranges
from orders_read.models import DeadLetter, ProjectionCheckpoint
from orders_write import event_log
from orders_write.event_log import EventQuerySet, LogPosition
from orders_write.upcasting import stored_names

logger = logging.getLogger(__name__)

SHADOW_SUFFIX = "_rebuild"
INDEX_SUFFIX = "_rb"

# The database server's cores: a set-based fold whose rows are each one stream's is
# split into this many ranges of streams, folded side by side, and the copies' indexes
# are built this many at a time. Each range's statement scans the log again, so more
# ranges than cores only adds work.
SERVER_CORES = 2

# Called with (events done, events in total) as the fold goes.
Progress = Callable[[int, int], None]
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class RebuildResult:
    projection: str
    events: int = 0
    rows: int = 0
    caught_up: int = 0
    seconds: float = 0.0
    checkpoint: LogPosition = event_log.START
    failures: list[tuple[AnyEvent, Exception]] = field(default_factory=list)
    # "sql" (one set-based statement on PostgreSQL) or "python" (the projection's fold).
    method: str = ""


@dataclass
class Replay:
    """A fold from scratch: the events to fold, where to write them, where to report.

    What a projection's ``fold`` is given. ``events`` are the handled events up to the
    rebuild's end, in no particular order (``order_by`` the order the fold needs).
    """

    projection: Projection
    tables: Tables
    events: EventQuerySet
    total: int
    batch_size: int
    progress: Progress | None
    failures: list[tuple[AnyEvent, Exception]]
    done: int = 0

    def fail(self, event: AnyEvent, error: Exception) -> None:
        """Keep an event the fold could not apply: it is dead-lettered at the swap."""
        self.failures.append((event, error))

    def advance(self, count: int = 1) -> None:
        """Count events folded; progress is reported every ``batch_size`` of them."""
        before, self.done = self.done, self.done + count
        if self.progress and self.done // self.batch_size > before // self.batch_size:
            self.progress(self.done, self.total)

    def finish(self) -> None:
        if self.progress:
            self.progress(self.done, self.total)

    def through_apply(self) -> int:
        """The default fold: every event, in log order, through ``apply`` in batches."""
        written = 0
        ordered = self.events.order_by("transaction_id", "position")
        batch: list[AnyEvent] = []
        for event in event_log.records(ordered, chunk_size=self.batch_size):
            batch.append(event)
            if len(batch) >= self.batch_size:
                written += apply_batch(self.projection, batch, self.fail, self.tables)
                self.advance(len(batch))
                batch = []
        written += apply_batch(self.projection, batch, self.fail, self.tables)
        self.advance(len(batch))
        self.finish()
        return written


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


def _create_copies(connection: BaseDatabaseWrapper, tables: Tables) -> None:
    """Empty copies of the live tables, with their primary keys (any old ones dropped)."""
    for copy in tables.copies.values():
        _drop(connection, copy)
    with connection.schema_editor() as editor:
        for copy in tables.copies.values():
            editor.create_model(copy)


def _catch_up_copy(
    projection: Projection,
    tables: Tables,
    position: LogPosition,
    result: RebuildResult,
    batch_size: int,
    horizon: int | None = None,
    unseen_by: str | None = None,
) -> LogPosition:
    """Apply to the copies the events after ``position``; returns where it got to.

    ``horizon`` and ``unseen_by`` as in ``event_log.after``: the safe events by
    default, every committed one with ``MAX_BIGINT``.
    """
    for batch in event_log.iter_batches(position, batch_size, horizon, unseen_by):
        apply_batch(
            projection,
            batch,
            lambda event, error: result.failures.append((event, error)),
            tables,
        )
        result.caught_up += len(batch)
        position = event_log.position_of(batch[-1])
    return position


def _swap(connection: BaseDatabaseWrapper, tables: Tables) -> None:
    """Every copy takes its live table's place (inside the caller's transaction)."""
    for live, copy in tables.copies.items():
        _swap_table(connection, live, copy)


def _swap_table(
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


def _hold_off_inline_writes(connection: BaseDatabaseWrapper, tables: Tables) -> None:
    """Until this transaction ends, no inline write reads or writes the live tables.

    The inline path writes a row after its command has committed, so once the
    writes in flight have finished, every event behind a row in an old table is
    committed, and the copy can take it from the log. On PostgreSQL this is the
    ACCESS EXCLUSIVE lock the swap's DROP TABLE takes anyway, taken a moment
    earlier (readers wait a few milliseconds more). A writer waiting for the lock
    looks the table up by name again once it has it, so it reads and writes the new
    table. EXCLUSIVE would not do: it lets the inline path go on reading the old
    table, and a row read there carries its errors (the drift a rebuild repairs)
    into the new one. A write whose read came just before the lock can still do
    that, but its event has committed, so the copy already holds that version and
    the write's version guard (or the ledger) turns it away. On SQLite the
    transaction began IMMEDIATE (settings): it holds the write lock, and every
    writer waits.
    """
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        # In the order writes take them: a ledger first (``claim`` comes before anything
        # else), then the projection's ``models`` as listed.
        ordered = sorted(tables.copies, key=lambda model: not issubclass(model, AppliedEvents))
        live = ", ".join(quote(model._meta.db_table) for model in ordered)
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {live} IN ACCESS EXCLUSIVE MODE")


def _swap_in(
    projection: Projection,
    connection: BaseDatabaseWrapper,
    tables: Tables,
    position: LogPosition,
    result: RebuildResult,
    batch_size: int,
) -> LogPosition:
    """Apply the last events to the copies and swap them in, in one transaction.

    Returns the checkpoint set. On PostgreSQL the safe events (below the horizon)
    do not include an event that a later transaction committed while an older one
    is still open, though the inline path may already have written it to the old
    tables. So every committed event is applied too, whatever the horizon:
    projections are idempotent (a row's stream version, an aggregate's ledger), so
    catch-up applying these events again later changes nothing. The checkpoint
    stays at the last safe event, never past one that may still commit before it.

    Those events are applied before the tables are locked, as of a snapshot; under
    the lock (while dashboard reads wait), only the events that snapshot did not see,
    committed since. A transaction left open for an hour behind thousands of writes
    makes the swap no longer: the work under the lock is the last moments' writes.
    """
    seen = event_log.snapshot()
    if seen is not None:
        _catch_up_copy(projection, tables, position, result, batch_size, event_log.MAX_BIGINT)
    with connection.constraint_checks_disabled(), transaction.atomic(using=connection.alias):
        checkpoint, _ = ProjectionCheckpoint.objects.select_for_update().get_or_create(
            name=projection.name
        )
        # Under the checkpoint lock no catch-up runner moves; apply the last safe events.
        position = _catch_up_copy(projection, tables, position, result, batch_size)
        _hold_off_inline_writes(connection, tables)
        _catch_up_copy(projection, tables, position, result, batch_size, event_log.MAX_BIGINT, seen)
        _swap(connection, tables)
        checkpoint.transaction_id, checkpoint.position = position
        checkpoint.save(update_fields=["transaction_id", "position", "updated_at"])
        DeadLetter.objects.filter(projection=projection.name).delete()
        for event, error in result.failures:
            record_dead_letter(projection.name, event, error)
    return position


def rebuild(
    projection: Projection,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    set_based: bool = True,
) -> RebuildResult:
    """Replay the whole log into copies of the projection's tables, then swap them in.

    Raises ``RebuildInProgress`` if another rebuild of the projection is running.
    ``set_based=False`` folds in Python even on PostgreSQL.
    """
    connection = connections[router.db_for_write(projection.models[0])]
    with rebuild_lock(connection, projection.name):
        return _rebuild(projection, connection, batch_size, progress, set_based)


def rebuild_each(
    projections: Sequence[Projection],
    *,
    jobs: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress_of: Callable[[Projection], Progress] | None = None,
) -> Iterator[RebuildResult]:
    """Rebuild each projection, ``jobs`` of them at a time; their results in their order.

    A set-based rebuild spends its time in the server, one backend per statement, so
    projections rebuilt side by side, each on a connection of its own (a thread),
    use as many cores as there are projections. Each still runs under its own lock
    and swaps only its own tables, so nothing they do depends on the other. By
    default side by side where that holds (``side_by_side``), one at a time otherwise.
    A failure (``RebuildInProgress``) is raised when its turn comes, once every
    rebuild started has ended. ``progress_of(projection)`` gives the progress callback
    of each rebuild as it starts (called from its thread).
    """
    jobs = jobs or (len(projections) if side_by_side(projections) else 1)

    def one(projection: Projection) -> RebuildResult:
        progress = progress_of(projection) if progress_of else None
        return rebuild(projection, batch_size=batch_size, progress=progress)

    if jobs == 1:
        yield from map(one, projections)
    else:
        yield from _in_threads(one, projections, jobs)


def side_by_side(projections: Sequence[Projection]) -> bool:
    """Whether rebuilding ``projections`` in threads gains anything, and is safe.

    Only where their folds run in the server (``can_fold_in_sql``): Python folds in
    threads share one interpreter lock. Never inside a transaction: a thread's
    connection would not see its uncommitted rows, and would wait on its locks.
    """
    return len(projections) > 1 and all(
        can_fold_in_sql(connection) and not connection.in_atomic_block
        for connection in {
            connections[router.db_for_write(projection.models[0])] for projection in projections
        }
    )


def _rebuild(
    projection: Projection,
    connection: BaseDatabaseWrapper,
    batch_size: int,
    progress: Progress | None,
    set_based: bool,
) -> RebuildResult:
    """The rebuild itself, under the projection's rebuild lock."""
    started = time.monotonic()
    result = RebuildResult(projection=projection.name)
    tables = Tables({live: shadow_model(live) for live in projection.models})
    # Any left over from an interrupted rebuild: the lock says no other rebuild uses them.
    _create_copies(connection, tables)
    try:
        end = event_log.safe_end()
        events = event_log.up_to(end).filter(type__in=stored_names(projection.event_types))
        folded = None
        if set_based and can_fold_in_sql(connection):
            folded = _fold_in_sql(connection, projection, tables, end, events)
        if folded is not None:
            result.method = "sql"
            result.rows, result.events = folded
            if progress:
                progress(result.events, result.events)
        else:
            result.method = "python"
            replay = Replay(
                projection, tables, events, events.count(), batch_size, progress, result.failures
            )
            with _streaming(connection):
                result.rows = _fold_into(replay)
            result.events = replay.done
        _add_indexes(connection, tables)
        position = _catch_up_copy(projection, tables, end, result, batch_size)
        result.checkpoint = _swap_in(projection, connection, tables, position, result, batch_size)
    except BaseException:
        for copy in tables.copies.values():
            _drop(connection, copy)
        raise
    result.seconds = time.monotonic() - started
    return result


def can_fold_in_sql(connection: BaseDatabaseWrapper) -> bool:
    """Whether one SQL statement can read the log and write the copies: the same PostgreSQL."""
    return connection.vendor == "postgresql" and event_log.database().alias == connection.alias


def _streaming(connection: BaseDatabaseWrapper) -> contextlib.AbstractContextManager:
    """Where a Python fold runs: the log streamed, the copies written, each in one transaction.

    PostgreSQL streams a server-side cursor inside a transaction (outside one, it would
    materialize the whole result first), on the write database whichever database the
    copies are on. SQLite streams in autocommit (a transaction there would hold the
    write lock throughout).
    """
    stack = contextlib.ExitStack()
    for database in dict.fromkeys([event_log.database().alias, connection.alias]):
        if connections[database].vendor == "postgresql":
            stack.enter_context(transaction.atomic(using=database))
    return stack


def _add_indexes(connection: BaseDatabaseWrapper, tables: Tables) -> None:
    """The live tables' indexes on the copies, under temporary names.

    On PostgreSQL outside a transaction, ``SERVER_CORES`` builds at a time, each on a
    connection of its own and a core of its own: builds on one table do not lock each
    other out, and with every core busy, parallel workers would only add their
    coordination (the summaries' five at a million orders: 4.4 CPU-s without them,
    4.8 with the server's two each). One at a time, each takes the server's workers.
    """
    indexes = [
        (copy, _temporary(index))
        for live, copy in tables.copies.items()
        for index in live._meta.indexes
    ]
    if indexes and connection.vendor == "postgresql" and not connection.in_atomic_block:
        build = functools.partial(_add_index, connection.alias, workers=False)
        list(_in_threads(build, indexes, SERVER_CORES))
    else:
        list(map(functools.partial(_add_index, connection.alias), indexes))


def _add_index(
    alias: str, copy_and_index: tuple[type[models.Model], models.Index], workers: bool = True
) -> None:
    copy, index = copy_and_index
    connection = connections[alias]
    with connection.schema_editor() as editor:
        if connection.vendor == "postgresql":
            # Index builds sort in memory (the server's default is 64 MB).
            editor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            if not workers:
                editor.execute("SET LOCAL max_parallel_maintenance_workers = 0")
        editor.add_index(copy, index)


def _fold_into(replay: Replay) -> int:
    """The projection's fold from scratch into the copies; returns rows written."""
    return replay.projection.fold(replay)


def _fold_in_sql(
    connection: BaseDatabaseWrapper,
    projection: Projection,
    tables: Tables,
    end: LogPosition,
    events: EventQuerySet,
) -> tuple[int, int] | None:
    """Fold the log up to ``end`` into the copies in the server: (rows written, events
    folded), or None if it cannot.

    The projection's statements fill its own tables (one per range of streams where
    its rows split that way); a ledger among them is filled beside them with
    ``events`` (every handled event up to ``end``), which is exactly what the Python
    fold's ``claim`` records once all of them have been applied. The statements
    either fold every one of those events or one fails: then the copies are made
    again, empty, for the Python fold, so the two never disagree.

    How many events that is, the ledger fill says (a row each); a projection without a
    ledger counts them beside its folds, not before them: a count reads the whole log
    (0.45 s at a million orders), and nothing else started until it had.
    """
    folds = _fold_statements(connection, projection, tables, end)
    if folds is None:
        return None
    fills = _ledger_fills(connection, tables, events)
    counts = [] if fills else [_count_statement(events)]
    try:
        with _keys_built_after(connection, tables):
            written = _run_side_by_side(connection, [*folds, *fills, *counts])
    except DatabaseError as error:
        logger.warning("Set-based rebuild failed (%r); folding in Python instead", error)
        _create_copies(connection, tables)
        return None
    return sum(written[: len(folds)]), written[len(folds)]


def _count_statement(events: EventQuerySet) -> SQL:
    """``SELECT count(*)`` of ``events``, as a statement to run beside the folds."""
    select, params = events.values("pk").order_by().query.sql_with_params()
    return f"SELECT count(*) FROM ({select}) events", params


def _fold_statements(
    connection: BaseDatabaseWrapper, projection: Projection, tables: Tables, end: LogPosition
) -> list[SQL] | None:
    """The projection's set-based statements: one per range of streams (``SERVER_CORES``)
    where each row is one stream's fold, else one; None where it has none."""
    if not projection.rows_per_stream:
        statement = projection.set_based_rebuild(connection, tables, end)
        return None if statement is None else [statement]
    statements = [
        projection.set_based_rebuild(connection, tables, end, streams)
        for streams in stream_ranges(SERVER_CORES)
    ]
    return None if None in statements else statements


def _ledger_fills(
    connection: BaseDatabaseWrapper, tables: Tables, events: EventQuerySet
) -> list[SQL]:
    """``INSERT … SELECT`` of ``events`` as applied into every ledger copy."""
    quote = connection.ops.quote_name
    select, params = events.values_list("event_id").order_by().query.sql_with_params()
    return [
        (f"INSERT INTO {quote(copy._meta.db_table)} ({quote('event_id')}) {select}", params)
        for live, copy in tables.copies.items()
        if issubclass(live, AppliedEvents)
    ]


def _run_side_by_side(connection: BaseDatabaseWrapper, statements: list[SQL]) -> list[int]:
    """Run each statement in a transaction of its own; the rows each wrote.

    Side by side, one connection (one server core) each, where the copies are
    committed; inside a transaction, whose uncommitted copies no other connection
    sees, one after the other. A failure is raised once every statement has ended.
    """
    run = functools.partial(_execute, connection.alias)
    if connection.in_atomic_block:
        return list(map(run, statements))
    return list(_in_threads(run, statements))


def _execute(alias: str, statement: SQL) -> int:
    """One statement of a set-based fold, in a transaction: the rows it wrote, or the
    value a count (a SELECT) read."""
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        # Sorts and hashes in memory: a fold reads the whole log once.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # No JIT (as catch-up's ranges): the statements' estimated cost grows with the log
        # (100,000-120,000 at 200,000 orders), past jit_optimize_above_cost at a million,
        # where optimizing and inlining one took ~0.25 s; compiled, they ran no faster.
        cursor.execute("SET LOCAL jit = off")
        # One core each: the statements beside it use the others. (Writes never run in
        # parallel on PostgreSQL 15; this keeps a count from taking workers.)
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cursor.execute(*statement)
        return cursor.fetchone()[0] if cursor.description else cursor.rowcount


def _in_threads(
    function: Callable[[T], R], items: Sequence[T], workers: int | None = None
) -> Iterator[R]:
    """``map(function, items)`` in ``workers`` threads (one per item by default), each
    with database connections of its own."""

    def in_thread(item: T) -> R:
        try:
            return function(item)
        finally:
            connections.close_all()  # this thread's own connections

    with ThreadPoolExecutor(
        max_workers=workers or len(items), thread_name_prefix="rebuild"
    ) as pool:
        yield from pool.map(in_thread, items)


@contextlib.contextmanager
def _keys_built_after(connection: BaseDatabaseWrapper, tables: Tables) -> Iterator[None]:
    """The copies' primary keys dropped while the block fills them, then built again.

    One index build over the filled table sorts once; inserting each row into the
    index as it comes costs almost twice that for a ledger's random event ids. A
    duplicate key fails the build; a failure in the block leaves the keys dropped
    (the caller makes the copies again).
    """
    quote = connection.ops.quote_name
    keys = {}
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for copy in tables.copies.values():
            table = copy._meta.db_table
            constraints = connection.introspection.get_constraints(cursor, table)
            name = next(name for name, info in constraints.items() if info["primary_key"])
            keys[table] = (name, copy._meta.pk.column)
            cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
    yield
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for table, (name, column) in keys.items():
            cursor.execute(
                f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} "
                f"PRIMARY KEY ({quote(column)})"
            )
