"""Keyset pages over (placed_at, order_id): as fast 10,000 rows deep as on the first page."""

from __future__ import annotations

import base64
import datetime
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, NamedTuple
from urllib import parse

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, Expression, F, Model, QuerySet
from django.db.models.sql.compiler import SQLCompiler
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from orders_read.timestamps import parse_timestamp

INVALID_CURSOR = "Invalid cursor"
# The dashboard's order (newest first), a unique key.
KEY = ("placed_at", "order_id")


class RowComparison(Expression):
    """``(column, …) < (value, …)`` (or another operator): one SQL row comparison.

    The keyset condition, past a position in the dashboard's order. PostgreSQL and
    SQLite compare rows natively, and a B-tree index on those columns (after an
    equality on any before them) starts its scan there. The same condition in ``Q``
    objects is three lookups, each resolved and compiled on its own for every page, and
    a bound plus a filter for the database; Django's own tuple lookups are private.
    Each value is prepared by its column's field, as ``filter()`` does it (SQLite keeps
    timestamps and UUIDs as text).
    """

    conditional = True
    output_field = BooleanField()
    OPERATORS = frozenset({"<", "<=", ">", ">="})

    def __init__(self, columns: Sequence[str], operator: str, values: Sequence[Any]) -> None:
        if operator not in self.OPERATORS:
            raise ValueError(f"not a row comparison: {operator!r}")
        super().__init__()
        self.columns: list[Any] = [F(name) for name in columns]
        self.operator = operator
        self.values = values

    def get_source_expressions(self) -> list[Any]:
        return self.columns

    def set_source_expressions(self, expressions: list[Any]) -> None:
        self.columns = expressions

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple[Any, ...]]:
        columns, params = [], []
        for column in self.columns:
            sql, column_params = compiler.compile(column)
            columns.append(sql)
            params.extend(column_params)
        for column, value in zip(self.columns, self.values, strict=True):
            params.append(column.target.get_db_prep_value(value, connection))
        placeholders = ", ".join(["%s"] * len(self.values))
        return f"({', '.join(columns)}) {self.operator} ({placeholders})", tuple(params)


class Position(NamedTuple):
    """A row's place in the dashboard's order, and which way the page goes from it."""

    placed_at: datetime.datetime
    order_id: uuid.UUID
    reverse: bool = False


def _key(row: dict[str, Any] | Model) -> tuple[datetime.datetime, uuid.UUID]:
    if isinstance(row, dict):
        return row["placed_at"], row["order_id"]
    return row.placed_at, row.order_id


class DashboardPagination(CursorPagination):
    """Keyset pages, newest first, on the unique key (``placed_at``, ``order_id``).

    DRF's ``CursorPagination`` keeps only the first ordering field in the cursor and
    skips rows that share it with an OFFSET, so a run of equal ``placed_at`` values
    (bulk imports) is read again on every page. Here the cursor holds both fields and
    a page is ``(placed_at, order_id) < cursor``, served by the index on
    (``placed_at`` desc, ``order_id`` desc) at any depth. ``placed_at`` and
    ``order_id`` never change, so a page never skips or repeats a row. Pages hold
    dicts (``.values()``) or model instances.
    """

    ordering = ("-placed_at", "-order_id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    page_size_query_description = (
        f"Rows per page: {page_size} by default; a larger value than {max_page_size} "
        f"is capped at {max_page_size}."
    )

    def get_page_size(self, request: Request) -> int:
        """``page_size`` from the query; above ``max_page_size`` it is capped, not refused."""
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        try:
            size = int(value)
        except ValueError:
            size = 0
        if size < 1:
            # DRF would quietly fall back to the default; a bad parameter is a 400.
            raise ValidationError(
                {self.page_size_query_param: ["A whole number of at least 1 is required."]}
            )
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters

    def paginate_queryset(
        self, queryset: QuerySet, request: Request, view: Any = None
    ) -> list[Any]:
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        self.position = position = self.decode_cursor(request)
        if position is None or not position.reverse:
            queryset = queryset.order_by("-placed_at", "-order_id")
            if position is not None:
                queryset = queryset.filter(
                    RowComparison(KEY, "<", (position.placed_at, position.order_id))
                )
        else:
            queryset = queryset.order_by("placed_at", "order_id")
            queryset = queryset.filter(
                RowComparison(KEY, ">", (position.placed_at, position.order_id))
            )
        rows = list(queryset[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if position is not None and position.reverse:
            rows.reverse()
            self.next_position = Position(*_key(rows[-1])) if rows else None
            self.previous_position = Position(*_key(rows[0]), reverse=True) if more else None
        else:
            self.next_position = Position(*_key(rows[-1])) if more else None
            self.previous_position = (
                Position(*_key(rows[0]), reverse=True) if position is not None and rows else None
            )
        return rows

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            OrderedDict(
                [
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                    ("results", data),
                ]
            )
        )

    def get_next_link(self) -> str | None:
        return self._link(self.next_position)

    def get_previous_link(self) -> str | None:
        return self._link(self.previous_position)

    def _link(self, position: Position | None) -> str | None:
        if position is None:
            return None
        return replace_query_param(
            self.base_url, self.cursor_query_param, self.encode_position(position)
        )

    @staticmethod
    def encode_position(position: Position) -> str:
        query = {"p": position.placed_at.isoformat(), "o": str(position.order_id)}
        if position.reverse:
            query["r"] = "1"
        return base64.urlsafe_b64encode(parse.urlencode(query).encode()).decode()

    def decode_cursor(self, request: Request) -> Position | None:  # type: ignore[override]
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            return self.decode_position(encoded)
        except (ValueError, KeyError) as exc:
            # A cursor the client mangled is bad input, not a missing resource.
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]}) from exc

    @classmethod
    def decode_position(cls, encoded: str) -> Position:
        """The position a cursor from ``encode_position`` holds; ``ValueError`` (or
        ``KeyError``) for anything else.

        A cursor is opaque, so only one this server could have written is taken: the
        decoded position must encode back to the very same text. That refuses, in one
        rule, what the lenient decoders would let through to the query: base64 with
        stray characters, repeated or extra keys, a UUID spelled another way, and a
        timestamp with another offset (``+20:00`` was a 500 on PostgreSQL) or one that
        leaves the calendar in UTC (a 500 on SQLite).
        """
        text = base64.urlsafe_b64decode(encoded.encode("ascii")).decode("ascii")
        query = parse.parse_qs(text, strict_parsing=True)
        position = Position(
            parse_timestamp(query["p"][0]), uuid.UUID(query["o"][0]), query.get("r") == ["1"]
        )
        if cls.encode_position(position) != encoded:
            raise ValueError("not a cursor this server wrote")
        return position
