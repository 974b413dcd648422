"""The event log in the back office: append-only, so view only, for every user."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import ngettext

from common.admin import LargeTableAdminMixin, ReadOnlyAdminMixin, UUIDSearchMixin, short_uuid
from orders_write import event_log
from orders_write.events import EVENT_TYPES
from orders_write.models import Event
from orders_write.money import format_cents
from orders_write.upcasting import decode


def stream_history(stream_id: uuid.UUID) -> list[dict[str, Any]]:
    """An order's stream from the event log, oldest first, as rows for its change page.

    Each event is shown in its type's current name and shape, whatever version it was
    written in.
    """
    history = []
    for event in event_log.stream(stream_id):
        event_type, data = decode(event.type, event.schema_version, event.data)
        history.append(
            {
                "version": event.version,
                "type": event_type,
                "occurred_at": event.occurred_at,
                "actor": event.metadata.get("actor", ""),
                "details": Truncator(_event_details(data)).chars(200),
                "position": event.position,
            }
        )
    return history


def _event_details(data: dict[str, Any]) -> str:
    """What an event says beyond its type: the reason of a cancellation, the lines placed."""
    if "reason" in data:
        return f"Reason: {data['reason']}"
    if "items" in data:
        lines = ngettext("%d line", "%d lines", len(data["items"])) % len(data["items"])
        return f"{lines}, {format_cents(data.get('total_cents', 0))}"
    return ""


class EventTypeFilter(admin.SimpleListFilter):
    """The known event types (no SELECT DISTINCT over the whole log on every page)."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(name, name) for name in EVENT_TYPES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        return queryset.filter(type=self.value()) if self.value() else queryset


@admin.register(Event)
class EventAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, UUIDSearchMixin, admin.ModelAdmin):
    list_display = ["position", "occurred_at", "type", "order_link", "version", "actor"]
    list_filter = [EventTypeFilter, ("occurred_at", admin.DateFieldListFilter)]
    search_help_text = "Paste an order id to see its stream, or type an event type."
    search_fields = ["type__exact"]
    # The (stream, version) index: a stream's events at once.
    uuid_search_field = "stream_id"
    # The primary key, read backwards: the newest events first, at any log size.
    ordering = ["-position"]
    fields = [
        "position",
        "event_id",
        "stream_id",
        "version",
        "type",
        "schema_version",
        "occurred_at",
        "data_json",
        "metadata_json",
    ]
    readonly_fields = fields

    @admin.display(description="Order", ordering="stream_id")
    def order_link(self, event: Event) -> str:
        url = reverse("admin:orders_write_order_change", args=[quote(event.stream_id)])
        return format_html('<a href="{}">{}</a>', url, short_uuid(event.stream_id))

    @admin.display(description="Actor")
    def actor(self, event: Event) -> str:
        return event.metadata.get("actor", "")

    @admin.display(description="Data")
    def data_json(self, event: Event) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.data, indent=2, sort_keys=True))

    @admin.display(description="Metadata")
    def metadata_json(self, event: Event) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.metadata, indent=2, sort_keys=True))
