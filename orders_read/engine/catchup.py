"""Catch-up: projections read the event log after their checkpoint, in batches.

The log is read from the write database; rows and checkpoints live in the read
database (the same one unless ``READ_DATABASE_URL`` is set). Each batch is applied
and the checkpoint moved in one transaction there, so a crash anywhere leaves rows
and checkpoint agreeing. The checkpoint moves by compare-and-set on the position the
batch was read after, first thing in that transaction: of two appliers that read the
same checkpoint (two followers that both believe they hold the lock, a follower and
a manual ``catch_up_projections``), the second waits on the first's row lock, finds
the checkpoint moved, rolls back and reads on from the new one. A batch is applied
once whatever locks the callers think they hold. An event a projection cannot apply is
recorded as a dead letter and the others go on; dead letters are retried at the
start of every pass, and a retry that succeeds re-projects the event's whole
stream, so later events of that order that depended on it are applied too.
Each projection is given only the event types it handles; its checkpoint moves past
the others. Projections caught up together share each read of the log
(``catch_up_together``); a large backlog is applied in ranges in SQL where a
projection can (``apply_ranges``), each projection's ranges in a thread of its own
(``apply_ranges_side_by_side``). A lost database session is no event's fault: it
ends the pass, and the batch is applied again once the caller has reconnected.
"""

from __future__ import annotations

import contextvars
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F
from django.utils import timezone

from common import tracing
from orders_read.engine import registry
from orders_read.engine.projection import LIVE, AnyEvent, Projection, Tables
from orders_read.models import DeadLetter, ProjectionCheckpoint
from orders_write import event_log
from orders_write.event_log import LogPosition

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 5000
# A projection this many events or more behind applies ranges of the log of this size
# in SQL, when it can (``Projection.range_statements``).
RANGE_SIZE = 50_000
# How a range's statements are planned (for its transaction only). A range is a slice of
# the log, read by its (transaction id, position) index, and rows looked up by key:
# - no JIT: per-order index lookups make the planner's estimates big enough to compile
#   the statements, which costs more than running them;
# - no sequential scan where an index serves: the planner estimates the two row
#   comparisons that bound a range each on its own, so a range in the middle of the log
#   looks like a large share of it (at a million orders, 257,000 events for 50,000), and
#   it read the whole log instead, twice in order_summary's status statement: 0.7 s of
#   each 1.2 s range.
RANGE_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL enable_seqscan = off")

# Called with (event, exception) for an event a projection could not apply.
OnFailure = Callable[[AnyEvent, Exception], None]


@dataclass
class PassResult:
    projection: str
    events: int = 0
    rows_written: int = 0
    dead_lettered: int = 0
    retried: int = 0
    recovered: int = 0
    checkpoint: LogPosition = event_log.START


def read_database() -> BaseDatabaseWrapper:
    """The connection to the database that holds the read model and its checkpoints."""
    return connections[router.db_for_write(ProjectionCheckpoint)]


# Read by every status and stats request (the "as of" of ``/stats/…``, ``/health``):
# written out, as the command handlers' statements are, since compiling the same
# one-row query through the ORM on every call cost more CPU than running it.
_CHECKPOINTS = ProjectionCheckpoint._meta.db_table
CHECKPOINT_SQL = f'SELECT "transaction_id", "position" FROM "{_CHECKPOINTS}" WHERE "name" = %s'


def get_checkpoint(name: str) -> LogPosition:
    """Where ``name``'s checkpoint stands (the log's start if it has none yet)."""
    connection = connections[router.db_for_read(ProjectionCheckpoint)]
    with connection.cursor() as cursor:
        cursor.execute(CHECKPOINT_SQL, [name])
        row = cursor.fetchone()
    return event_log.START if row is None else LogPosition(*row)


def record_dead_letter(projection: str, event: AnyEvent, error: Exception) -> None:
    now = timezone.now()
    logger.error(
        "Projection %s cannot apply event %s (%s v%s of %s): %r",
        projection,
        event.position,
        event.type,
        event.version,
        event.stream_id,
        error,
    )
    updated = DeadLetter.objects.filter(projection=projection, position=event.position).update(
        attempts=F("attempts") + 1, error=repr(error), last_failed_at=now
    )
    if not updated:
        DeadLetter.objects.create(
            projection=projection,
            position=event.position,
            event_id=event.event_id,
            stream_id=event.stream_id,
            event_type=event.type,
            error=repr(error),
            first_failed_at=now,
            last_failed_at=now,
        )


