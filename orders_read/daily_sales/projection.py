"""The daily_sales projection: each day's orders and money, by the status they have now.

A day's row adds up many orders, so it cannot carry a stream version: the projection
counts exactly the events the ledger (``engine.ledger.claim``) gives it, in the
transaction that writes the counts, and a replayed or re-delivered event is never
counted twice.

Counting each event once is not enough when events of one order arrive out of
order (the inline path failed on the placement and succeeded on the approval,
catch-up brings the placement later). So each event counts as a *move* that depends
on nothing else that was delivered: a placement adds the order to its day; a status
event takes the order out of the status it had just before that event (the order's
stream in the log says which, not what was delivered before; the batch being applied
answers when it holds those events of the log, as catch-up's usually does) and puts
it into the new one. The moves of an order's events add up to "placed, now in its
latest status" whatever order they are counted in, so once every event has been
counted the rows
are exact: the same figures as COUNT and SUM over the order summaries.

A rebuild on PostgreSQL adds those moves up in one statement (``fold_sql``): each
order's placement and latest status, grouped by day; the engine fills the ledger
copy beside it with every event the statement folded.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.utils.dateparse import parse_datetime

from orders_read.engine.ledger import AppliedEvents, claim, claim_ids, claim_statement
from orders_read.engine.projection import LIVE, SQL, Projection, Tables
from orders_read.engine.set_based import JSON_INTEGER, JSON_TIMESTAMP, type_names
from orders_read.models import DailySales, DailySalesApplied
from orders_write import event_log
from orders_write.event_log import AnyEvent, LogPosition
from orders_write.events import OrderApproved, OrderCancelled, OrderPlaced
from orders_write.statuses import OrderStatus
from orders_write.upcasting import sql_upcast, stored_names

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
    # Under every name the types were stored under: a renamed placement is still one.
    for event in event_log.records(event_log.streams(ids, stored_names(STATUS_AFTER))):
        history = found[event.stream_id]
        history.event_ids.add(event.event_id)
        history.statuses[event.version] = STATUS_AFTER[event.type]
        if event.type == OrderPlaced.type:
            history.placement = placement_of(event)
    return found


def moves(
    events: Sequence[AnyEvent], at_hand: Sequence[AnyEvent] = ()
) -> dict[datetime.date, dict[str, int]]:
    """What counting ``events`` changes, per day and column (see the module docstring).

    ``at_hand``: more events of the log (the batch ``events`` came in), which answer
    for the histories they hold (``histories_at_hand``); the log is read for the rest.
    """
    changes: dict[datetime.date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    for day, move in moves_by_event(events, at_hand).values():
        row = changes[day]
        for name, change in move.items():
            row[name] += change
    return {day: row for day, row in changes.items() if any(row.values())}


def moves_by_event(
    events: Sequence[AnyEvent], at_hand: Sequence[AnyEvent] = ()
) -> dict[UUID, tuple[datetime.date, dict[str, int]]]:
    """What counting each of ``events`` changes: its day and columns, by event id.

    Events that change nothing are left out; an event given twice counts once.
    ``at_hand``: as for ``moves``.
    """
    by_id: dict[UUID, tuple[datetime.date, dict[str, int]]] = {}
    transitions = [event for event in events if event.type != OrderPlaced.type]
    known, unknown = histories_at_hand(transitions, [*at_hand, *events])
    logged = {**histories(event.stream_id for event in unknown), **known}
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


def histories_at_hand(
    transitions: Sequence[AnyEvent], at_hand: Sequence[AnyEvent]
) -> tuple[dict[UUID, History], list[AnyEvent]]:
    """The histories of ``transitions``' orders that events of the log ``at_hand`` answer
    for, and the transitions they do not answer for.

    Re-reading every order's stream from the log cost catch-up more than counting its
    events, and an order's events usually sit close together in the log: its
    placement and the status change before a transition are often in the very batch
    being applied. A transition at version v needs two things of its order's history:
    the placement, and the status just before v, which is the status after the event
    at version v - 1 (every event this projection is given sets a status; a version
    holds one event, so the event at v - 1 in hand is the log's). When both are at
    hand, so is the answer; otherwise the order's stream is read from the log.
    """
    by_version = {
        (event.stream_id, event.version): event for event in at_hand if event.type in STATUS_AFTER
    }
    placed = {event.stream_id: event for event in at_hand if event.type == OrderPlaced.type}
    answered: dict[UUID, History] = {}
    unanswered: set[UUID] = set()
    for event in transitions:
        previous = by_version.get((event.stream_id, event.version - 1))
        if previous is None or event.stream_id not in placed:
            unanswered.add(event.stream_id)
            continue
        history = answered.setdefault(
            event.stream_id, History(placement=placement_of(placed[event.stream_id]))
        )
        history.statuses[previous.version] = STATUS_AFTER[previous.type]
        history.statuses[event.version] = STATUS_AFTER[event.type]
        history.event_ids.add(event.event_id)
    # An order with a transition not answered here is read whole from the log.
    known = {key: history for key, history in answered.items() if key not in unanswered}
    return known, [event for event in transitions if event.stream_id not in known]


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
    with connections[router.db_for_write(model)].cursor() as cursor:
        cursor.execute(*count_claimed_statement(model, ledger, events))
        return cursor.rowcount


def count_claimed_statement(
    model: type[Model], ledger: type[AppliedEvents], events: Sequence[AnyEvent]
) -> SQL:
    """``count_claimed``'s statement for ``events`` (at least one), to send with others."""
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
    return (
        f"WITH claimed AS ({claim_statement(ledger, connection)}), "
        f"moved (event_id, {columns}) AS (SELECT * FROM unnest({casts})) "
        f"INSERT INTO {table} ({columns}) "
        f"SELECT moved.{quote('day')}, {sums} FROM moved JOIN claimed USING (event_id) "
        f"GROUP BY moved.{quote('day')} ORDER BY moved.{quote('day')} "
        f"ON CONFLICT ({quote('day')}) DO UPDATE SET {update}",
        [claim_ids(events), *arrays],
    )


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


# The moves of an order's events add up to: its placement, on its day, counted as placed
# and in the status of its latest event. So each day is its placed orders (the first
# placement of each stream, by version) joined to each one's latest status event (by
# version; a placement later than it leaves the order pending), added up: what the
# Python fold gives once every event is counted.
_FOLD_SQL = """
INSERT INTO {table} ({columns})
SELECT {values}
FROM (
    SELECT DISTINCT ON (stream_id) stream_id, version,
        {day} AS day, {total_cents} AS total_cents
    FROM {events}
    WHERE type IN ({placed_types}) AND (transaction_id, position) <= (%(txid)s, %(position)s)
    ORDER BY stream_id, version
) p
LEFT JOIN (
    SELECT DISTINCT ON (stream_id) stream_id, version, type
    FROM {events}
    WHERE type IN ({status_types}) AND (transaction_id, position) <= (%(txid)s, %(position)s)
    ORDER BY stream_id, version DESC
) s ON s.stream_id = p.stream_id AND s.version > p.version
GROUP BY p.day
ORDER BY p.day
"""


def fold_sql(connection: BaseDatabaseWrapper, table: str, end: LogPosition) -> SQL | None:
    """The set-based fold of the log up to ``end`` into the days' ``table`` (PostgreSQL).

    None when an ``OrderPlaced`` upcaster cannot be said in SQL. A total that is not a
    JSON number, or a placement time that is not one, makes the statement fail (a NULL
    in a NOT NULL column) rather than count it another way than ``placement_of``.
    """
    quote = connection.ops.quote_name
    placed_data = sql_upcast(OrderPlaced.type, quote("data"), quote("schema_version"))
    if placed_data is None:
        return None
    data, params = placed_data
    params |= {"txid": end.transaction_id, "position": end.position}

    # The cents only when every placement of the day has them: SUM would skip a NULL.
    cents = "CASE WHEN count(p.total_cents) = count(*) THEN sum(p.total_cents) END"
    # Column name → its SQL: INSERT and SELECT lists are both made from this one mapping.
    values = {"day": "p.day", "placed_count": "count(*)", "placed_cents": cents}
    for status, (count, total) in COLUMNS_OF.items():
        into = [event_type for event_type, after in STATUS_AFTER.items() if after == status]
        latest_is = f"s.type IN ({type_names(params, status.value, into)})"
        values[count] = f"count(*) FILTER (WHERE {latest_is})"
        values[total] = f"coalesce(sum(p.total_cents) FILTER (WHERE {latest_is}), 0)"
    sql = _FOLD_SQL.format(
        table=quote(table),
        columns=", ".join(quote(name) for name in values),
        values=",\n    ".join(values.values()),
        day=placed_day(data),
        total_cents=placed_total(data),
        events=quote(event_log.TABLE),
        placed_types=type_names(params, "placed", [OrderPlaced.type]),
        status_types=type_names(params, "status", STATUS_AFTER.keys() - {OrderPlaced.type}),
    )
    return sql, params


def placed_day(data: str) -> str:
    """SQL: the UTC day of an ``OrderPlaced`` payload ``data`` (as ``placement_of`` reads it)."""
    placed_at = JSON_TIMESTAMP.format(json=f"{data} -> 'placed_at'", text=f"{data} ->> 'placed_at'")
    return f"({placed_at} AT TIME ZONE 'UTC')::date"


def placed_total(data: str) -> str:
    """SQL: the total in cents of an ``OrderPlaced`` payload ``data``; NULL if not a number."""
    return JSON_INTEGER.format(json=f"{data} -> 'total_cents'", text=f"{data} ->> 'total_cents'")


# Catch-up's range in SQL: the events of (after, end] the ledger takes, moved as
# ``moves`` moves them, added to their days. A transition's placement and the status
# before it come from its order's stream in the log (the (stream_id, version) index),
# as ``histories`` reads them.
_RANGE_SQL = """
WITH range AS (
    SELECT event_id, stream_id, version, type,
        CASE WHEN type IN ({placed}) THEN {day} END AS day,
        CASE WHEN type IN ({placed}) THEN {total} END AS cents
    FROM {events} e
    WHERE type IN ({handled}) AND {within}
), fresh AS (
    INSERT INTO {ledger} (event_id)
    SELECT event_id FROM range ORDER BY event_id
    ON CONFLICT DO NOTHING
    RETURNING event_id
), counted AS (
    SELECT range.* FROM range JOIN fresh USING (event_id)
), moved AS (
    SELECT day, 1 AS placed, cents, 0 AS approved, 0 AS cancelled
    FROM counted WHERE type IN ({placed})
    UNION ALL
    SELECT e.day, 0, e.cents,
        (c.type IN ({approved}))::int - (coalesce(b.type IN ({approved}), false))::int,
        (c.type IN ({cancelled}))::int - (coalesce(b.type IN ({cancelled}), false))::int
    FROM counted c
    CROSS JOIN LATERAL (
        SELECT {day} AS day, {total} AS cents FROM {events} e
        WHERE e.stream_id = c.stream_id AND e.type IN ({placed})
        ORDER BY e.version LIMIT 1
    ) e
    LEFT JOIN LATERAL (
        SELECT type FROM {events} b
        WHERE b.stream_id = c.stream_id AND b.type IN ({handled}) AND b.version < c.version
        ORDER BY b.version DESC LIMIT 1
    ) b ON true
    WHERE c.type NOT IN ({placed})
)
INSERT INTO {table} ({columns})
SELECT day, {sums}
FROM moved
GROUP BY day
HAVING {changed}
ORDER BY day
ON CONFLICT ({day_column}) DO UPDATE SET {update}
"""


def range_sql(connection: BaseDatabaseWrapper, after: LogPosition, end: LogPosition) -> SQL | None:
    """Count the events of the log in (``after``, ``end``] the ledger takes, in one
    statement (PostgreSQL); None when an ``OrderPlaced`` upcaster has no SQL.

    The same counts as ``apply`` over those events in batches: the ledger claims them
    in event-id order, each is moved as ``moves`` moves it, and the days are written
    in day order (a day whose changes add up to nothing is not written).
    """
    quote = connection.ops.quote_name
    upcast = sql_upcast(OrderPlaced.type, "e.data", "e.schema_version")
    if upcast is None:
        return None
    placed_data, params = upcast
    params |= {
        "after_txid": after.transaction_id,
        "after_position": after.position,
        "end_txid": end.transaction_id,
        "end_position": end.position,
    }

    # Each counter's sum over the moves, in ``COUNTERS`` order ("approved_cents": the
    # approved moves times the order's cents). The cents only when every move of the day
    # has them (SUM would skip a NULL): a total that is not a JSON number fails the
    # statement, and the range goes on in batches, which dead-letter its event.
    sums = []
    for column in COUNTERS:
        moved, unit = column.split("_")
        if unit == "count":
            sums.append(f"sum({moved})")
        else:
            sums.append(f"CASE WHEN count(cents) = count(*) THEN sum({moved} * cents) END")

    table = quote(DailySales._meta.db_table)
    update = ", ".join(
        f"{quote(name)} = {table}.{quote(name)} + excluded.{quote(name)}" for name in COUNTERS
    )
    sql = _RANGE_SQL.format(
        ledger=quote(DailySalesApplied._meta.db_table),
        events=quote(event_log.TABLE),
        table=table,
        columns=", ".join(quote(name) for name in ("day", *COUNTERS)),
        within=(
            "(transaction_id, position) > (%(after_txid)s, %(after_position)s) "
            "AND (transaction_id, position) <= (%(end_txid)s, %(end_position)s)"
        ),
        handled=type_names(params, "handled", STATUS_AFTER),
        placed=type_names(params, "placed", [OrderPlaced.type]),
        approved=type_names(params, "approved", [OrderApproved.type]),
        cancelled=type_names(params, "cancelled", [OrderCancelled.type]),
        day=placed_day(f"({placed_data})"),
        total=placed_total(f"({placed_data})"),
        sums=", ".join(sums),
        changed=" OR ".join(f"{total} <> 0" for total in sums),
        day_column=quote("day"),
        update=update,
    )
    return sql, params


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

    def inline_statements(
        self, connection: BaseDatabaseWrapper, events: list[AnyEvent]
    ) -> list[SQL]:
        """The claim and the counts in one statement (``count_claimed``)."""
        return [count_claimed_statement(DailySales, DailySalesApplied, events)]

    def range_statements(
        self, connection: BaseDatabaseWrapper, after: LogPosition, end: LogPosition
    ) -> list[SQL] | None:
        """The range in one statement (``range_sql``), on PostgreSQL."""
        if connection.vendor != "postgresql":
            return None
        statement = range_sql(connection, after, end)
        return None if statement is None else [statement]

    def set_based_rebuild(
        self, connection: BaseDatabaseWrapper, tables: Tables, end: LogPosition
    ) -> SQL | None:
        """The days in one statement (``fold_sql``); the engine fills the ledger beside it."""
        return fold_sql(connection, tables[DailySales]._meta.db_table, end)


daily_sales = DailySalesProjection()
