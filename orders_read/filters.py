"""The dashboard's filters. Every one answers a bad value with a 400, never silence."""

import datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError

from orders_read.models import OrderSummary
from orders_write.models import OrderStatus


class UTCDateTimeField(forms.DateTimeField):
    """A date-time, converted to UTC before it reaches the database.

    Python takes UTC offsets up to ±23:59, PostgreSQL only up to ±15:59 (a 500 on
    ``2026-01-01T00:00+23:00``), and an offset near year 1 or 9999 can leave the
    calendar when converted (a 500 on SQLite): here both are a UTC value or a 400.
    """

    def to_python(self, value: object) -> datetime.datetime | None:
        result = super().to_python(value)
        if result is None:
            return None
        try:
            return result.astimezone(datetime.UTC)
        except OverflowError:
            raise ValidationError(
                "Enter a date-time within years 1 to 9999 in UTC.", code="invalid"
            ) from None


class UTCDateTimeFilter(django_filters.DateTimeFilter):
    field_class = UTCDateTimeField


class OrderSummaryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    # Declared explicitly: django-filter cannot derive a filter from a GeneratedField.
    is_high_value = django_filters.TypedChoiceFilter(
        field_name="is_high_value",
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
    )
    placed_after = UTCDateTimeFilter(field_name="placed_at", lookup_expr="gte")
    placed_before = UTCDateTimeFilter(field_name="placed_at", lookup_expr="lt")
    customer_email = django_filters.CharFilter(field_name="customer_email", max_length=254)

    class Meta:
        model = OrderSummary
        fields = ["status", "is_high_value", "placed_after", "placed_before", "customer_email"]
