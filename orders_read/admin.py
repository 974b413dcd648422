"""The read model in the admin: rows to look at, never to edit (projections own them)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from common.admin import LargeTableAdminMixin, ReadOnlyAdminMixin, UUIDSearchMixin, short_uuid
from orders_read.models import OrderSummary
from orders_write.statuses import OrderStatus


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
class OrderSummaryAdmin(
    LargeTableAdminMixin, ReadOnlyAdminMixin, UUIDSearchMixin, admin.ModelAdmin
):
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
    # A pasted order id is a primary-key lookup (UUIDSearchMixin); anything else, an
    # exact email (the summary_customer_email index, in the list's order).
    search_fields = ["customer_email__exact"]
    search_help_text = "Search by a customer's exact email, or paste a full order id."
    ordering = ["-placed_at", "-order_id"]
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

    @admin.display(description="Order", ordering="order_id")
    def short_order_id(self, summary: OrderSummary) -> str:
        return short_uuid(summary.order_id)

    @admin.display(description="Order")
    def order(self, summary: OrderSummary) -> str:
        # The write side's page for the same order, where it can be approved or cancelled.
        url = reverse("admin:orders_write_order_change", args=[quote(summary.order_id)])
        return format_html('<a href="{}">{}</a>', url, summary.order_id)
