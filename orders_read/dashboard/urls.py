from django.urls import path

from orders_read.dashboard import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/figures", views.figures, name="dashboard-figures"),
    path("dashboard/queue", views.queue, name="dashboard-queue"),
]
