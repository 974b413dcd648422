"""The dashboard's filters. Every one answers a bad value with a 400, never silence."""

import django_filters

from orders_read.models import OrderSummary
from orders_write.models import OrderStatus


class OrderSummaryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    # Declared explicitly: django-filter cannot derive a filter from a GeneratedField.
    is_high_value = django_filters.TypedChoiceFilter(
        field_name="is_high_value",
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
    )
    placed_after = django_filters.DateTimeFilter(field_name="placed_at", lookup_expr="gte")
    placed_before = django_filters.DateTimeFilter(field_name="placed_at", lookup_expr="lt")
    customer_email = django_filters.CharFilter(field_name="customer_email", max_length=254)

    class Meta:
        model = OrderSummary
        fields = ["status", "is_high_value", "placed_after", "placed_before", "customer_email"]
