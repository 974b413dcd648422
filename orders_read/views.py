"""The dashboard: read-model rows only, never the write tables."""

from django.db.models import QuerySet
from rest_framework import generics, viewsets
from rest_framework.permissions import IsAuthenticated

from config.api import has_perm
from orders_read.filters import OrderSummaryFilter
from orders_read.models import OrderSummary
from orders_read.pagination import DashboardPagination
from orders_read.rendering import ValuesListMixin
from orders_read.serializers import OrderSummarySerializer

CanViewDashboard = has_perm("orders_read.view_ordersummary")


class OrderDashboardViewSet(ValuesListMixin, viewsets.ReadOnlyModelViewSet):
    """``GET /orders/dashboard`` (filtered, cursor-paged) and ``/orders/dashboard/{id}``."""

    queryset = OrderSummary.objects.all()
    serializer_class = OrderSummarySerializer
    filterset_class = OrderSummaryFilter
    pagination_class = DashboardPagination
    permission_classes = [IsAuthenticated, CanViewDashboard]


class CustomerOrdersApi(ValuesListMixin, generics.ListAPIView):
    """``GET /customers/{id}/orders``: the seed's GetCustomerOrders, from the read model."""

    serializer_class = OrderSummarySerializer
    filterset_class = OrderSummaryFilter
    pagination_class = DashboardPagination
    permission_classes = [IsAuthenticated, CanViewDashboard]

    def get_queryset(self) -> QuerySet[OrderSummary]:
        return OrderSummary.objects.filter(customer_id=self.kwargs["customer_id"])
