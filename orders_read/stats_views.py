"""``GET /stats/summary`` and ``GET /stats/daily``: the dashboard's figures as JSON.

Both read the ``daily_sales`` rows only (``orders_read.stats``): a few hundred small
rows at most, whatever the number of orders.
"""

from __future__ import annotations

import datetime
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.openapi import (
    QUERY_VALIDATION_ERROR,
    REQUEST_ID_REQUEST_HEADER,
    REQUEST_ID_RESPONSE_HEADER,
    api_responses,
)
from orders_read import stats
from orders_read.timestamps import parse_date
from orders_read.views import CanViewDashboard

# The days ``/stats/daily`` gives without a ``from``: the dashboard's chart.
DEFAULT_DAYS = 30


class DateField(serializers.Field):
    """A query date, exactly ``YYYY-MM-DD`` (``timestamps.parse_date``)."""

    def to_internal_value(self, data: Any) -> datetime.date:
        try:
            return parse_date(str(data))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value: datetime.date) -> str:
        return value.isoformat()


class DailyQuery(serializers.Serializer):
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD``: both days included, at most a year apart.

    Either may be left out (or sent empty, the same as left out, as for every query
    parameter): ``to`` is then today (UTC), ``from`` the 30th day up to ``to``.
    """

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword: the fields are named here instead of as attributes.
        return {name: DateField(required=False) for name in ("from", "to")}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        sent = {name: data[name] for name in ("from", "to") if data.get(name, "") != ""}
        return super().to_internal_value(sent)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        until = attrs.get("to") or stats.utc_today()
        since = attrs.get("from") or _days_before(until, DEFAULT_DAYS - 1)
        if until < since:
            raise serializers.ValidationError({"to": ["Must not be before `from`."]})
        if (until - since).days + 1 > stats.MAX_DAILY_RANGE_DAYS:
            raise serializers.ValidationError(
                {"to": [f"At most {stats.MAX_DAILY_RANGE_DAYS} days from `from`."]}
            )
        return {"from": since, "to": until}


def _days_before(day: datetime.date, days: int) -> datetime.date:
    """``day`` minus ``days`` days, or the first day of the calendar."""
    return datetime.date.fromordinal(max(day.toordinal() - days, 1))


class MoneySerializer(serializers.Serializer):
    orders = serializers.IntegerField(help_text="How many orders.")
    revenue_cents = serializers.IntegerField(help_text="Their totals added up, in cents.")


class ByStatusSerializer(serializers.Serializer):
    PENDING = MoneySerializer()
    APPROVED = MoneySerializer()
    CANCELLED = MoneySerializer()


class FiguresSerializer(MoneySerializer):
    by_status = ByStatusSerializer(help_text="The same orders by the status they have now.")


class WindowsSerializer(serializers.Serializer):
    today = FiguresSerializer(help_text="Orders placed today (UTC).")
    last_7_days = FiguresSerializer(help_text="Orders placed in the last 7 UTC days.")
    last_30_days = FiguresSerializer(help_text="Orders placed in the last 30 UTC days.")


class SummarySerializer(serializers.Serializer):
    today = serializers.DateField(help_text="Today in UTC: the last day of every window.")
    as_of = serializers.DateTimeField(
        help_text="The figures include every order event up to this time (now, unless the "
        "read model is behind)."
    )
    windows = WindowsSerializer(help_text="Each window ends today (UTC).")
    all_time = FiguresSerializer(help_text="Every order ever placed.")


class DaySerializer(FiguresSerializer):
    day = serializers.DateField(help_text="The UTC day the orders were placed.")


class DailySerializer(serializers.Serializer):
    days = DaySerializer(many=True, help_text="Every day of the range, days without orders at 0.")


_HEADERS = [REQUEST_ID_REQUEST_HEADER, REQUEST_ID_RESPONSE_HEADER]


class StatsSummaryApi(APIView):
    permission_classes = [IsAuthenticated, CanViewDashboard]

    @extend_schema(
        operation_id="stats_summary",
        summary="Orders and revenue by status: today, 7 and 30 days, all time",
        description="From the `daily_sales` projection. Days are UTC days of placement; an "
        "order counts under the status it has now. Needs `orders_read.view_ordersummary`.",
        tags=["stats"],
        parameters=_HEADERS,
        responses=api_responses({200: SummarySerializer}),
    )
    def get(self, request: Request) -> Response:
        today = stats.utc_today()
        figures = stats.summary(today)
        all_time = figures.pop("all_time")
        return Response(
            {
                "today": today.isoformat(),
                "as_of": stats.as_of().isoformat(),
                "windows": {name: value.as_dict() for name, value in figures.items()},
                "all_time": all_time.as_dict(),
            }
        )


class StatsDailyApi(APIView):
    permission_classes = [IsAuthenticated, CanViewDashboard]

    @extend_schema(
        operation_id="stats_daily",
        summary="Orders and revenue per UTC day",
        description="Each day from `from` to `to` (both included, at most "
        f"{stats.MAX_DAILY_RANGE_DAYS} days), by the day the orders were placed. A date "
        "not exactly `YYYY-MM-DD`, `to` before `from` or a longer range is a 400. Needs "
        "`orders_read.view_ordersummary`.",
        tags=["stats"],
        parameters=[
            OpenApiParameter(
                "from",
                {"type": "string", "format": "date"},
                description=f"The first day (UTC). Default: {DEFAULT_DAYS} days up to `to`.",
            ),
            OpenApiParameter(
                "to",
                {"type": "string", "format": "date"},
                description="The last day (UTC), included. Default: today.",
            ),
            *_HEADERS,
        ],
        responses=api_responses({200: DailySerializer, 400: QUERY_VALIDATION_ERROR}),
    )
    def get(self, request: Request) -> Response:
        query = DailyQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        days = stats.daily(query.validated_data["from"], query.validated_data["to"])
        return Response(
            {"days": [{"day": day.isoformat(), **figures.as_dict()} for day, figures in days]}
        )
