from django.contrib import admin

from orders_write.models import Customer, PaymentMethod, Product


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "email"]


@admin.register(PaymentMethod)
class PaymentMethodAdmin(admin.ModelAdmin):
    list_display = ["label", "customer", "is_enabled"]
    list_filter = ["is_enabled"]
    search_fields = ["label", "customer__email"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "price_cents", "is_available"]
    list_filter = ["is_available"]
    search_fields = ["sku", "name"]
