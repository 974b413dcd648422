"""The dashboard's filters. Every one answers a bad value with a 400, never silence."""

import datetime
from typing import ClassVar

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import QueryDict
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework.request import Request
from rest_framework.views import APIView

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
    """A FilterSet that costs little per request: its form class is built once, and a
    query that its fields take filters without building the FilterSet or a form.

    django-filter builds, on every request, a FilterSet (a deep copy of every filter),
    a new form class (a form field per filter, labels and all), then a form from it (a
    deep copy of every field): about half a millisecond of CPU, on views whose whole
    answer takes a few. The filters, and so the form class, are the same for every
    instance of a FilterSet class (``Meta`` and the declarations fix them), so the form
    class is built on first use and kept. ``filter_valid_query`` then cleans each asked
    parameter with that class's own field and filters with the class's own filter:
    what an instance's form and filters would do, for the values they accept. A value
    any field refuses goes the whole way (``DeclaredFilterBackend``), so the 400 and
    its messages are the form's, as before.

    For FilterSets whose every filter reads one query parameter named as the filter
    (no range filters, whose parameters carry suffixes; no form prefix), none
    required, none with a ``method`` (it would need the instance as its parent), with
    no form-level ``clean`` and no filter changed per instance.
    """

    # One per FilterSet class; a race builds the same class twice, harmlessly.
    _form_classes: ClassVar[dict[type, type[forms.Form]]] = {}

    def get_form_class(self) -> type[forms.Form]:
        cls = type(self)
        if cls not in DeclaredFilterSet._form_classes:
            DeclaredFilterSet._form_classes[cls] = super().get_form_class()
        return DeclaredFilterSet._form_classes[cls]

    @classmethod
    def form_class(cls) -> type[forms.Form]:
        """``get_form_class()`` without an instance, once it is built."""
        return DeclaredFilterSet._form_classes.get(cls) or cls().get_form_class()

    @classmethod
    def filter_valid_query(cls, data: QueryDict, queryset: QuerySet) -> QuerySet | None:
        """``queryset`` filtered by the query ``data``, or ``None`` if a value is refused.

        A parameter that is absent is an empty value, which every filter skips (as the
        form would see it); the others are cleaned by the form class's fields in their
        order, as ``is_valid`` cleans them, and applied by the filters, as ``qs``
        applies them. Fields and filters are only read, never changed, so one copy
        serves every request and thread.
        """
        asked = [name for name in cls.base_filters if name in data]
        if not asked:
            return queryset
        fields = cls.form_class().base_fields
        for name in asked:
            field = fields[name]
            try:
                value = field.clean(field.widget.value_from_datadict(data, {}, name))
            except ValidationError:
                return None
            queryset = cls.base_filters[name].filter(queryset, value)
        return queryset


class DeclaredFilterBackend(DjangoFilterBackend):
    """django-filter's backend, which filters through ``filter_valid_query`` when the
    view's FilterSet is a ``DeclaredFilterSet``; a query it refuses goes the whole way,
    so the answer to bad input (a 400 with the form's errors) is django-filter's own."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: APIView) -> QuerySet:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and issubclass(filterset_class, DeclaredFilterSet):
            filtered = filterset_class.filter_valid_query(request.query_params, queryset)
            if filtered is not None:
                return filtered
        return super().filter_queryset(request, queryset, view)


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