def current_session(connection: BaseDatabaseWrapper | None = None) -> object:
    """The open session of ``connection`` (the read database's by default), opened if
    need be, to ask ``session_lost`` about."""
    connection = connection or read_database()
    connection.ensure_connection()
    return connection.connection


def session_lost(session: object, connection: BaseDatabaseWrapper | None = None) -> bool:
    """Whether ``session`` is gone (a restart, a failover, a terminated backend).

    Asked after a failure: then no event is at fault, and dead-lettering would blame
    healthy events, on a session that no longer holds what the caller took (a
    follower's lock). Django may already have replaced it (an outermost atomic block
    reconnects when its rollback fails), hence "the same connection, still usable"
    rather than the error's class: an ``OperationalError`` can also be an event's own
    (a value over an index's size limit). ``connection``: the read database's by default.
    """
    connection = connection or read_database()
    return connection.connection is not session or not connection.is_usable()


def apply_batch(
    projection: Projection,
    events: Sequence[AnyEvent],
    on_failure: OnFailure,
    tables: Tables = LIVE,
) -> int:
    """Apply a batch; if it fails, apply event by event so one poison event stops nothing.

    A lost session is raised as is: nothing of the batch is applied, nothing dead-lettered.
    """
    events = projection.handled(events)
    if not events:
        return 0
    database = read_database()
    session = current_session(database)
    try:
        with transaction.atomic(using=database.alias):
            return projection.apply(events, tables)
    except Exception:
        if session_lost(session, database):
            raise
        # Slower, but a poison event is isolated and the rest still applies.
        logger.warning(
            "Batch of %d events failed in %s; applying them one by one",
            len(events),
            projection.name,
            exc_info=True,
        )
        written = 0
        for event in events:
            try:
                with transaction.atomic(using=database.alias):
                    written += projection.apply([event], tables)
            except Exception as error:
                on_failure(event, error)
        return written


def retry_dead_letters(projection: Projection, result: PassResult) -> None:
    """Re-project the stream of each dead letter; clear the ones that now apply."""
    by_stream: dict[object, list[DeadLetter]] = defaultdict(list)
    for letter in DeadLetter.objects.filter(projection=projection.name):
        by_stream[letter.stream_id].append(letter)
    database = read_database()
    for stream_id, letters in by_stream.items():
        result.retried += len(letters)
        session = current_session(database)
        try:
            with transaction.atomic(using=database.alias):
                events = event_log.records(event_log.stream(stream_id))
                projection.apply(projection.handled(events))
                DeadLetter.objects.filter(pk__in=[letter.pk for letter in letters]).delete()
            result.recovered += len(letters)
        except Exception as error:
            if session_lost(session, database):
                raise
            logger.warning(
                "Dead letters of stream %s still fail in %s: %r", stream_id, projection.name, error
            )
            DeadLetter.objects.filter(pk__in=[letter.pk for letter in letters]).update(
                attempts=F("attempts") + 1, error=repr(error), last_failed_at=timezone.now()
            )


def catch_up(projection: Projection, *, batch_size: int = DEFAULT_BATCH_SIZE) -> PassResult:
    """One pass: retry dead letters, then apply every safe event after the checkpoint."""
    return catch_up_together([projection], batch_size=batch_size)[0]


