"""The OrderSummary fold, described once: what each column holds and what changes it.

An order's row is made by its ``OrderPlaced`` event: each column of ``FROM_PAYLOAD`` is
read from the payload, each of ``DERIVED`` computed from another column (the money
formatting), and the row starts ``PENDING``. Each later event of a type in
``STATUS_AFTER`` sets the status; every event the row takes sets ``last_updated`` and
``version``. Other event types change nothing.

Two folds are made from this description and no other:

- ``evolve``, in Python: the inline path and catch-up (a batch at a time) and the
  Python rebuild (a stream at a time).
- ``fold_sql``, one set-based statement folding the whole log in PostgreSQL for a
  rebuild. Its INSERT list and its SELECT list are made from the same (column,
  expression) pairs, so no column can land in another's place whatever the order
  of the columns anywhere else (``DASHBOARD_FIELDS`` is for display only).

Both read payloads in their current shape: ``evolve`` is given decoded events
(``event_log.records``), and ``fold_sql`` reads older versions through the upcasters'
own SQL (``upcasting.sql_upcast``), or is not offered (None) when an upcaster has no
SQL, and the rebuild folds in Python.

A column holds a value only when the payload has the right JSON type; a value the
Python fold would not accept (a missing key, a number as a string) makes the SQL
statement fail (a NOT NULL column left empty) instead of guessing, and the rebuild
falls back to the Python fold, which dead-letters the event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.dateparse import parse_datetime

from orders_read.engine.projection import SQL, AnyEvent, Row
from orders_read.engine.set_based import (
    EVERY_STREAM,
    JSON_INTEGER,
    JSON_TIMESTAMP,
    Streams,
    type_names,
)
from orders_write import event_log
from orders_write.event_log import LogPosition
from orders_write.events import OrderApproved, OrderCancelled, OrderPlaced
from orders_write.money import format_cents
from orders_write.statuses import OrderStatus
from orders_write.upcasting import sql_upcast, stored_names

# ``format_cents`` in SQL: "-$1,234.56".
_MONEY_SQL = (
    "CASE WHEN {cents} < 0 THEN '-' ELSE '' END || '$' "
    "|| to_char(abs({cents}) / 100, 'FM999,999,999,999,999,990') "
    "|| '.' || lpad((abs({cents}) %% 100)::text, 2, '0')"
)


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class FromPayload:
    """A column read from the ``OrderPlaced`` payload's ``key``."""

    name: str
    key: str
    # The value in Python, from the decoded JSON value.
    python: Callable[[Any], Any] = _same
    # The value in SQL, from {json} (the jsonb value) or {text} (the same as text).
    sql: str = "{text}"


@dataclass(frozen=True)
class Derived:
    """A column computed from another column of the same row."""

    name: str
    source: str
    python: Callable[[Any], Any]
    # The value in SQL, from {value} (the source column).
    sql: str


FROM_PAYLOAD = (
    FromPayload("customer_id", "customer_id", sql=JSON_INTEGER),
    FromPayload("customer_name", "customer_name"),
    FromPayload("customer_email", "customer_email"),
    FromPayload("item_count", "items", len, "jsonb_array_length({json})"),
    FromPayload("total_cents", "total_cents", sql=JSON_INTEGER),
    FromPayload("placed_at", "placed_at", parse_datetime, JSON_TIMESTAMP),
    FromPayload("currency", "currency"),
)
DERIVED = (
    Derived(
        "formatted_total", "total_cents", format_cents, _MONEY_SQL.replace("{cents}", "{value}")
    ),
)
# The status an order takes at each event after its placement.
STATUS_AFTER = {
    OrderApproved.type: OrderStatus.APPROVED,
    OrderCancelled.type: OrderStatus.CANCELLED,
}
EVENT_TYPES = frozenset({OrderPlaced.type, *STATUS_AFTER})

