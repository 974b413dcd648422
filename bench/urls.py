"""The product's URLs plus the CRUD baselines under /bench/crud/."""

from django.urls import re_path

from bench import baseline
from config.urls import handler404, handler500, urlpatterns  # noqa: F401

urlpatterns = [
    re_path(r"^bench/crud/orders/?$", baseline.order_list, name="crud-orders"),
    re_path(r"^bench/ceiling/?$", baseline.CeilingApi.as_view(), name="ceiling"),
    re_path(r"^bench/crud/place/?$", baseline.PlainPlaceOrderApi.as_view(), name="crud-place"),
    *urlpatterns,
]