def catch_up_together(
    projections: Sequence[Projection], *, batch_size: int = DEFAULT_BATCH_SIZE
) -> list[PassResult]:
    """One pass of each of ``projections``, reading each batch of the log once for all.

    Reading and decoding the log is most of what catch-up costs, and projections
    usually sit at the same checkpoint (a rebuild, a fresh read model, a follower
    of all of them): reading the log once per projection paid that cost again for
    each. So each batch is read after the checkpoint furthest behind, with one
    horizon for the whole pass, and each projection is given the part of it after
    its own checkpoint: exactly what a read after that checkpoint with the same
    horizon returns first. Each projection then applies its part in its own
    transaction, which moves its own checkpoint by compare-and-set, as alone.
    """
    results = {
        projection.name: PassResult(projection=projection.name) for projection in projections
    }
    for projection in projections:
        retry_dead_letters(projection, results[projection.name])
        ProjectionCheckpoint.objects.get_or_create(name=projection.name)
    horizon = event_log.safe_horizon()
    apply_ranges_side_by_side(projections, horizon, results)
    while True:
        checkpoints = checkpoints_of(results)
        start = min(checkpoints.values())
        batch = list(event_log.records(event_log.after(start, horizon)[:batch_size]))
        if not batch:
            for name, result in results.items():
                result.checkpoint = checkpoints[name]
            return list(results.values())
        last = event_log.position_of(batch[-1])
        for projection in projections:
            position = checkpoints[projection.name]
            if position >= last:
                continue  # ahead of this batch: another applier got there
            events = (
                batch
                if position == start
                else [event for event in batch if event_log.position_of(event) > position]
            )
            apply_after(projection, position, last, events, results[projection.name])


def checkpoints_of(results: dict[str, PassResult]) -> dict[str, LogPosition]:
    """The checkpoint of each named projection, in one query."""
    rows = ProjectionCheckpoint.objects.filter(name__in=list(results)).values_list(
        "name", "transaction_id", "position"
    )
    found = {name: LogPosition(transaction_id, position) for name, transaction_id, position in rows}
    return {name: found.get(name, event_log.START) for name in results}


def apply_after(
    projection: Projection,
    position: LogPosition,
    last: LogPosition,
    events: list[AnyEvent],
    result: PassResult,
) -> None:
    """Apply ``events`` (the log after ``position`` up to ``last``) and move the
    checkpoint there, in one transaction; nothing if another applier moved it first."""

    def dead_letter(event: AnyEvent, error: Exception) -> None:
        record_dead_letter(projection.name, event, error)
        result.dead_lettered += 1

    database = read_database()
    with (
        transaction.atomic(using=database.alias),
        tracing.span(
            f"catch up {projection.name}",
            links=event_log.metadata_of(events) if tracing.active() else (),
            attributes={"orders.events": len(events)},
        ),
    ):
        if not move_checkpoint(projection.name, position, last):
            # Another applier took this batch: the next read starts where it got to.
            return
        result.rows_written += apply_batch(projection, events, dead_letter)
    result.events += len(events)
    result.checkpoint = last


def apply_ranges_side_by_side(
    projections: Sequence[Projection], horizon: int | None, results: dict[str, PassResult]
) -> None:
    """Each projection's ranges (``apply_ranges``), in a thread each when one is due.

    A range is server time, one backend per statement, and a pass applied the
    projections' ranges one after the other: a large backlog took the sum of their
    times. Their ranges write disjoint tables and move their own checkpoints, each by
    compare-and-set in its own transaction, so nothing one does waits on or depends on
    another; each on a connection of its own (a thread), a pass takes about the
    longest of them. Threads only when a range is due (``ranges_due``): a follower's
    pass, a few events behind, opens no connection. A lost session in a thread is
    raised here, once every thread has ended.
    """
    if not ranges_due(projections, horizon, results):
        for projection in projections:
            apply_ranges(projection, horizon, results[projection.name])
        return

    def in_thread(projection: Projection) -> None:
        try:
            apply_ranges(projection, horizon, results[projection.name])
        finally:
            connections.close_all()  # this thread's own connections

    with ThreadPoolExecutor(max_workers=len(projections), thread_name_prefix="catch-up") as pool:
        # A context each (one cannot be entered by two threads): their spans nest in the pass's.
        running = [
            pool.submit(contextvars.copy_context().run, in_thread, projection)
            for projection in projections
        ]
        for future in running:
            future.result()


def ranges_due(
    projections: Sequence[Projection], horizon: int | None, results: dict[str, PassResult]
) -> bool:
    """Whether two or more projections may have a range to apply in this pass: ranges run
    here (``ranges_run_in``), a range follows the checkpoint furthest behind
    (``next_range``), and no transaction is open (a thread's connection would not see
    its uncommitted rows, and would wait on its locks)."""
    database = read_database()
    if len(projections) < 2 or not ranges_run_in(database) or database.in_atomic_block:
        return False
    return next_range(min(checkpoints_of(results).values()), horizon) is not None


