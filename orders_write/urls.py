from django.urls import path, re_path

from orders_write import dashboard_actions, views

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
    # The dashboard page's buttons (form posts, not API endpoints).
    path(
        "dashboard/orders/<uuid:order_id>/approve",
        dashboard_actions.approve,
        name="dashboard-approve",
    ),
    path(
        "dashboard/orders/<uuid:order_id>/cancel",
        dashboard_actions.cancel,
        name="dashboard-cancel",
    ),
]
