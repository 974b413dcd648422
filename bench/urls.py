"""The product's URLs plus the baselines: CRUD under /bench/crud/, the old admin."""

from django.urls import path, re_path

from bench import baseline, old_admin
from config.urls import handler404, handler500, urlpatterns  # noqa: F401

urlpatterns = [
    re_path(r"^bench/crud/orders/?$", baseline.order_list, name="crud-orders"),
    re_path(r"^bench/ceiling/?$", baseline.CeilingApi.as_view(), name="ceiling"),
    re_path(r"^bench/crud/place/?$", baseline.PlainPlaceOrderApi.as_view(), name="crud-place"),
    path("bench/old-admin/", old_admin.site.urls),
    *urlpatterns,
]
