"""The inline path: committed events into every projection, right after their COMMIT.

Connected to ``orders_write.signals.events_committed`` in ``AppConfig.ready``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction

from common import tracing
from common.availability import DATABASE_UNAVAILABLE
from orders_read.engine import registry
from orders_read.engine.ledger import AppliedEvents
from orders_read.engine.projection import SQL, AnyEvent, Projection
from orders_read.engine.reflected import advance_over_reflected

logger = logging.getLogger(__name__)


# How often, at most, the inline path of one process moves a projection's checkpoint.
# The lag is exact without any move (the status asks the projection what it reflects);
# moving only keeps the window the status reads short, and costs a transaction of a few
# queries: once a second bounds the window to a second of writes per process, where
# once per command would add that transaction to every command.
ADVANCE_EVERY_SECONDS = 1.0
_last_advance: dict[str, float] = {}


# The inline projection's transaction commits without waiting for its write-ahead log to
# reach the disk (PostgreSQL's ``synchronous_commit``, for that transaction alone), unless
# ``settings.ORDERS_INLINE_SYNCHRONOUS_COMMIT``. Its rows are a head start on catch-up,
# never the only copy of anything: the events they come from committed durably first.
# A crash of the read database within the moment before the write-ahead log writer
# flushes can take the last of them back (as a process dying after a command's COMMIT
# loses its inline projection altogether), and catch-up applies those events again from
# the log: the checkpoint never passes a row that was lost, because the transaction
# that moves it waits for the disk, and with it for every commit before its own. What
# it saves is the command's second wait for the disk, after its own COMMIT's.
ASYNCHRONOUS_COMMIT = "SET LOCAL synchronous_commit = off"


def _time_to_advance(projection: Projection) -> bool:
    now = time.monotonic()
    if now - _last_advance.get(projection.name, -ADVANCE_EVERY_SECONDS) < ADVANCE_EVERY_SECONDS:
        return False
    _last_advance[projection.name] = now  # threads racing here both advance: harmless
    return True


def project_committed_events(sender: Any, events: Sequence[AnyEvent], **kwargs: Any) -> None:
    """Project events right after their command commits (the inline path).

    The projections that write to one database apply the events in one transaction
    (``_project``). Then, at most once a second, each projection's checkpoint moves
    over the events it now reflects, so the window the status reads stays short
    (``reflected``). A failure is logged and left for catch-up from the event log:
    the command has committed and must not turn into an error.
    """
    if not settings.ORDERS_INLINE_PROJECTION:
        return
    by_database: dict[str, list[Projection]] = defaultdict(list)
    for projection in sorted(registry.projections(), key=_adds_up_streams):
        by_database[_database(projection)].append(projection)
    for database, projections in by_database.items():
        for projection in _project(database, projections, events):
            if not _time_to_advance(projection):
                continue
            try:
                advance_over_reflected(projection)
            except Exception:
                logger.exception("Projection %s: could not move its checkpoint", projection.name)


def _project(
    database: str, projections: list[Projection], events: Sequence[AnyEvent]
) -> list[Projection]:
    """Apply ``events`` to ``projections`` (all writing to ``database``); those that succeeded.

    Together, in one transaction: one COMMIT for all of them instead of one each; on
    PostgreSQL, where they can, as one query (``_in_one_query``), and committed without
    waiting for the disk (``ASYNCHRONOUS_COMMIT``).
    Each projection keeps its own idempotency (stream versions, ledger) inside it.
    Should any of them fail, the transaction rolls back whole and each is applied
    alone: the failure of one loses nothing of the others and blocks none of them, and
    the one that fails is logged; unless the database cannot be reached at all (then
    none is, and catch-up will).
    """
    if len(projections) > 1:
        try:
            if not _in_one_query(database, projections, events):
                with transaction.atomic(using=database):
                    _commit_asynchronously(database)
                    for projection in projections:
                        _traced_apply(projection, events, in_transaction=True)
        except Exception as error:
            if _unreachable(database, error):
                # Each projection alone would wait out the same connection timeout
                # again, on every command, for as long as the database is down.
                logger.exception(
                    "Read database %s unavailable; catch-up will apply events %s",
                    database,
                    [event.position for event in events],
                )
                return []
            # Else applied one by one below, where a failure is told apart and logged.
        else:
            return projections
    return [projection for projection in projections if _apply_alone(projection, events)]


def _in_one_query(database: str, projections: list[Projection], events: Sequence[AnyEvent]) -> bool:
    """Apply the events as one query of every projection's statements, if each has them.

    PostgreSQL runs a query of several statements (the simple query protocol, which
    Django's client-side binding uses) as one transaction: what the atomic block gives,
    in one round trip instead of four or more (BEGIN, a statement per projection,
    COMMIT). On a busy machine each round trip waits for the scheduler twice, and those
    waits were most of what the read model added to a command. Only outside a
    transaction (the statements would join it and not be one of their own), and only if
    every projection says its statements (``Projection.inline_statements``): False,
    having sent nothing, otherwise.
    """
    connection = connections[database]
    if connection.vendor != "postgresql" or not connection.get_autocommit():
        return False
    statements: list[SQL] = []
    applied = []
    for projection in projections:
        handled = projection.handled(events)
        if not handled:
            continue
        own = projection.inline_statements(connection, handled)
        if own is None:
            return False
        statements += own
        applied.append(projection.name)
    if statements:
        if not settings.ORDERS_INLINE_SYNCHRONOUS_COMMIT:
            statements.insert(0, (ASYNCHRONOUS_COMMIT, None))
        query = "; ".join(connection.ops.compose_sql(sql, params) for sql, params in statements)
        with (
            tracing.span(
                f"project {', '.join(applied)}", links=(event.metadata for event in events)
            ),
            connection.cursor() as cursor,
        ):
            cursor.execute(query)
    return True


def _commit_asynchronously(database: str) -> None:
    """The transaction open on ``database`` commits without waiting for the disk
    (``ASYNCHRONOUS_COMMIT``), on PostgreSQL, unless the settings say otherwise."""
    connection = connections[database]
    if connection.vendor == "postgresql" and not settings.ORDERS_INLINE_SYNCHRONOUS_COMMIT:
        with connection.cursor() as cursor:
            cursor.execute(ASYNCHRONOUS_COMMIT)


def _unreachable(database: str, error: Exception) -> bool:
    """Whether ``error`` means ``database`` cannot be reached, not that a statement failed
    (SQLite, say, raises the same ``OperationalError`` for a missing table)."""
    connection = connections[database]
    return isinstance(error, DATABASE_UNAVAILABLE) and (
        connection.connection is None or not connection.is_usable()
    )


def _adds_up_streams(projection: Projection) -> bool:
    """Whether the projection's rows add up many streams (a day's sales): it has a ledger.

    Such rows are shared by every command of their day, so in the inline path's one
    transaction these projections come last: their row locks are held from their own
    statement to the COMMIT, not across the other projections' statements too (nor
    while another one waits, say, for a rebuild's swap of its table).
    """
    return any(issubclass(model, AppliedEvents) for model in projection.models)


def _apply_alone(projection: Projection, events: Sequence[AnyEvent]) -> bool:
    try:
        _traced_apply(projection, events)
    except Exception:
        logger.exception(
            "Projection %s failed on events %s; catch-up will retry them",
            projection.name,
            [event.position for event in events],
        )
        return False
    return True


def _traced_apply(
    projection: Projection, events: Sequence[AnyEvent], *, in_transaction: bool = False
) -> int:
    with tracing.span(f"project {projection.name}", links=(event.metadata for event in events)):
        return _apply(projection, events, in_transaction=in_transaction)


def apply_events(events: Iterable[AnyEvent]) -> int:
    """Apply events to every projection, failures raised; returns rows written."""
    events = list(events)
    return sum(_apply(projection, events) for projection in registry.projections())


def _apply(
    projection: Projection, events: Iterable[AnyEvent], *, in_transaction: bool = False
) -> int:
    """Apply the events ``projection`` handles: in a transaction of its own if it needs
    one (``atomic_inline``), unless ``in_transaction`` says the caller opened one."""
    handled = projection.handled(events)
    if not handled:
        return 0
    if in_transaction or not projection.atomic_inline:
        return projection.apply(handled)
    with transaction.atomic(using=_database(projection)):
        return projection.apply(handled)


def _database(projection: Projection) -> str:
    return router.db_for_write(projection.models[0])
