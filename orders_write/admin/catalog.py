"""Customers, payment methods and products: plain data, edited directly (no command involved)."""

from __future__ import annotations

from django.contrib import admin

from common.admin import LargeTableAdminMixin
from orders_write.models import Customer, PaymentMethod, Product
from orders_write.money import format_cents


class PaymentMethodInline(admin.TabularInline):
    model = PaymentMethod
    fields = ["label", "is_enabled"]
    extra = 0


@admin.register(Customer)
class CustomerAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["name", "email", "status", "created_at"]
    list_filter = ["status"]
    # Both served by an index: the exact email (unique), a name's beginning (customer_name).
    search_fields = ["email__exact", "name__startswith"]
    search_help_text = "Search by the beginning of a name (case matters) or an exact email."
    inlines = [PaymentMethodInline]


@admin.register(PaymentMethod)
class PaymentMethodAdmin(admin.ModelAdmin):
    list_display = ["label", "customer", "is_enabled"]
    list_filter = ["is_enabled"]
    search_fields = ["label", "customer__email"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "price", "is_available"]
    list_filter = ["is_available"]
    search_fields = ["sku", "name"]

    @admin.display(description="Price", ordering="price_cents")
    def price(self, product: Product) -> str:
        return format_cents(product.price_cents)
