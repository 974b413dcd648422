"""The dashboard: read-model rows only, never the write tables."""

import uuid
from typing import Any

from django.db.models import QuerySet
from rest_framework import generics, serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import error_body, has_perm
from orders_read.filters import OrderSummaryFilter
from orders_read.models import OrderSummary
from orders_read.pagination import DashboardPagination
from orders_read.selectors import summary_at_version
from orders_read.serializers import OrderSummarySerializer

CanViewDashboard = has_perm("orders_read.view_ordersummary")

STALE_HEADER = "Read-Model-Stale"
DEFAULT_WAIT_MS = 2_000
MAX_WAIT_MS = 10_000


class VersionWaitQuery(serializers.Serializer):
    """``?min_version=N&wait=MS`` on a dashboard row: read your own writes."""

    min_version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text="Wait until the row reflects at least this stream version (the `version` "
        "a command answered with).",
    )
    wait = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_WAIT_MS,
        default=DEFAULT_WAIT_MS,
        help_text=f"How long to wait for `min_version`, in milliseconds (default "
        f"{DEFAULT_WAIT_MS}, at most {MAX_WAIT_MS}).",
    )


class OrderDashboardViewSet(viewsets.ReadOnlyModelViewSet):
    """``GET /orders/dashboard`` (filtered, cursor-paged) and ``/orders/dashboard/{id}``."""

    queryset = OrderSummary.objects.all()
    serializer_class = OrderSummarySerializer
    filterset_class = OrderSummaryFilter
    pagination_class = DashboardPagination
    permission_classes = [IsAuthenticated, CanViewDashboard]

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One row; with ``min_version``, once the read model reflects that version.

        If the wait runs out, the answer is what the read model has (or 404 when it
        has no row yet), marked ``Read-Model-Stale: true``.
        """
        query = VersionWaitQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        min_version = query.validated_data.get("min_version")
        if min_version is None:
            return super().retrieve(request, *args, **kwargs)
        try:
            order_id = uuid.UUID(kwargs["pk"])
        except ValueError:
            raise NotFound() from None  # never a row, whatever the wait
        read = summary_at_version(
            order_id,
            min_version=min_version,
            timeout=query.validated_data["wait"] / 1000,
            queryset=self.filter_queryset(self.get_queryset()),
        )
        headers = {} if read.current else {STALE_HEADER: "true"}
        if read.row is None:
            return Response(
                error_body("NOT_FOUND", "Not found"),
                status=status.HTTP_404_NOT_FOUND,
                headers=headers,
            )
        return Response(self.get_serializer(read.row).data, headers=headers)


class CustomerOrdersApi(generics.ListAPIView):
    """``GET /customers/{id}/orders``: the seed's GetCustomerOrders, from the read model."""

    serializer_class = OrderSummarySerializer
    filterset_class = OrderSummaryFilter
    pagination_class = DashboardPagination
    permission_classes = [IsAuthenticated, CanViewDashboard]

    def get_queryset(self) -> QuerySet[OrderSummary]:
        return OrderSummary.objects.filter(customer_id=self.kwargs["customer_id"])
