"""The dashboard's filters. Every one answers a bad value with a 400, never silence."""

import datetime
from typing import ClassVar

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
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


class DeclaredFilterSet(django_filters.FilterSet):
    """A FilterSet that costs little per request: its form class is built once, and no
    form at all is built for a request that asks for none of its filters.

    django-filter builds a new form class on every instance (a form field per filter,
    labels and all), then a form from it: about half a millisecond of CPU a request,
    on views whose whole answer takes a few. The filters, and so the form class, are
    the same for every instance of a FilterSet class (``Meta`` and the declarations
    fix them), so it is built on first use and kept; each request still gets its own
    form, which copies its fields, and validates as before. Without any of the
    filters' parameters in the query every filter would see an empty value and keep
    the queryset whole, so the answer is the whole queryset without a form.

    For FilterSets whose every filter reads one query parameter named as the filter
    (no range filters, whose parameters carry suffixes; no form prefix) and that
    change no filter per instance.
    """

    # One per FilterSet class; a race builds the same class twice, harmlessly.
    _form_classes: ClassVar[dict[type, type[forms.Form]]] = {}

    def get_form_class(self) -> type[forms.Form]:
        cls = type(self)
        if cls not in DeclaredFilterSet._form_classes:
            DeclaredFilterSet._form_classes[cls] = super().get_form_class()
        return DeclaredFilterSet._form_classes[cls]

    @property
    def asks_nothing(self) -> bool:
        """Whether the query holds none of the filters' parameters."""
        return not any(name in self.data for name in self.filters)

    def is_valid(self) -> bool:
        if self.is_bound and self.asks_nothing:
            return True
        return super().is_valid()

    @property
    def qs(self) -> QuerySet:
        if self.is_bound and self.asks_nothing:
            return self.queryset.all()
        return super().qs


class OrderSummaryFilter(DeclaredFilterSet):
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
