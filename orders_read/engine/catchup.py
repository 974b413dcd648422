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
the others. A lost database session is no event's fault: it ends the pass, and the
batch is applied again once the caller has reconnected.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
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


def get_checkpoint(name: str) -> LogPosition:
    checkpoint = ProjectionCheckpoint.objects.filter(name=name).first()
    if checkpoint is None:
        return event_log.START
    return LogPosition(checkpoint.transaction_id, checkpoint.position)


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
    result = PassResult(projection=projection.name)
    retry_dead_letters(projection, result)
    ProjectionCheckpoint.objects.get_or_create(name=projection.name)
    horizon = event_log.safe_horizon()

    def dead_letter(event: AnyEvent, error: Exception) -> None:
        record_dead_letter(projection.name, event, error)
        result.dead_lettered += 1

    database = read_database()
    while True:
        position = get_checkpoint(projection.name)
        batch = list(event_log.records(event_log.after(position, horizon)[:batch_size]))
        if not batch:
            result.checkpoint = position
            return result
        last = event_log.position_of(batch[-1])
        with (
            transaction.atomic(using=database.alias),
            tracing.span(
                f"catch up {projection.name}",
                links=event_log.metadata_of(batch) if tracing.active() else (),
                attributes={"orders.events": len(batch)},
            ),
        ):
            if not move_checkpoint(projection.name, position, last):
                # Another applier took this batch: read on from where it got to.
                continue
            result.rows_written += apply_batch(projection, batch, dead_letter)
        result.events += len(batch)
        result.checkpoint = last


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
    return [
        catch_up(registry.get(name), batch_size=batch_size) for name in names or registry.names()
    ]
