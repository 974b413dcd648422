from django.urls import re_path

from orders_read import stats_views, views

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
    re_path(r"^stats/summary/?$", stats_views.StatsSummaryApi.as_view(), name="stats-summary"),
    re_path(r"^stats/daily/?$", stats_views.StatsDailyApi.as_view(), name="stats-daily"),
]
