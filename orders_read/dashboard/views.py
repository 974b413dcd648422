"""The dashboard page and the fragments it refreshes, read from the read model only.

Figures and the chart come from the ``daily_sales`` rows (``orders_read.stats``), the
queue and the orders table from ``OrderSummary`` through its indexes, so the page
costs the same at a million orders as at ten. The Approve and Cancel buttons post
to ``orders_write`` (``dashboard_actions``): this module never writes.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from orders_read import stats
from orders_read.filters import OrderSummaryFilter
from orders_read.models import OrderSummary
from orders_read.pagination import DashboardPagination
from orders_write.money import format_cents
from orders_write.statuses import OrderStatus

VIEW_PERMISSION = "orders_read.view_ordersummary"
# The page says "data as of …" past this lag.
STALE_AFTER = datetime.timedelta(seconds=1)
# How often the figures and the queue refresh themselves, in seconds.
REFRESH_SECONDS = 5
QUEUE_LENGTH = 20
CHART_DAYS = 30
STATUSES = (OrderStatus.PENDING, OrderStatus.APPROVED, OrderStatus.CANCELLED)
COLUMNS = ("today", "last_7_days", "last_30_days", "all_time")


class TablePagination(DashboardPagination):
    page_size = 25


def can_see(view: Any) -> Any:
    """Login (and back), then the dashboard permission (403 without it)."""
    return login_required(permission_required(VIEW_PERMISSION, raise_exception=True)(view))


def figures_context() -> dict[str, Any]:
    """The figures table (rows: statuses and all; columns: windows) and the freshness line."""
    today = stats.utc_today()
    by_window = stats.summary(today)
    rows = []
    for status in STATUSES:
        cells = [by_window[name].by_status()[status] for name in COLUMNS]
        rows.append({"status": status, "cells": [_cell(cell) for cell in cells]})
    totals = [
        {"orders": by_window[name].placed_count, "revenue_cents": by_window[name].placed_cents}
        for name in COLUMNS
    ]
    rows.append({"status": "ALL", "cells": [_cell(cell) for cell in totals]})
    now = timezone.now()
    as_of = stats.as_of(now)
    return {
        "figure_rows": rows,
        "all_time": {
            status: f"{by_window['all_time'].by_status()[status]['orders']:,}"
            for status in STATUSES
        },
        "as_of": as_of if now - as_of > STALE_AFTER else None,
        "refresh_seconds": REFRESH_SECONDS,
    }


def _cell(figures: dict[str, int]) -> dict[str, str]:
    return {"orders": f"{figures['orders']:,}", "revenue": format_cents(figures["revenue_cents"])}


def queue_context(request: HttpRequest) -> dict[str, Any]:
    """The oldest pending orders first (the status index, read backwards)."""
    pending = OrderSummary.objects.filter(status=OrderStatus.PENDING).order_by(
        "placed_at", "order_id"
    )
    user = request.user
    return {
        # Each form's idempotency key: a double click or a retry runs the command once.
        "queue": [
            {"row": row, "approve_key": uuid.uuid4(), "cancel_key": uuid.uuid4()}
            for row in pending[:QUEUE_LENGTH]
        ],
        "can_approve": user.has_perm("orders_write.approve_order"),
        "can_cancel": user.has_perm("orders_write.cancel_order"),
        "refresh_seconds": REFRESH_SECONDS,
    }


def table_context(request: HttpRequest) -> dict[str, Any]:
    """The filtered orders, newest first, a keyset page at a time (the URL holds both)."""
    filters = OrderSummaryFilter(request.GET, queryset=OrderSummary.objects.all())
    context: dict[str, Any] = {"filters": filters, "rows": [], "next": None, "previous": None}
    if not filters.is_valid():
        return context
    paginator = TablePagination()
    drf_request = Request(request)
    try:
        context["rows"] = paginator.paginate_queryset(filters.qs, drf_request)
    except ValidationError:  # a cursor that is not one of ours: the first page instead
        context["bad_cursor"] = True
        drf_request = Request(_without_cursor(request))
        context["rows"] = paginator.paginate_queryset(filters.qs, drf_request)
    context["next"] = _relative(paginator.get_next_link())
    context["previous"] = _relative(paginator.get_previous_link())
    return context


def _without_cursor(request: HttpRequest) -> HttpRequest:
    query = request.GET.copy()
    query.pop("cursor", None)
    request.GET = query
    return request


def _relative(link: str | None) -> str | None:
    """A page link as ``?query`` only: shareable on any host the page is served from."""
    return f"?{urlsplit(link).query}" if link else None


def chart_context() -> dict[str, Any]:
    today = stats.utc_today()
    days = stats.daily(today - datetime.timedelta(days=CHART_DAYS - 1), today)
    return {
        "chart": {
            "days": [day.isoformat() for day, _ in days],
            "orders": [figures.placed_count for _, figures in days],
            "revenue": [figures.placed_cents / 100 for _, figures in days],
        }
    }


@can_see
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {
        **figures_context(),
        **queue_context(request),
        **table_context(request),
        **chart_context(),
    }
    return render(request, "orders_read/dashboard/page.html", context)


@can_see
def figures(request: HttpRequest) -> HttpResponse:
    return render(request, "orders_read/dashboard/_figures.html", figures_context())


@can_see
def queue(request: HttpRequest) -> HttpResponse:
    return render(request, "orders_read/dashboard/_queue.html", queue_context(request))
