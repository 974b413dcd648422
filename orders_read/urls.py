from django.urls import re_path

from orders_read import views

dashboard_list = views.OrderDashboardViewSet.as_view({"get": "list"})
dashboard_detail = views.OrderDashboardViewSet.as_view({"get": "retrieve"})

urlpatterns = [
    re_path(r"^orders/dashboard/?$", dashboard_list, name="order-dashboard"),
    re_path(r"^orders/dashboard/(?P<pk>[^/]+)/?$", dashboard_detail, name="order-summary"),
    re_path(
        r"^customers/(?P<customer_id>[0-9]{1,18})/orders/?$",
        views.CustomerOrdersApi.as_view(),
        name="customer-orders",
    ),
]
