"""The admin as it was configured before it was made fast, on its own site (bench only).

The same list pages with the options they had: Django's paginator (a full COUNT),
the "N results (M total)" second count, ``date_hierarchy`` on the write tables and
the read model, and ``icontains`` searches. Measured beside today's admin in the
same run, on the same data and indexes.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator

from orders_read.admin import OrderSummaryAdmin
from orders_read.models import OrderSummary
from orders_write.admin.catalog import CustomerAdmin
from orders_write.admin.events import EventAdmin
from orders_write.admin.orders import OrderAdmin
from orders_write.models import Customer, Event, Order

site = admin.AdminSite(name="old_admin")


class OldOptions:
    paginator = Paginator
    show_full_result_count = True


@admin.register(Order, site=site)
class OldOrderAdmin(OldOptions, OrderAdmin):
    date_hierarchy = "placed_at"
    search_fields = ["customer__email"]


@admin.register(Event, site=site)
class OldEventAdmin(OldOptions, EventAdmin):
    date_hierarchy = "occurred_at"
    search_fields = ["type"]


@admin.register(OrderSummary, site=site)
class OldOrderSummaryAdmin(OldOptions, OrderSummaryAdmin):
    date_hierarchy = "placed_at"
    search_fields = ["customer_email"]


@admin.register(Customer, site=site)
class OldCustomerAdmin(OldOptions, CustomerAdmin):
    search_fields = ["name", "email"]
