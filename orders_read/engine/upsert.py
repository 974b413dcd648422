"""Writing rows that carry a version: an upsert that only ever replaces an older row.

For a projection with one row per key (an order, a customer) whose rows remember the
stream version they reflect: every write is ``INSERT … ON CONFLICT (key) DO UPDATE …
WHERE version < EXCLUDED.version``, so concurrent paths delivering the same events can
neither double count nor move a row backwards. The statement is built once per table
and column list; the shape of a write follows its size (one row: a plain VALUES
statement; a batch on PostgreSQL: one array per column, or binary COPY into a
staging table from ``COPY_THRESHOLD`` rows).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model

from orders_read.engine.projection import SQL, Row

# From this many rows a write goes through COPY (catch-up and rebuild batches);
# fewer (the inline path's one row) take a single statement.
COPY_THRESHOLD = 500


def write_newer(
    model: type[Model],
    rows: Sequence[Row],
    *,
    columns: tuple[str, ...],
    key: str,
    version: str = "version",
) -> int:
    """Upsert rows, each only over an older version of itself; returns rows changed."""
    if not rows:
        return 0
    alias = router.db_for_write(model)
    connection = connections[alias]
    sql = _upsert_statements(model, alias, columns, key, version)
    postgres = connection.vendor == "postgresql"
    if postgres and len(rows) >= COPY_THRESHOLD:
        return _copy_upsert(rows, model, connection, sql)
    with connection.cursor() as cursor:
        if postgres or len(rows) == 1:
            cursor.execute(*sql.statement(rows, connection))
        else:
            cursor.executemany(sql.one_row, [sql.values(row, connection) for row in rows])
        return cursor.rowcount


def newer_statement(
    model: type[Model],
    rows: Sequence[Row],
    *,
    columns: tuple[str, ...],
    key: str,
    version: str = "version",
) -> SQL:
    """``write_newer``'s one statement for ``rows``, to send with others (PostgreSQL)."""
    alias = router.db_for_write(model)
    return _upsert_statements(model, alias, columns, key, version).statement(
        rows, connections[alias]
    )


def newer_conflict(
    model: type[Model], columns: tuple[str, ...], key: str, version: str = "version"
) -> str:
    """``write_newer``'s ON CONFLICT clause, for a statement that inserts rows of its own."""
    return _upsert_statements(model, router.db_for_write(model), columns, key, version).conflict


def _copy_upsert(
    rows: Sequence[Row],
    model: type[Model],
    connection: BaseDatabaseWrapper,
    sql: _UpsertStatements,
) -> int:
    """A big batch: binary COPY into a session-local staging table, then one upsert.

    Text-quoting thousands of values into arrays costs more than the upsert itself;
    binary COPY skips the quoting.
    """
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    staging = quote(f"{model._meta.db_table}_staging")
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
            f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        copy_rows(cursor, model, staging, rows, sql.names)
        cursor.execute(
            f"INSERT INTO {table} ({sql.columns}) SELECT {sql.columns} FROM {staging} "
            + sql.conflict
        )
        written = cursor.rowcount
        cursor.execute(f"TRUNCATE {staging}")
    return written


@dataclass(frozen=True)
class _UpsertStatements:
    """The guarded upsert's SQL for one table on one database, built once."""

    names: tuple[str, ...]
    columns: str
    conflict: str
    one_row: str
    arrays: str
    fields: tuple[Field, ...]

    def values(self, row: Row, connection: BaseDatabaseWrapper) -> list[Any]:
        return [field.get_db_prep_save(row[field.name], connection) for field in self.fields]

    def statement(self, rows: Sequence[Row], connection: BaseDatabaseWrapper) -> SQL:
        """One statement writing ``rows`` (more than one only on PostgreSQL)."""
        if len(rows) == 1:
            # The inline path's one row: a plain VALUES statement is the cheapest.
            return self.one_row, self.values(rows[0], connection)
        # One array per column, whatever the number of rows, where executemany would
        # send a statement per row.
        return self.arrays, [[row[name] for row in rows] for name in self.names]


@functools.lru_cache(maxsize=32)
def _upsert_statements(
    model: type[Model], alias: str, names: tuple[str, ...], key: str, version: str
) -> _UpsertStatements:
    connection = connections[alias]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    fields = tuple(model._meta.get_field(column) for column in names)
    columns = ", ".join(quote(column) for column in names)
    updates = ", ".join(
        f"{quote(column)} = EXCLUDED.{quote(column)}" for column in names if column != key
    )
    conflict = (
        f"ON CONFLICT ({quote(key)}) DO UPDATE SET {updates} "
        f"WHERE {table}.{quote(version)} < EXCLUDED.{quote(version)}"
    )
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    return _UpsertStatements(
        names=names,
        columns=columns,
        conflict=conflict,
        one_row=(
            f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(names))}) " + conflict
        ),
        arrays=f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) {conflict}",
        fields=fields,
    )


def copy_rows(
    cursor: CursorWrapper,
    model: type[Model],
    table: str,
    rows: Sequence[Row],
    columns: Sequence[str],
) -> None:
    """Binary COPY of rows' ``columns`` into ``table`` (quoted; shaped like ``model``'s)."""
    connection = cursor.db
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    # Type names without their modifiers: psycopg knows "varchar", not "varchar(200)".
    types = [model._meta.get_field(column).db_type(connection).split("(")[0] for column in columns]
    # COPY goes through psycopg itself, not Django's cursor wrapper: without this its
    # errors (a lost session among them) would not be Django's database errors.
    with (
        connection.wrap_database_errors,
        cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as stream,
    ):
        stream.set_types(types)
        for row in rows:
            stream.write_row([row[column] for column in columns])
