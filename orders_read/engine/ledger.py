"""Exactly once for projections whose rows are not one per stream: a ledger of applied events.

A row that mirrors one stream (an order's summary) can carry the stream version it
reflects, and a write guarded by that version is idempotent. A row that adds up many
streams (orders per customer, sales per day) cannot: it must record which events it
has counted. Recording the highest version applied per stream is not enough, because
events of one stream do not always arrive in version order: the inline path can fail
on one command's events and succeed on the next command's, and the log's
(transaction id, position) order can put a stream's later event first. A maximum
would then skip the earlier event for good. So the ledger records each applied
event's id, and a projection counts exactly the events ``claim`` gives back.

``claim`` is one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` into the ledger, in the
transaction that writes the projection's rows:

- Two appliers of the same event under READ COMMITTED (the inline path and catch-up):
  the second one's insert waits on the first one's uncommitted row. If the first
  commits, the second's insert does nothing and returns nothing: it does not count the
  event. If the first rolls back (its rows with it), the second inserts and counts it.
- Two appliers with overlapping batches insert in event-id order, so each waits on
  the other in the same direction and they cannot deadlock on the ledger (write the
  projection's own rows in key order too).
- SQLite serializes writers: the insert runs under the write lock.
- A replay (catch-up from an earlier checkpoint, a dead letter's stream re-projected)
  finds its events in the ledger and counts none of them.

The ledger is a table the projection owns (a subclass of ``AppliedEvents`` listed in its
``models``): a rebuild fills a fresh copy beside the projection's other tables and swaps
them together, so the counts and the ledger never disagree. It grows by one row per
event applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper

if TYPE_CHECKING:
    # For annotations only: the projection module imports this one.
    from orders_read.engine.projection import AnyEvent

# SQLite has no arrays: one VALUES statement per this many events.
SQLITE_CHUNK = 500


class AppliedEvents(models.Model):
    """Subclass per projection: the events it has applied (see ``claim``)."""

    event_id = models.UUIDField(primary_key=True)

    class Meta:
        abstract = True


def claim(ledger: type[AppliedEvents], events: Sequence[AnyEvent]) -> list[AnyEvent]:
    """Record ``events`` as applied; returns, in their order, those not recorded before.

    Call it inside the transaction that applies the returned events.
    """
    if not events:
        return []
    connection = connections[router.db_for_write(ledger)]
    quote = connection.ops.quote_name
    insert = f"INSERT INTO {quote(ledger._meta.db_table)} ({quote('event_id')}) "
    returning = f" ON CONFLICT DO NOTHING RETURNING {quote('event_id')}"
    field = ledger._meta.pk
    ids = claim_ids(events)
    claimed = set()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(claim_statement(ledger, connection), [ids])
            claimed.update(row[0] for row in cursor.fetchall())
        else:
            for start in range(0, len(ids), SQLITE_CHUNK):
                chunk = ids[start : start + SQLITE_CHUNK]
                values = ", ".join(["(%s)"] * len(chunk))
                prepared = [field.get_db_prep_value(id_, connection) for id_ in chunk]
                cursor.execute(insert + f"VALUES {values}" + returning, prepared)
                claimed.update(field.to_python(row[0]) for row in cursor.fetchall())
    fresh = []
    for event in events:
        if event.event_id in claimed:
            claimed.discard(event.event_id)  # an event given twice is still applied once
            fresh.append(event)
    return fresh


def claim_ids(events: Sequence[AnyEvent]) -> list[UUID]:
    """The ids ``claim_statement`` takes: each event's once, in id order (no deadlock)."""
    return sorted({event.event_id for event in events})


def claim_statement(ledger: type[AppliedEvents], connection: BaseDatabaseWrapper) -> str:
    """``claim`` as one PostgreSQL statement: ``claim_ids`` as its one ``uuid[]`` parameter.

    It returns the ids it claimed. A projection whose write is one statement can put it
    in a ``WITH`` and count only what it returns, so the claim and the counts are one
    statement, atomic without a transaction around them (``Projection.atomic_inline``).
    """
    quote = connection.ops.quote_name
    return (
        f"INSERT INTO {quote(ledger._meta.db_table)} ({quote('event_id')}) "
        f"SELECT unnest(%s::uuid[]) ORDER BY 1 ON CONFLICT DO NOTHING RETURNING {quote('event_id')}"
    )


def unclaimed(ledger: type[AppliedEvents], events: Sequence[AnyEvent]) -> list[AnyEvent]:
    """The events, in their order, that ``ledger`` has not recorded as applied (lag)."""
    ids = {event.event_id for event in events}
    recorded = set(
        ledger._default_manager.filter(event_id__in=ids).values_list("event_id", flat=True)
    )
    return [event for event in events if event.event_id not in recorded]
