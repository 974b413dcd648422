"""What a Django team would write without CQRS: the baselines every figure is compared to.

- The dashboard read from the write tables: a ``ModelViewSet`` over ``Order`` with
  ``select_related("customer")``, an annotated item count, a ``ModelSerializer``
  and ``PageNumberPagination`` (the same filters, on the write tables).
- The ceiling: an authenticated DRF view that answers ``{}`` without reading an order,
  an upper bound for any token-authenticated DRF view under the bench's gunicorn.
- Placing an order in plain Django: the same checks' queries, the order and its
  items, in one transaction; no event log, no projection.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from rest_framework import serializers, status, viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orders_write.models import Customer, Order, OrderItem, OrderStatus, PaymentMethod, Product
from orders_write.money import format_cents
from orders_write.serializers import PlaceOrderInput


class CrudOrderSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name")
    customer_email = serializers.CharField(source="customer.email")
    item_count = serializers.IntegerField()
    formatted_total = serializers.SerializerMethodField()
    is_high_value = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "customer_id",
            "customer_name",
            "customer_email",
            "status",
            "item_count",
            "total_cents",
            "formatted_total",
            "placed_at",
            "updated_at",
            "is_high_value",
            "version",
        ]

    def get_formatted_total(self, order: Order) -> str:
        return format_cents(order.total_cents)

    def get_is_high_value(self, order: Order) -> bool:
        return order.total_cents > 100_000


class CrudOrderFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    is_high_value = django_filters.BooleanFilter(method="filter_high_value")
    placed_after = django_filters.DateTimeFilter(field_name="placed_at", lookup_expr="gte")
    placed_before = django_filters.DateTimeFilter(field_name="placed_at", lookup_expr="lt")
    customer_email = django_filters.CharFilter(field_name="customer__email")

    class Meta:
        model = Order
        fields = ["status", "is_high_value", "placed_after", "placed_before", "customer_email"]

    def filter_high_value(self, queryset: Any, name: str, value: bool) -> Any:
        return (
            queryset.filter(total_cents__gt=100_000)
            if value
            else queryset.exclude(total_cents__gt=100_000)
        )


class CrudPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class CrudOrderViewSet(viewsets.ModelViewSet):
    queryset = (
        Order.objects.select_related("customer")
        .annotate(item_count=Count("items"))
        .order_by("-placed_at", "-id")
    )
    serializer_class = CrudOrderSerializer
    filterset_class = CrudOrderFilter
    pagination_class = CrudPagination
    permission_classes = [IsAuthenticated]


order_list = CrudOrderViewSet.as_view({"get": "list"})


@transaction.atomic
def plain_place_order(customer_id: int, payment_method_id: int, lines: list[dict]) -> Order:
    """The same order and items, written the plain Django way (no events, no projection)."""
    customer = Customer.objects.select_for_update().get(pk=customer_id, status="active")
    payment_method = PaymentMethod.objects.get(
        pk=payment_method_id, customer=customer, is_enabled=True
    )
    products = Product.objects.in_bulk([line["product_id"] for line in lines])
    items = [
        OrderItem(
            product=products[line["product_id"]],
            quantity=line["quantity"],
            unit_price_cents=products[line["product_id"]].price_cents,
        )
        for line in lines
    ]
    now = timezone.now()
    order = Order.objects.create(
        customer=customer,
        customer_name=customer.name,
        customer_email=customer.email,
        payment_method=payment_method,
        total_cents=sum(item.quantity * item.unit_price_cents for item in items),
        version=1,
        placed_at=now,
        updated_at=now,
    )
    for item in items:
        item.order = order
    OrderItem.objects.bulk_create(items)
    return order


class PlainPlaceOrderApi(APIView):
    """``POST /bench/crud/place``: the same body as ``POST /orders``, plain Django."""

    permission_classes = [IsAuthenticated]

    def post(self, request: Request) -> Response:
        serializer = PlaceOrderInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        order = plain_place_order(data["customer_id"], data["payment_method_id"], data["items"])
        return Response(
            {"success": True, "data": {"order_id": str(order.id), "version": 1}},
            status=status.HTTP_201_CREATED,
        )


class CeilingApi(APIView):
    """``GET /bench/ceiling``: token auth and an empty answer, nothing else."""

    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({})
