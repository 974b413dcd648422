from django.urls import re_path

from orders_write import views

# The command endpoints, each with or without a trailing slash.
urlpatterns = [
    re_path(r"^orders/?$", views.PlaceOrderApi.as_view(), name="place-order"),
    re_path(
        r"^orders/(?P<order_id>[^/]+)/approve/?$",
        views.ApproveOrderApi.as_view(),
        name="approve-order",
    ),
    re_path(
        r"^orders/(?P<order_id>[^/]+)/cancel/?$",
        views.CancelOrderApi.as_view(),
        name="cancel-order",
    ),
]