def ranges_run_in(database: BaseDatabaseWrapper) -> bool:
    """Whether ranges can be applied in SQL in ``database``: PostgreSQL, holding the log."""
    return database.vendor == "postgresql" and database.alias == event_log.database().alias


def apply_ranges(projection: Projection, horizon: int | None, result: PassResult) -> None:
    """While ``RANGE_SIZE`` safe events or more follow the checkpoint, apply them in SQL.

    A large backlog (a fresh read model, a follower back after hours) spent most of its
    time moving every event through Python: reading, decoding, folding, writing back.
    A projection that can say in SQL what a range of the log does to its tables
    (``range_statements``) has it done where the events already are, with nothing
    read out; that needs the log and its tables in one database (not the split
    topology, where the batches carry the events across). The range ends at an event
    of the log below ``horizon``, so the no-gap rule holds as for a batch, and the
    checkpoint moves by compare-and-set in the same transaction. A range whose
    statements fail is rolled back whole, and the pass goes on in batches through
    ``apply``, which isolates and dead-letters the event at fault. A range holds the
    locks of the rows it writes until it commits (a second or two), as a batch does
    for its own rows: an inline write to one of them waits that long.
    """
    database = read_database()
    if not ranges_run_in(database):
        return
    while True:
        position = get_checkpoint(projection.name)
        found = next_range(position, horizon)
        if found is None:
            return
        end, size = found
        statements = projection.range_statements(database, position, end)
        if statements is None:
            return
        session = current_session(database)
        try:
            with (
                transaction.atomic(using=database.alias),
                tracing.span(
                    f"catch up {projection.name} in SQL",
                    attributes={"orders.events": size},
                ),
            ):
                if not move_checkpoint(projection.name, position, end):
                    continue  # another applier took this range: read on from its checkpoint
                with database.cursor() as cursor:
                    for setting in RANGE_SETTINGS:
                        cursor.execute(setting)
                    for sql, params in statements:
                        cursor.execute(sql, params)
                        result.rows_written += max(cursor.rowcount, 0)
        except Exception:
            if session_lost(session, database):
                raise
            logger.warning(
                "Range %s to %s failed in %s; applying it in batches",
                position,
                end,
                projection.name,
                exc_info=True,
            )
            return
        result.events += size
        result.checkpoint = end


def next_range(position: LogPosition, horizon: int | None) -> tuple[LogPosition, int] | None:
    """Where the next range after ``position`` ends, and how many events it holds.

    ``RANGE_SIZE`` events; all the safe events that follow when fewer than two ranges'
    worth do (a tail left to batches would cost more than the ranges before it); None
    when fewer than ``RANGE_SIZE`` follow.
    """
    events = event_log.after(position, horizon).values_list("transaction_id", "position")

    def nth(count: int) -> LogPosition | None:
        found = next(iter(events[count - 1 : count]), None)
        return LogPosition(*found) if found else None

    if nth(2 * RANGE_SIZE) is not None:
        return nth(RANGE_SIZE), RANGE_SIZE
    count = events.count()
    return (nth(count), count) if count >= RANGE_SIZE else None


def move_checkpoint(name: str, expected: LogPosition, new: LogPosition) -> bool:
    """Move the checkpoint from ``expected`` to ``new``; False if it is not at ``expected``.

    Call it first in the transaction that applies the events up to ``new``: the update
    holds the checkpoint's row lock until that transaction ends, so a concurrent
    applier of the same batch waits here and, once this one commits, finds the
    checkpoint moved (PostgreSQL re-checks the condition on the updated row). Should
    this one roll back, the other moves it and applies the batch instead.
    """
    moved = ProjectionCheckpoint.objects.filter(
        name=name, transaction_id=expected.transaction_id, position=expected.position
    ).update(transaction_id=new.transaction_id, position=new.position, updated_at=timezone.now())
    return moved == 1


def catch_up_all(
    names: Sequence[str] | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> list[PassResult]:
    """One pass of each named projection (default: every registered one)."""
    projections = [registry.get(name) for name in names or registry.names()]
    return catch_up_together(projections, batch_size=batch_size)
