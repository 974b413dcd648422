"""Admin pieces both back-office apps use: read-only pages, UUID search, short ids."""

from __future__ import annotations

import uuid
from typing import Any

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
