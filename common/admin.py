"""Admin pieces both back-office apps use: read-only pages, UUID search, short ids, and
list pages that stay fast on tables of millions of rows."""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.db import connections, router
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html


def parse_uuid(value: str) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one (a search term, a URL part)."""
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


def short_uuid(value: uuid.UUID) -> str:
    """The first eight hex digits, enough to tell rows apart on a page (full id on hover)."""
    return format_html('<span title="{}">{}…</span>', value, str(value)[:8])


class ReadOnlyAdminMixin:
    """View permission only: nothing is added, changed or deleted through the admin.

    For rows that only commands or projections write (orders, the event log, the read
    model). Works on a ``ModelAdmin`` and on an inline alike.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class UUIDSearchMixin:
    """A pasted UUID is an exact lookup on ``uuid_search_field``; anything else, ``search_fields``.

    The exact lookup is an index hit on any database, where a text search over a UUID
    column would scan; and a UUID never matches the text fields searched otherwise.
    """

    uuid_search_field = "pk"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Model], search_term: str
    ) -> tuple[QuerySet[Model], bool]:
        value = parse_uuid(search_term)
        if value is not None:
            return queryset.filter(**{self.uuid_search_field: value}), False
        return super().get_search_results(request, queryset, search_term)


# A filtered list is counted up to this many rows, never further.
COUNT_LIMIT = 10_000


def estimated_rows(model: type[Model]) -> int | None:
    """PostgreSQL's own estimate of a table's rows (``pg_class.reltuples``, kept by
    ANALYZE and autovacuum), or None where there is none (SQLite, a never-analysed table)."""
    connection = connections[router.db_for_read(model)]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(model._meta.db_table)],
        )
        row = cursor.fetchone()
    return row[0] if row and row[0] >= 0 else None


class EstimatedCountPaginator(Paginator):
    """A paginator that never counts a whole large table.

    The admin counts the rows of every list page it shows: ``COUNT(*)`` over a million
    orders reads them all, a few hundred milliseconds on every page. Here an
    unfiltered list reports the planner's estimate of the table's rows, and a filtered
    one is counted up to ``COUNT_LIMIT`` rows (``SELECT COUNT(*) FROM (… LIMIT n)``,
    which stops there): exact for small results, "10,000" for larger ones, where
    nobody pages to the end anyway (refine the filter or the search).
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not queryset.query.where:
            estimate = estimated_rows(queryset.model)
            if estimate is not None and estimate > COUNT_LIMIT:
                return estimate
        return queryset.order_by()[:COUNT_LIMIT].count()


class LargeTableAdminMixin:
    """For list pages over tables of millions of rows: no full COUNT, ever.

    Pair it with ordering and filters served by an index, searches that are exact
    lookups on indexed columns, and no ``date_hierarchy`` (it reads the dates of the
    whole filtered table to draw its links).
    """

    paginator = EstimatedCountPaginator
    # Django's "N results (M total)" is a second COUNT of the whole table.
    show_full_result_count = False
