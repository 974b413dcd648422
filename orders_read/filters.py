"""The dashboard's filters. Every one answers a bad value with a 400, never silence."""

import datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema_field

from orders_read.models import OrderSummary
from orders_read.timestamps import ACCEPTED, parse_timestamp
from orders_write.statuses import OrderStatus


class TimestampField(forms.Field):
    """A date or a date-time with its offset, strictly (``orders_read.timestamps``), in UTC.

    Not ``forms.DateTimeField``: its input formats read ``12/02/2026`` as December 2nd
    and take a date-time without a zone as the server's.
    """

    def to_python(self, value: str | None) -> datetime.datetime | None:
        if value in self.empty_values:
            return None
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            raise ValidationError(str(exc), code="invalid") from None


@extend_schema_field(
    {
        "type": "string",
        "anyOf": [{"format": "date"}, {"format": "date-time"}],
        "description": f"Accepted: {ACCEPTED}. Anything else is a 400.",
    }
)
class TimestampFilter(django_filters.Filter):
    field_class = TimestampField


class OrderSummaryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    # Declared explicitly: django-filter cannot derive a filter from a GeneratedField.
    is_high_value = django_filters.TypedChoiceFilter(
        field_name="is_high_value",
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
    )
    placed_after = TimestampFilter(field_name="placed_at", lookup_expr="gte")
    placed_before = TimestampFilter(field_name="placed_at", lookup_expr="lt")
    customer_email = django_filters.CharFilter(field_name="customer_email", max_length=254)

    class Meta:
        model = OrderSummary
        fields = ["status", "is_high_value", "placed_after", "placed_before", "customer_email"]
