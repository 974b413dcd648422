"""The dashboard: read-model rows only, never the write tables."""

import uuid
from functools import cached_property
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from common.api import error_body, has_perm
from common.availability import ReadsTheReadModel
from common.openapi import (
    NOT_FOUND,
    QUERY_VALIDATION_ERROR,
    REQUEST_ID_REQUEST_HEADER,
    REQUEST_ID_RESPONSE_HEADER,
    api_responses,
)
from orders_read.filters import DeclaredFilterBackend, OrderSummaryFilter
from orders_read.models import OrderSummary
from orders_read.pagination import DashboardPagination
from orders_read.rendering import ValuesListMixin
from orders_read.replicas import replica_for_reads
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


# django-filter's schema would call is_high_value a boolean; it takes these two words.
_HIGH_VALUE = OpenApiParameter(
    "is_high_value",
    OpenApiTypes.STR,
    enum=["true", "false"],
    description="`true`: totals over $1,000.00; `false`: the others.",
)
_CUSTOMER_EMAIL = OpenApiParameter(
    "customer_email",
    # No NUL: Django refuses it (PostgreSQL cannot hold one in a text value).
    {"type": "string", "maxLength": 254, "pattern": "^[^\\x00]*$"},
    description="Exactly this customer email.",
)
_LIST_PARAMETERS = [
    _HIGH_VALUE,
    _CUSTOMER_EMAIL,
    REQUEST_ID_REQUEST_HEADER,
    REQUEST_ID_RESPONSE_HEADER,
]
_LIST_DESCRIPTION = (
    "Read-model rows, newest first, in keyset (cursor) pages: follow `next`. Filters: "
    "`status`, `is_high_value`, `placed_after` (inclusive) and `placed_before` (exclusive) "
    "as ISO 8601 dates or date-times, `customer_email` (exact). A bad value is a 400. "
    "Needs `orders_read.view_ordersummary`."
)


class ReadsFromAReplica:
    """The rows from a hot standby when one is fit to serve them (``orders_read.replicas``)."""

    @cached_property
    def replica(self) -> str | None:
        return replica_for_reads()

    def get_queryset(self) -> QuerySet[OrderSummary]:
        queryset = super().get_queryset()  # type: ignore[misc]
        return queryset.using(self.replica) if self.replica else queryset


@extend_schema_view(
    list=extend_schema(
        operation_id="dashboard_list",
        summary="The order dashboard",
        description=_LIST_DESCRIPTION,
        tags=["dashboard"],
        parameters=_LIST_PARAMETERS,
        responses=api_responses(
            {200: OrderSummarySerializer(many=True), 400: QUERY_VALIDATION_ERROR}
        ),
    ),
    retrieve=extend_schema(
        operation_id="dashboard_row",
        summary="One dashboard row, optionally once it reflects your write",
        description=(
            "With `min_version` (the `version` a command answered with), waits up to `wait` "
            "ms until the row reflects that version. If it does not in time, the answer is "
            "the row as it is (200) or 404 when there is no row yet, both with "
            "`Read-Model-Stale: true`. With the inline projection (the default) the row is "
            "current when the command answers, so this returns at once. Filters decide "
            "whether the current row is shown (404 if not), never how long to wait. Only "
            "`ORDERS_MAX_WAITING_READS` reads per server process wait at once; past that a "
            "read answers at once, stale."
        ),
        tags=["dashboard"],
        parameters=[
            VersionWaitQuery,
            OpenApiParameter(
                "order_id",
                OpenApiTypes.UUID,
                OpenApiParameter.PATH,
                description="The order's id.",
            ),
            REQUEST_ID_REQUEST_HEADER,
            REQUEST_ID_RESPONSE_HEADER,
            OpenApiParameter(
                STALE_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                enum=["true"],
                response=[200, 404],
                description="Present when `min_version` was asked for and the read model "
                "did not reach it within `wait` (or no wait slot was free).",
            ),
        ],
        responses=api_responses(
            {200: OrderSummarySerializer, 400: QUERY_VALIDATION_ERROR, 404: NOT_FOUND}
        ),
    ),
)
class OrderDashboardViewSet(
    ReadsTheReadModel, ReadsFromAReplica, ValuesListMixin, viewsets.ReadOnlyModelViewSet
):
    """``GET /orders/dashboard`` (filtered, cursor-paged) and ``/orders/dashboard/{id}``."""

    queryset = OrderSummary.objects.all()
    serializer_class = OrderSummarySerializer
    filter_backends = [DeclaredFilterBackend]
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
            replica=self.replica,
        )
        headers = {} if read.current else {STALE_HEADER: "true"}
        if read.row is None:
            return Response(
                error_body("NOT_FOUND", "Not found"),
                status=status.HTTP_404_NOT_FOUND,
                headers=headers,
            )
        return Response(self.get_serializer(read.row).data, headers=headers)


@extend_schema_view(
    get=extend_schema(
        operation_id="customer_orders",
        summary="One customer's orders",
        description="The dashboard's rows for one customer (the same filters and pages).",
        tags=["dashboard"],
        parameters=[
            *_LIST_PARAMETERS,
            OpenApiParameter(
                "customer_id",
                {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
                OpenApiParameter.PATH,
                description="The customer's id (up to 18 digits; anything else is 404).",
            ),
        ],
        responses=api_responses(
            {
                200: OrderSummarySerializer(many=True),
                400: QUERY_VALIDATION_ERROR,
                404: NOT_FOUND,
            }
        ),
    )
)
class CustomerOrdersApi(
    ReadsTheReadModel, ReadsFromAReplica, ValuesListMixin, generics.ListAPIView
):
    """``GET /customers/{id}/orders``: one customer's orders, from the read model."""

    serializer_class = OrderSummarySerializer
    filter_backends = [DeclaredFilterBackend]
    filterset_class = OrderSummaryFilter
    pagination_class = DashboardPagination
    permission_classes = [IsAuthenticated, CanViewDashboard]

    queryset = OrderSummary.objects.all()

    def get_queryset(self) -> QuerySet[OrderSummary]:
        return super().get_queryset().filter(customer_id=self.kwargs.get("customer_id"))
