"""The daily_sales projection: each day's orders and money, by the status they have now.

A day's row adds up many orders, so it cannot carry a stream version: the projection
counts exactly the events the ledger (``engine.ledger.claim``) gives it, in the
transaction that writes the counts, and a replayed or re-delivered event is never
counted twice.

Counting each event once is not enough when events of one order arrive out of
order (the inline path failed on the placement and succeeded on the approval,
catch-up brings the placement later). So each event counts as a *move* that depends
on nothing else that was delivered: a placement adds the order to its day; a status
event takes the order out of the status it had just before that event (read from
the order's stream in the log, not from what was delivered) and puts it into the new
one. The moves of an order's events add up to "placed, now in its latest status"
whatever order they are counted in, so once every event has been counted the rows
are exact: the same figures as COUNT and SUM over the order summaries.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import connections, router, transaction
from django.db.models import Model
from django.utils.dateparse import parse_datetime

from orders_read.engine.ledger import AppliedEvents, claim, claim_ids, claim_statement
from orders_read.engine.projection import LIVE, Projection, Tables
from orders_read.models import DailySales, DailySalesApplied
from orders_write import event_log
from orders_write.event_log import AnyEvent
from orders_write.events import OrderApproved, OrderCancelled, OrderPlaced
from orders_write.statuses import OrderStatus

# The status an order has after each event type.
STATUS_AFTER = {
    OrderPlaced.type: OrderStatus.PENDING,
    OrderApproved.type: OrderStatus.APPROVED,
    OrderCancelled.type: OrderStatus.CANCELLED,
}
# The (count, cents) columns of each counted status; pending is placed minus the others.
COLUMNS_OF = {
    OrderStatus.APPROVED: ("approved_count", "approved_cents"),
    OrderStatus.CANCELLED: ("cancelled_count", "cancelled_cents"),
}
# Days per statement: SQLite allows 32,766 parameters, seven per day.
CHUNK_DAYS = 1000
COUNTERS = (
    "placed_count",
    "placed_cents",
    "approved_count",
    "approved_cents",
    "cancelled_count",
    "cancelled_cents",
)


@dataclass(frozen=True)
class Placement:
    day: datetime.date
    total_cents: int


@dataclass
class History:
    """What the log says of one order: its placement, its status after each version."""

    placement: Placement | None = None
    statuses: dict[int, OrderStatus] = field(default_factory=dict)
    event_ids: set[UUID] = field(default_factory=set)

    def status_before(self, version: int) -> OrderStatus:
        earlier = [v for v in self.statuses if v < version]
        return self.statuses[max(earlier)] if earlier else OrderStatus.PENDING


def placement_of(event: AnyEvent) -> Placement:
    placed_at = parse_datetime(event.data["placed_at"])
    return Placement(placed_at.astimezone(datetime.UTC).date(), int(event.data["total_cents"]))


def histories(stream_ids: Iterable[UUID]) -> dict[UUID, History]:
    """Each order's placement and statuses, read from its stream in the event log."""
    found: dict[UUID, History] = defaultdict(History)
    ids = sorted(set(stream_ids))
    if not ids:
        return {}
    for event in event_log.records(event_log.streams(ids, STATUS_AFTER)):
        history = found[event.stream_id]
        history.event_ids.add(event.event_id)
        history.statuses[event.version] = STATUS_AFTER[event.type]
        if event.type == OrderPlaced.type:
            history.placement = placement_of(event)
    return found


def moves(events: Sequence[AnyEvent]) -> dict[datetime.date, dict[str, int]]:
    """What counting ``events`` changes, per day and column (see the module docstring)."""
    changes: dict[datetime.date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    for day, move in moves_by_event(events).values():
        row = changes[day]
        for name, change in move.items():
            row[name] += change
    return {day: row for day, row in changes.items() if any(row.values())}


def moves_by_event(
    events: Sequence[AnyEvent],
) -> dict[UUID, tuple[datetime.date, dict[str, int]]]:
    """What counting each of ``events`` changes: its day and columns, by event id.

    Events that change nothing are left out; an event given twice counts once.
    """
    by_id: dict[UUID, tuple[datetime.date, dict[str, int]]] = {}
    transitions = [event for event in events if event.type != OrderPlaced.type]
    logged = histories(event.stream_id for event in transitions)
    for event in events:
        if event.event_id in by_id:
            continue
        row = dict.fromkeys(COUNTERS, 0)
        if event.type == OrderPlaced.type:
            placement = placement_of(event)
            row["placed_count"] = 1
            row["placed_cents"] = placement.total_cents
            by_id[event.event_id] = (placement.day, row)
            continue
        history = logged.get(event.stream_id)
        if history is None or history.placement is None or event.event_id not in history.event_ids:
            continue  # not an event of a placed order in the log: nothing to count
        before, after = history.status_before(event.version), STATUS_AFTER[event.type]
        for status, sign in ((before, -1), (after, +1)):
            if status in COLUMNS_OF:
                count, cents = COLUMNS_OF[status]
                row[count] += sign
                row[cents] += sign * history.placement.total_cents
        if any(row.values()):
            by_id[event.event_id] = (history.placement.day, row)
    return by_id


def add_to_days(model: type[Model], changes: dict[datetime.date, dict[str, int]]) -> int:
    """Add ``changes`` to the days' rows (created at zero), in day order; returns rows written.

    One statement per ``CHUNK_DAYS`` days (SQLite limits a statement's parameters). Day
    order keeps two appliers that touch the same days from deadlocking.
    """
    if not changes:
        return 0
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(name) for name in ("day", *COUNTERS))
    update = ", ".join(
        f"{quote(name)} = {table}.{quote(name)} + excluded.{quote(name)}" for name in COUNTERS
    )
    days = sorted(changes)
    with connection.cursor() as cursor:
        for start in range(0, len(days), CHUNK_DAYS):
            chunk = days[start : start + CHUNK_DAYS]
            source, params = _source(connection.vendor, chunk, changes)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) {source} "
                f"ON CONFLICT ({quote('day')}) DO UPDATE SET {update}",
                params,
            )
    return len(days)