# Every column the projection writes (the database computes the generated ones).
COLUMNS = (
    "order_id",
    *(column.name for column in FROM_PAYLOAD),
    *(column.name for column in DERIVED),
    "status",
    "last_updated",
    "version",
)


def evolve(row: Row | None, event: AnyEvent) -> Row | None:
    """The row after ``event``; ``row`` itself when the event changes nothing."""
    if row is not None and row["version"] >= event.version:
        return row  # already reflected
    if event.type == OrderPlaced.type:
        if row is not None:
            return row
        return _placed(event)
    if event.type in STATUS_AFTER:
        if row is None:
            # The order's creation is not projected yet; catch-up replays it in order.
            return None
        return {**row, **_touched(event, STATUS_AFTER[event.type])}
    return row  # an event type this projection does not use


def _placed(event: AnyEvent) -> Row:
    row: Row = {"order_id": event.stream_id}
    for column in FROM_PAYLOAD:
        row[column.name] = column.python(event.data[column.key])
    for column in DERIVED:
        row[column.name] = column.python(row[column.source])
    return {**row, **_touched(event, OrderStatus.PENDING)}


def _touched(event: AnyEvent, status: OrderStatus) -> Row:
    return {"status": status.value, "last_updated": event.occurred_at, "version": event.version}


# Each stream's row is its first OrderPlaced (by version) and the last status event
# after it, exactly as ``evolve`` folds them (a status event before the order is
# placed is ignored). The payload's columns are read before the placements are sorted:
# the sort then carries those few columns, not whole payloads (at a million orders,
# payloads outgrow work_mem and the sort spills to disk).
_FOLD_SQL = """
INSERT INTO {table} ({columns})
SELECT {values}
FROM (
    SELECT DISTINCT ON (stream_id) stream_id, version, occurred_at, c.*
    FROM {events}
    CROSS JOIN LATERAL (SELECT {placed_data} AS data) d
    CROSS JOIN LATERAL (SELECT {payload}) c
    WHERE type IN ({placed_types}) AND {within}
    ORDER BY stream_id, version
) p
LEFT JOIN (
    SELECT DISTINCT ON (stream_id) stream_id, version, type, occurred_at
    FROM {events}
    WHERE type IN ({status_types}) AND {within}
    ORDER BY stream_id, version DESC
) s ON s.stream_id = p.stream_id
ORDER BY p.stream_id
{conflict}"""
_UP_TO = "(transaction_id, position) <= (%(txid)s, %(position)s)"
_AFTER = "(transaction_id, position) > (%(after_txid)s, %(after_position)s) AND " + _UP_TO

# Catch-up's range: the orders placed before it take the last status event in it, as
# ``evolve`` folds them into the row already there (a newer row is left alone). Only
# those: the fold has written the last status of the orders placed in the range, which
# have most of its status events. Their rows are found by primary key (the keys given
# as an array, which the planner takes for a few): joined as a set, the planner expected
# a row per status event and read the whole table, a little more of it at each range.
_STATUS_SQL = """
WITH s AS (
    SELECT DISTINCT ON (stream_id) stream_id, version, type, occurred_at
    FROM {events} e
    WHERE type IN ({status_types}) AND {within}
    AND NOT EXISTS (
        SELECT FROM {events} placed
        WHERE placed.stream_id = e.stream_id AND type IN ({placed_types}) AND {within}
    )
    ORDER BY stream_id, version DESC
)
UPDATE {table} t SET status = {status}, last_updated = s.occurred_at, version = s.version
FROM s
WHERE t.order_id = ANY (ARRAY(SELECT stream_id FROM s))
AND t.order_id = s.stream_id AND t.version < s.version
"""


