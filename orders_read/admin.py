"""The read model in the admin: rows to look at, never to edit (projections own them)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from orders_read.models import OrderSummary
from orders_write.models import OrderStatus


class StatusFilter(admin.SimpleListFilter):
    """The order statuses (the read model's column has no choices to list them from)."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(OrderStatus.choices)

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[OrderSummary]
    ) -> QuerySet[OrderSummary]:
        return queryset.filter(status=self.value()) if self.value() else queryset


@admin.register(OrderSummary)
class OrderSummaryAdmin(admin.ModelAdmin):
    list_display = [
        "short_order_id",
        "status",
        "customer_email",
        "formatted_total",
        "item_count",
        "is_high_value",
        "placed_at",
        "version",
    ]
    list_display_links = ["short_order_id"]
    list_filter = [StatusFilter, ("placed_at", admin.DateFieldListFilter)]
    search_fields = ["customer_email"]
    search_help_text = "Search by customer email, or paste a full order id."
    date_hierarchy = "placed_at"
    fields = [
        "order",
        "status",
        "customer_id",
        "customer_name",
        "customer_email",
        "item_count",
        "formatted_total",
        "total_cents",
        "is_high_value",
        "placed_at",
        "day_placed",
        "last_updated",
        "version",
    ]
    readonly_fields = fields

    # View permission only: projections own these rows.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Order", ordering="order_id")
    def short_order_id(self, summary: OrderSummary) -> str:
        # Enough to tell orders apart on a page; the full id shows on hover.
        return format_html(
            '<span title="{}">{}…</span>', summary.order_id, str(summary.order_id)[:8]
        )

    @admin.display(description="Order")
    def order(self, summary: OrderSummary) -> str:
        # The write side's page for the same order, where it can be approved or cancelled.
        url = reverse("admin:orders_write_order_change", args=[quote(summary.order_id)])
        return format_html('<a href="{}">{}</a>', url, summary.order_id)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[OrderSummary], search_term: str
    ) -> tuple[QuerySet[OrderSummary], bool]:
        # A pasted order id is a primary-key lookup; anything else searches emails.
        try:
            order_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(pk=order_id), False