def count_claimed(
    model: type[Model], ledger: type[AppliedEvents], events: Sequence[AnyEvent]
) -> int:
    """Claim ``events`` and add the moves of those claimed, in one statement (PostgreSQL).

    The claim (``ledger.claim_statement``) is a ``WITH`` whose returned ids pick, among
    each event's moves, those to add: an event claimed before (by the inline path or
    catch-up, committed or not yet) adds nothing, exactly as ``claim`` then
    ``add_to_days`` in one transaction. One statement is atomic by itself, so the inline
    path runs it without BEGIN and COMMIT. Its moves are computed before the claim; they
    depend only on the event and its stream's earlier events, which have committed.
    Locks come in the order ``claim`` then ``add_to_days`` take them (ledger rows in id
    order, then days in day order): the GROUP BY reads the whole claim before the first
    day is written. Returns days written.
    """
    if not events:
        return 0
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    by_event = moves_by_event(events)
    event_ids = list(by_event)
    arrays = [event_ids, [day for day, _ in by_event.values()]]
    arrays += [[move[name] for _, move in by_event.values()] for name in COUNTERS]
    columns = ", ".join(quote(name) for name in ("day", *COUNTERS))
    sums = ", ".join(f"sum(moved.{quote(name)})" for name in COUNTERS)
    update = ", ".join(
        f"{quote(name)} = {table}.{quote(name)} + excluded.{quote(name)}" for name in COUNTERS
    )
    casts = ", ".join(["%s::uuid[]", "%s::date[]"] + ["%s::bigint[]"] * len(COUNTERS))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH claimed AS ({claim_statement(ledger, connection)}), "
            f"moved (event_id, {columns}) AS (SELECT * FROM unnest({casts})) "
            f"INSERT INTO {table} ({columns}) "
            f"SELECT moved.{quote('day')}, {sums} FROM moved JOIN claimed USING (event_id) "
            f"GROUP BY moved.{quote('day')} ORDER BY moved.{quote('day')} "
            f"ON CONFLICT ({quote('day')}) DO UPDATE SET {update}",
            [claim_ids(events), *arrays],
        )
        return cursor.rowcount


def _source(
    vendor: str, days: list[datetime.date], changes: dict[datetime.date, dict[str, int]]
) -> tuple[str, list[Any]]:
    """The rows to add as a SELECT: ``unnest`` arrays on PostgreSQL, VALUES on SQLite."""
    if vendor == "postgresql":
        casts = ", ".join(["%s::date[]"] + ["%s::bigint[]"] * len(COUNTERS))
        arrays = [[changes[day][name] for day in days] for name in COUNTERS]
        return f"SELECT * FROM unnest({casts})", [days, *arrays]
    row = "(" + ", ".join(["%s"] * (1 + len(COUNTERS))) + ")"
    params = [value for day in days for value in (day, *(changes[day][n] for n in COUNTERS))]
    # "WHERE true": SQLite's parser needs it between a SELECT and ON CONFLICT.
    return "SELECT * FROM (VALUES " + ", ".join([row] * len(days)) + ") WHERE true", params


class DailySalesProjection(Projection):
    """Keeps ``DailySales`` and its ledger (or a rebuild's copies of them) from the log."""

    name = "daily_sales"
    models = (DailySales, DailySalesApplied)
    event_types = frozenset(STATUS_AFTER)
    # On PostgreSQL the claim and the counts are one statement (``count_claimed``);
    # elsewhere ``apply`` opens the transaction the two need itself.
    atomic_inline = False

    def apply(self, events: Sequence[AnyEvent], tables: Tables = LIVE) -> int:
        """Count the events not counted before (the ledger says which); returns days written."""
        model, ledger = tables[DailySales], tables[DailySalesApplied]
        alias = router.db_for_write(model)
        if connections[alias].vendor == "postgresql":
            return count_claimed(model, ledger, events)
        with transaction.atomic(using=alias, savepoint=False):
            fresh = claim(ledger, events)
            return add_to_days(model, moves(fresh))


daily_sales = DailySalesProjection()