def fold_sql(
    connection: BaseDatabaseWrapper,
    table: str,
    end: LogPosition,
    after: LogPosition | None = None,
    conflict: str = "",
    streams: Streams = EVERY_STREAM,
) -> SQL | None:
    """The set-based fold of the log up to ``end`` into ``table`` (PostgreSQL).

    ``after``: only the events after it (catch-up's range), into a table that may hold
    rows already, which ``conflict`` (an ON CONFLICT clause) settles. ``streams``: only
    those orders' rows (each row is its own stream's fold). None when an
    ``OrderPlaced`` upcaster cannot be said in SQL.
    """
    quote = connection.ops.quote_name
    placed_data = sql_upcast(OrderPlaced.type, quote("data"), quote("schema_version"))
    if placed_data is None:
        return None
    placed_data_sql, params = placed_data
    params |= {"pending": OrderStatus.PENDING.value, **_range_params(after, end)}
    within = f"{_UP_TO if after is None else _AFTER} AND {streams.where(params)}"
    placed_types = type_names(params, "placed", [OrderPlaced.type])
    status_case, status_types = _statuses(params, "s.type")
    later = "s.version > p.version"
    # Column name → its SQL: INSERT and SELECT lists are both made from this one mapping.
    values = {
        "order_id": "p.stream_id",
        **{column.name: f"p.{quote(column.name)}" for column in FROM_PAYLOAD},
        **{column.name: column.sql.format(value=f"p.{quote(column.source)}") for column in DERIVED},
        "status": f"CASE WHEN {later} THEN {status_case} ELSE %(pending)s END",
        "last_updated": f"CASE WHEN {later} THEN s.occurred_at ELSE p.occurred_at END",
        "version": f"CASE WHEN {later} THEN s.version ELSE p.version END",
    }
    payload = ", ".join(
        column.sql.format(json=f"d.data -> '{column.key}'", text=f"d.data ->> '{column.key}'")
        + f" AS {quote(column.name)}"
        for column in FROM_PAYLOAD
    )
    sql = _FOLD_SQL.format(
        table=quote(table),
        columns=", ".join(quote(name) for name in values),
        values=",\n    ".join(values.values()),
        payload=payload,
        events=quote(event_log.TABLE),
        placed_data=placed_data_sql,
        placed_types=placed_types,
        status_types=status_types,
        within=within,
        conflict=conflict,
    )
    return sql, params


def status_sql(
    connection: BaseDatabaseWrapper, table: str, after: LogPosition, end: LogPosition
) -> SQL:
    """The status events in (``after``, ``end``] of orders placed before ``after``,
    folded into their rows of ``table`` that do not reflect them yet (PostgreSQL;
    catch-up's range, after ``fold_sql``, which folds the orders placed in it)."""
    quote = connection.ops.quote_name
    params = _range_params(after, end)
    status_case, status_types = _statuses(params, "s.type")
    sql = _STATUS_SQL.format(
        table=quote(table),
        status=status_case,
        events=quote(event_log.TABLE),
        status_types=status_types,
        placed_types=type_names(params, "placed", [OrderPlaced.type]),
        within=_AFTER,
    )
    return sql, params


def _range_params(after: LogPosition | None, end: LogPosition) -> dict[str, Any]:
    params = {"txid": end.transaction_id, "position": end.position}
    if after is not None:
        params |= {"after_txid": after.transaction_id, "after_position": after.position}
    return params


def _statuses(params: dict[str, Any], type_sql: str) -> tuple[str, str]:
    """(the status after the event of type ``type_sql``, the status types' list) in SQL;
    their parameters are added to ``params``."""
    cases = []
    for event_type, status in STATUS_AFTER.items():
        # A renamed status event is read under each of its stored names.
        for name in sorted(stored_names([event_type])):
            number = len(cases)
            params[f"type_{number}"], params[f"status_{number}"] = name, status.value
            cases.append(f"WHEN %(type_{number})s THEN %(status_{number})s")
    types = ", ".join(f"%(type_{number})s" for number in range(len(cases)))
    return f"CASE {type_sql} {' '.join(cases)} END", types
